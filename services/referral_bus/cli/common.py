"""What every command group needs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from referral_bus.infra.runtime import Runtime


def runtime() -> Runtime:
    """Settings from the environment, loaded when a command needs them (``--help`` stays fast)."""
    from referral_bus.infra.runtime import load_runtime
    return load_runtime()
