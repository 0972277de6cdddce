from __future__ import annotations

from pathlib import Path

import pytest

from referral_bus.core.runtime import Runtime, load_runtime
from referral_bus.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


@pytest.fixture(scope="session")
def runtime() -> Runtime:
    """The project's own agencies.yaml, topics.yaml, calendar and policy; no broker is ever contacted."""
    return load_runtime(Settings(root=ROOT, topic_prefix="", schema_registry_url=None))
