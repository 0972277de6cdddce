"""``referral-bus simulate``: a scenario on a simulated clock, no broker."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from referral_bus.infra.logging import configure_logging

if TYPE_CHECKING:
    pass


def cmd_simulate(args: argparse.Namespace) -> int:
    """A scenario through router and deadline code on a simulated clock, no broker (issue 3)."""
    from referral_bus.simulate.command import run_command
    configure_logging(args.log_level if args.verbose else "ERROR")  # rejections are in the output already
    return run_command(args.file, until=args.until, fmt=args.format, check_expectations=args.check)


def register(sub: Any) -> None:
    p = sub.add_parser("simulate", help="run a YAML scenario through validation, routing and deadlines on a "
                                        "simulated clock, without a broker; prints JSON lines")
    p.add_argument("file", help="scenario YAML (see examples/)")
    p.add_argument("--until", help="run the clock to this time: offset from the scenario's start (+72h, +5wd) "
                                   "or ISO-8601 with a zone")
    p.add_argument("--format", choices=["json", "text"], default="json")
    p.add_argument("--check", action="store_true", help="also check the scenario's expect: block (exit 1 if not met)")
    p.add_argument("--verbose", action="store_true", help="show the router's and engine's logs on stderr")
    p.set_defaults(func=cmd_simulate)
