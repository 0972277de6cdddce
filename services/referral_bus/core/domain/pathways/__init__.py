"""The protocol's pathways as steps (check, fold, route) per event type. The core of Part 4 and
6.3–6.39 lives in ``case.py`` and ``routing.py``; these modules carry everything after it."""

from __future__ import annotations

from . import care, justice, ngo, removal_and_crime, violence
from .base import Step

STEPS: dict[str, Step] = {**removal_and_crime.STEPS, **care.STEPS, **ngo.STEPS, **violence.STEPS, **justice.STEPS}

__all__ = ["STEPS", "Step"]
