"""The demonstration that ``referral-bus up --demo`` runs (README: the main job)."""
