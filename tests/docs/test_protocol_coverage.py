"""docs/protocol-coverage.md names only things that exist, and leaves nothing out (issue 3,
deliverable 5).

Every table in the document has the columns ``Paragraph | Obligation | Event types | Route | Rule |
Test | Notes``. These tests check that each backticked event type is in ``EVENT_TYPES``, each rule id
in ``rule_table.RULES_BY_ID``, each route an ``AgencyKind`` value or one of the named recipients,
each ``path::test_name`` a test function that exists; that every event type and every rule appears
in some row; that every paragraph 4.1–7.19 of Annex B is covered by a row; and that a row without
an event or a test says why in its Notes. Pure: no broker, no imports beyond the contracts and the
rule table.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from referral_bus.contracts import EVENT_TYPES
from referral_bus.domain.agencies import AgencyKind
from referral_bus.domain.deadlines.rule_table import RULES, RULES_BY_ID

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "protocol-coverage.md"

COLUMNS = ("Paragraph", "Obligation (who owes what to whom)", "Event types", "Route", "Rule", "Test", "Notes")
#: Recipients that are not an agency kind of the case's city (see the document's introduction).
ROUTE_WORDS = frozenset({"referrer", "invited members", "service providers", "referring agency",
                        # issue 15: the professionals a care plan names (6.60), the after-care agency (6.75(b))
                        "care plan members", "after-care agency"})
NONE = "—"

#: The numbered paragraphs of Annex B, parts 4–7, as the seed has them: 4.1–4.11, 5.1–5.21,
#: 6.1–6.79, 7.1–7.19. Derived once from the seed's text; ``test_the_paragraph_list_matches_the_seed``
#: re-derives it whenever the seed is at hand (it lives outside this repository, in ../shared/seeds).
LAST_PARAGRAPH = {4: 11, 5: 21, 6: 79, 7: 19}
ANNEX_B = tuple(f"{part}.{n}" for part, last in LAST_PARAGRAPH.items() for n in range(1, last + 1))

_BACKTICKED = re.compile(r"`([^`]+)`")
_PARAGRAPH = re.compile(r"(?<![\d.])([4-7])\.(\d{1,2})(?:\([a-z0-9]+\))*(?:\s*[–-]\s*([4-7])\.(\d{1,2}))?")
_TEST_REF = re.compile(r"^(?P<path>tests/[\w/]+\.py)::(?P<name>\w+)(?:\[(?P<param>[^\]]+)\])?$")


@dataclass(frozen=True)
class Row:
    line: int
    cells: dict[str, str]

    def __getitem__(self, column: str) -> str:
        return self.cells[column]

    @property
    def where(self) -> str:
        return f"protocol-coverage.md:{self.line} ({self.cells['Paragraph']})"


@cache
def rows() -> tuple[Row, ...]:
    """Every data row of every coverage table in the document."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    out: list[Row] = []
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and re.match(r"^\|\s*-{3}", lines[i + 1]):
            header = _cells(lines[i])
            assert tuple(header) == COLUMNS, f"protocol-coverage.md:{i + 1}: table columns {header}"
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                cells = _cells(lines[i])
                assert len(cells) == len(COLUMNS), f"protocol-coverage.md:{i + 1}: {len(cells)} cells, not 7"
                out.append(Row(i + 1, dict(zip(COLUMNS, cells))))
                i += 1
        else:
            i += 1
    return tuple(out)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _items(row: Row, column: str) -> list[str]:
    """A column that holds "—" or a comma-separated list of backticked names: the names."""
    text = row[column]
    if text == NONE:
        return []
    items = [item.strip() for item in text.split(",")]
    bad = [item for item in items if not re.fullmatch(r"`[^`]+`", item)]
    assert not bad, f"{row.where}: {column} must be '{NONE}' or backticked names separated by commas: {bad}"
    return [item.strip("`") for item in items]


def _paragraphs(text: str) -> set[str]:
    """The Annex B paragraph numbers a Paragraph cell names, ranges expanded ("6.35–6.38")."""
    found: set[str] = set()
    for part, number, end_part, end_number in _PARAGRAPH.findall(text):
        first = int(number)
        if end_part:
            assert end_part == part, f"a range across parts: {text!r}"
            found |= {f"{part}.{n}" for n in range(first, int(end_number) + 1)}
        else:
            found.add(f"{part}.{first}")
    return found


@cache
def _functions(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return frozenset(node.name for node in ast.walk(tree)
                     if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)))


def test_the_document_has_a_table_row_per_obligation() -> None:
    assert len(rows()) >= 100
    assert {row["Paragraph"] for row in rows()} >= {"4.8", "6.3", "7.1"}


def test_event_types_exist() -> None:
    unknown = [(row.where, name) for row in rows() for name in _items(row, "Event types") if name not in EVENT_TYPES]
    assert unknown == [], "not in referral_bus.contracts.EVENT_TYPES"


def test_rule_ids_exist() -> None:
    unknown = [(row.where, rule) for row in rows() for rule in _items(row, "Rule") if rule not in RULES_BY_ID]
    assert unknown == [], "not in rule_table.RULES_BY_ID"


def test_routes_are_agency_kinds_or_named_recipients() -> None:
    kinds = {kind.value for kind in AgencyKind}
    bad: list[tuple[str, str]] = []
    for row in rows():
        route = row["Route"]
        if route == "none":
            continue
        for item in (part.strip() for part in route.split(",")):
            if item.startswith("`"):
                ok = item.endswith("`") and item.strip("`") in kinds
            else:
                ok = item in ROUTE_WORDS
            if not ok:
                bad.append((row.where, item))
    assert bad == [], f"a route is 'none' or a list of backticked AgencyKind values and {sorted(ROUTE_WORDS)}"


def test_referenced_tests_exist() -> None:
    missing: list[tuple[str, str]] = []
    for row in rows():
        for ref in _items(row, "Test"):
            match = _TEST_REF.match(ref)
            if match is None:
                missing.append((row.where, f"{ref}: not path::test_name"))
                continue
            path = ROOT / match["path"]
            if not path.is_file():
                missing.append((row.where, f"{ref}: no such file"))
            elif match["name"] not in _functions(path) or not match["name"].startswith("test_"):
                missing.append((row.where, f"{ref}: no test function {match['name']} in {match['path']}"))
            elif match["param"] and match["path"].endswith("test_examples.py") \
                    and not (ROOT / "examples" / f"{match['param']}.yaml").is_file():
                missing.append((row.where, f"{ref}: no examples/{match['param']}.yaml"))
    assert missing == []


def test_every_event_type_is_documented() -> None:
    documented = {name for row in rows() for name in _items(row, "Event types")}
    assert sorted(set(EVENT_TYPES) - documented) == [], "event types no row names"


def test_every_rule_is_documented() -> None:
    documented = {rule for row in rows() for rule in _items(row, "Rule")}
    assert sorted({rule.rule_id for rule in RULES} - documented) == [], "deadline rules no row names"


def test_every_annex_b_paragraph_is_covered() -> None:
    covered = set().union(*(_paragraphs(row["Paragraph"]) for row in rows()))
    missing = [p for p in ANNEX_B if p not in covered]
    assert missing == [], "Annex B paragraphs without a row"
    strays = sorted(covered - set(ANNEX_B))
    assert strays == [], "paragraph numbers that Annex B does not have"


def test_a_row_without_an_event_or_a_test_says_why() -> None:
    silent = [row.where for row in rows()
              if (row["Event types"] == NONE or row["Test"] == NONE) and not row["Notes"].strip()]
    assert silent == []


def test_paragraph_ranges_expand() -> None:
    assert _paragraphs("6.35–6.38") == {"6.35", "6.36", "6.37", "6.38"}
    assert _paragraphs("4.5(b)(ii)") == {"4.5"}
    assert _paragraphs("4.7(a)–(c)") == {"4.7"}
    assert _paragraphs("seed 002, SOP: written notice within 1 day") == set()


def annex_b_paragraphs(seed_text: str) -> list[str]:
    """The paragraph numbers that open a paragraph in Annex B (from "4. IDENTIFYING CABM" up to
    "8. APPENDIX"): "4.1 Whenever …", "- 4.7** A CABM …" — never a cross-reference inside a sentence."""
    start = re.search(r"^4\.\s+IDENTIFYING CABM", seed_text, re.M)
    end = re.search(r"^8\.\s+APPENDIX", seed_text, re.M)
    assert start and end and start.start() < end.start(), "Annex B parts 4–7 not found in the seed"
    annex = seed_text[start.start():end.start()]
    return [f"{part}.{n}" for part, n in
            re.findall(r"^\s*(?:-\s*)?(?:\*\*)?([4-7])\.(\d{1,2})(?:\*\*)?\s", annex, re.M)]


def _seed() -> Path | None:
    for folder in (ROOT.parent / "shared" / "seeds", ROOT / "shared" / "seeds"):
        found = sorted(folder.glob("001_*.txt")) if folder.is_dir() else []
        if found:
            return found[0]
    return None


def test_the_paragraph_list_matches_the_seed() -> None:
    seed = _seed()
    if seed is None:
        pytest.skip("seed 001 is not next to this checkout (../shared/seeds); ANNEX_B stands as derived")
    found = annex_b_paragraphs(seed.read_text(encoding="utf-8"))
    assert len(found) == len(set(found)), "a paragraph number opens two paragraphs"
    assert sorted(found, key=_key) == list(ANNEX_B)


def _key(paragraph: str) -> tuple[int, int]:
    part, number = paragraph.split(".")
    return int(part), int(number)
