"""The layers stay apart: contracts/ and domain/ are pure — they import nothing of Kafka, Avro,
SQL, the network or the bus's infrastructure and services — so they can be unit-tested, simulated
and replayed. Checked on the source, not by convention."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "services" / "referral_bus"
PURE = ("contracts", "domain")
#: What pure code may import besides the standard library and itself.
#: (cryptography: signatures are computation on bytes, no I/O — domain/signatures.py; orjson:
#: canonical JSON, a pure encoder — domain/canonical.py)
ALLOWED_THIRD_PARTY = {"pydantic", "holidays", "dateutil", "cryptography", "orjson"}
FORBIDDEN_OWN = ("referral_bus.infra", "referral_bus.router", "referral_bus.sla", "referral_bus.projections",
                 "referral_bus.sdk", "referral_bus.auditor", "referral_bus.simulate", "referral_bus.cli",
                 "referral_bus.demo", "referral_bus.deployment", "referral_bus.interop")


def imports(path: Path) -> list[str]:
    """Every module ``path`` imports, relative imports resolved to absolute names."""
    package = ["referral_bus", *path.relative_to(PACKAGE).parent.parts]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            out.append(".".join(base + ([node.module] if node.module else [])))
    return out


def test_contracts_and_domain_import_only_pure_code() -> None:
    import sys
    stdlib = sys.stdlib_module_names
    problems = []
    for layer in PURE:
        for path in (PACKAGE / layer).rglob("*.py"):
            for module in imports(path):
                top = module.split(".")[0]
                if module.startswith(FORBIDDEN_OWN) or (
                        top not in stdlib and top != "referral_bus" and top not in ALLOWED_THIRD_PARTY):
                    problems.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert problems == []


def test_contracts_do_not_depend_on_the_domain() -> None:
    problems = [f"{p.relative_to(PACKAGE)} imports {m}" for p in (PACKAGE / "contracts").rglob("*.py")
                for m in imports(p) if m.startswith("referral_bus.domain")]
    assert problems == []
