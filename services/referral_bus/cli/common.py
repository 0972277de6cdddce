"""What every command group needs: the runtime, argument types that explain themselves, and the
exit codes every command keeps (README, "Command line").

Exit codes: 0 done; 1 done, and what was checked is not in order (verify found problems, a case
has no events, a service is down, an archive was refused); 2 the command line or a setting is
wrong (the message names it); 3 a service the command needs cannot be reached (the broker, the
read-model database); 4 a service stopped because its stores and the log disagree (the message
names the recovery command; ``up`` does not restart it)."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TYPE_CHECKING

from referral_bus.infra.supervisor import EXIT_NEEDS_OPERATOR

if TYPE_CHECKING:
    from referral_bus.infra.runtime import Runtime

EXIT_OK, EXIT_FOUND, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
#: the stores and the log disagree: recovery needs the operator (infra/supervisor.py does not restart it)
EXIT_DIVERGED = EXIT_NEEDS_OPERATOR
ZONED_EXAMPLE = "2026-11-22T10:00:00+05:00"


def runtime() -> Runtime:
    """Settings from the environment, loaded when a command needs them (``--help`` stays fast)."""
    from referral_bus.infra.runtime import load_runtime
    return load_runtime()


def zoned_time(text: str) -> datetime:
    """argparse type: an ISO-8601 time with its zone; the error shows the shape wanted."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO-8601 time; give one with its zone, e.g. "
                                         f"{ZONED_EXAMPLE}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone; e.g. {value.isoformat()}+05:00 (Almaty)")
    return value


def recorded_or_refused(runtime: Runtime, *, case_id: str, tool: str, purpose: str, reader: str | None,
                        query: str | None, refused: str) -> int | None:
    """Record an access to ``case_id`` on the read-audit trail first; ``None`` when recorded (go on),
    else the exit status after ``refused: <refused> could not be recorded …`` — fail closed: what
    the command would have shown or done does not happen when it cannot be recorded."""
    import sys

    import pydantic

    from referral_bus.infra.read_audit import ReadNotRecorded, record_read
    try:
        record_read(runtime, case_id=case_id, tool=tool, purpose=purpose, query=query, reader=reader)
    except ReadNotRecorded as exc:
        print(f"refused: {refused} could not be recorded on the read-audit trail "
              f"({runtime.catalogue.name('read_audit')}): {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        print(f"error: {'.'.join(map(str, first['loc']))}: {first['msg']}", file=sys.stderr)
        return EXIT_USAGE
    return None
