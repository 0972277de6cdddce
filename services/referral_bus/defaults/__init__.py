"""The bus's configuration files as shipped inside the wheel, for installs outside a checkout.

The entries beside this file (topics.yaml, agencies.yaml, calendar.yaml, policy.yaml, schemas/) are
symbolic links to the repository root, which stays the single source; the wheel build copies their
contents (pyproject.toml, ``[tool.setuptools.package-data]``). ``infra.settings.project_root`` uses
this folder only when neither REFERRAL_BUS_HOME nor a checkout provides the files.
"""
