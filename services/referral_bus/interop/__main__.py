"""``python -m referral_bus.interop write | check``: regenerate the contract files of a checkout
(docs/asyncapi.yaml, schemas/producers.json, schemas/reason-codes.json, and the SDKs' test vectors
sdks/test-vectors/vectors.json) or say which are stale (exit 1)."""

from __future__ import annotations

import argparse
import sys

from referral_bus.infra.runtime import load_runtime
from referral_bus.infra.settings import project_root
from referral_bus.interop.files import stale, write
from referral_bus.interop.vectors import stale_vectors, write_vectors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m referral_bus.interop", description=__doc__)
    parser.add_argument("action", choices=("write", "check"))
    args = parser.parse_args(argv)
    runtime, root = load_runtime(), project_root()
    if args.action == "write":
        for path in [*write(runtime, root), *write_vectors(runtime, root)]:
            print(f"wrote {path.relative_to(root)}")
        return 0
    problems = [*stale(runtime, root), *stale_vectors(runtime, root)]
    for path in problems:
        print(f"{path.relative_to(root)} is stale: run `python -m referral_bus.interop write`", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
