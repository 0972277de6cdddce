"""topics.yaml: validated with errors naming line and field; expanded over kinds and agencies."""

from __future__ import annotations

from pathlib import Path

import pytest

from referral_bus.infra.catalogue import Catalogue, CatalogueError
from referral_bus.infra.runtime import load_runtime
from referral_bus.infra.settings import Settings


def test_repository_catalogue_expands_to_every_topic() -> None:
    runtime = load_runtime(Settings(topic_prefix="x."))
    names = {s.name for s in runtime.catalogue.specs()}
    assert {"x.rb.case-log", "x.rb.inbox.cam-almaty", "x.rb.ingress.police-juvenile-almaty",
            "x.rb.receipts.school-almaty"} <= names
    # per agency: ingress, inbox, receipts; then case log, dead letters, sla, escalations, signing keys,
    # checkpoints, quarantine, read audit; 2 Faust topics
    assert len(names) == 3 * len(runtime.directory.agencies) + 8 + 2


def test_faust_internal_topics_are_declared_with_the_names_faust_uses() -> None:
    """Brokers run with auto.create.topics.enable=false: each stream processor's leader-election
    topic (Faust's LeaderAssignor: '<app id>-__assignor-__leader') must come from topics.yaml."""
    from referral_bus.router.app import APP_ID as ROUTER
    from referral_bus.sla.app import APP_ID as SLA
    runtime = load_runtime(Settings(topic_prefix="x."))
    leaders = {s.name: s for s in runtime.catalogue.specs() if s.topic_id == "faust_leader"}
    assert set(leaders) == {f"x.{ROUTER}-__assignor-__leader", f"x.{SLA}-__assignor-__leader"}
    assert all(s.partitions == 1 for s in leaders.values())
    assert (runtime.catalogue.group("router"), runtime.catalogue.group("sla")) == (f"x.{ROUTER}", f"x.{SLA}")
    case_log = next(s for s in runtime.catalogue.specs() if s.topic_id == "case_log")
    assert case_log.config["retention.ms"] == "-1" and case_log.key == "case_id"


def load(tmp_path: Path, text: str) -> Catalogue:
    path = tmp_path / "topics.yaml"
    path.write_text(text)
    return Catalogue.load(path, load_runtime().directory)


GOOD = """defaults: {partitions: 3, replication_factor: 1}
topics:
  - id: ingress
    name: rb.ingress.{kind}
    per: agency_kind
    key: case_id
    retention_ms: 1000
    schemas: [case-events]
    description: x
    producers: [agency]
    consumers: [router]
  - id: case_log
    name: rb.case-log
    key: case_id
    retention_ms: -1
    schemas: [case-events]
    description: y
    producers: [router]
    consumers: [router, auditor]
"""


def test_valid_file_loads(tmp_path: Path) -> None:
    assert load(tmp_path, GOOD).name("case_log") == "rb.case-log"


@pytest.mark.parametrize("edit, message", [
    (("    retention_ms: -1\n", "    retention_ms: -5\n"), r"line 12, topics\[1\]\.retention_ms: must be -1"),
    (("    description: y\n", ""), r"line 12, topics\[1\]: missing required field 'description'"),
    (("    name: rb.ingress.{kind}\n", "    name: rb.ingress\n"),
     r"line 3, topics\[0\]\.name: a topic per agency_kind needs \{kind\}"),
    (("    key: case_id\n    retention_ms: -1\n", "    key: case_id\n    partitions: 6\n    retention_ms: -1\n"),
     "same partition count"),
    (("    description: y\n", "    description: y\n    colour: red\n"), r"unknown field\(s\) \['colour'\]"),
    (("    consumers: [router, auditor]\n", "    consumers: [router, everyone]\n"),
     r"topics\[1\]\.consumers: must be a list of router, sla"),
    (("    producers: [router]\n", "    producers: [agency]\n"), r"'agency' needs a topic per agency"),
    (("    partitions: 3", "    partitions: 3"), None),
])
def test_errors_name_line_and_field(tmp_path: Path, edit: tuple[str, str], message: str | None) -> None:
    text = GOOD.replace(*edit, 1)
    if message is None:
        load(tmp_path, text)
        return
    with pytest.raises(CatalogueError, match=message):
        load(tmp_path, text)


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="line 2"):
        load(tmp_path, "topics:\n  - id: x: y\n")
