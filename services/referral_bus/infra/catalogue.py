"""The topic catalogue (topics.yaml): validated on load with errors naming line and field, and
expanded over agency kinds and the agency directory. Nothing else names a topic."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from referral_bus.domain.agencies import AgencyKind, Directory
from referral_bus.infra.yaml_lines import line_of, load_with_lines

_TOPIC_FIELDS = {"id", "name", "per", "key", "partitions", "replication_factor", "retention_ms", "config",
                 "schemas", "producers", "consumers", "description"}
_REQUIRED = ("id", "name", "key", "retention_ms", "schemas", "producers", "consumers", "description")
_CO_PARTITIONED = ("ingress", "case_log")
#: The Faust apps (``referral-bus-<name>``), for topics declared ``per: stream_processor``.
STREAM_PROCESSORS = ("router", "sla")
_PER = {"agency_kind": "{kind}", "agency": "{agency}", "stream_processor": "{processor}"}
#: Who may write or read a topic (``producers``/``consumers``); the broker's ACLs come from them.
SERVICES = ("router", "sla", "projections", "auditor", "operations", "gateway")
#: "admin" is the bus administrator, a broker super user: no ACL is generated for it.
ROLES = (*SERVICES, "agency", "agencies", "processor", "admin")


class CatalogueError(ValueError):
    pass


@dataclass(frozen=True)
class TopicSpec:
    topic_id: str
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)
    key: str = "case_id"
    #: what the topic was expanded for (topics.yaml ``per``): an agency id, an agency kind, a processor
    owner: str | None = None
    #: topics.yaml's ``producers`` and ``consumers`` (roles; ``infra/kafka/acls.py``)
    producers: tuple[str, ...] = ()
    consumers: tuple[str, ...] = ()


class Catalogue:
    def __init__(self, entries: list[dict[str, Any]], defaults: dict[str, Any], directory: Directory,
                 prefix: str = "", source: str = "topics.yaml") -> None:
        self.entries = {e["id"]: e for e in entries}
        self.defaults = defaults
        self.directory = directory
        self.prefix = prefix
        self.source = source

    @classmethod
    def load(cls, path: Path, directory: Directory, prefix: str = "") -> Catalogue:
        try:
            data = load_with_lines(path.read_text())
        except yaml.YAMLError as exc:
            raise CatalogueError(f"{path.name}: not valid YAML: {exc}") from None
        return cls.from_mapping(data, directory, prefix, path.name)

    @classmethod
    def from_mapping(cls, data: Any, directory: Directory, prefix: str = "", source: str = "topics.yaml") -> Catalogue:
        def fail(line: Any, where: str, message: str) -> CatalogueError:
            return CatalogueError(f"{source} line {line}, {where}: {message}")

        if not isinstance(data, dict) or not isinstance(data.get("topics"), list):
            raise CatalogueError(f"{source}: expected a mapping with a 'topics' list")
        defaults = dict(data.get("defaults") or {})
        seen: set[str] = set()
        entries = []
        for i, entry in enumerate(data["topics"]):
            if not isinstance(entry, dict):
                raise CatalogueError(f"{source}: topics[{i}] must be a mapping")
            line = line_of(entry)
            for name in _REQUIRED:
                if name not in entry:
                    raise fail(line, f"topics[{i}]", f"missing required field '{name}'")
            unknown = set(entry) - _TOPIC_FIELDS
            if unknown:
                raise fail(line, f"topics[{i}] ({entry['id']})", f"unknown field(s) {sorted(unknown)}")
            if entry["id"] in seen:
                raise fail(line, f"topics[{i}].id", f"duplicate id {entry['id']!r}")
            seen.add(entry["id"])
            per = entry.get("per")
            if per is not None and per not in _PER:
                raise fail(line, f"topics[{i}].per", f"must be one of {sorted(_PER)}, not {per!r}")
            placeholder = _PER.get(per or "")
            if placeholder and placeholder not in entry["name"]:
                raise fail(line, f"topics[{i}].name", f"a topic per {per} needs {placeholder} in its name")
            for number in ("partitions", "replication_factor"):
                value = entry.get(number, defaults.get(number))
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise fail(line, f"topics[{i}].{number}", f"must be a positive integer, got {value!r}")
            for side in ("producers", "consumers"):
                roles = entry.get(side)
                if not isinstance(roles, list) or not roles or set(map(str, roles)) - set(ROLES):
                    raise fail(line, f"topics[{i}].{side}", f"must be a list of {', '.join(ROLES)}; got {roles!r}")
                if ("agency" in roles and per not in ("agency", "agency_kind")) or (
                        "processor" in roles and per != "stream_processor"):
                    raise fail(line, f"topics[{i}].{side}", "'agency' needs a topic per agency or agency kind, "
                               "'processor' one per stream processor")
            retention = entry["retention_ms"]
            if not isinstance(retention, int) or (retention < 1 and retention != -1):
                raise fail(line, f"topics[{i}].retention_ms",
                           f"must be -1 (forever) or a positive integer, got {retention!r}")
            entries.append(entry)
        partitions = {t: next((e.get("partitions", defaults.get("partitions")) for e in entries if e["id"] == t), None)
                      for t in _CO_PARTITIONED}
        if len(set(partitions.values())) != 1:
            raise CatalogueError(f"{source}: {' and '.join(_CO_PARTITIONED)} must have the same partition count "
                                 f"(one router owns a case end to end), got {partitions}")
        return cls(entries, defaults, directory, prefix, source)

    # -- names ---------------------------------------------------------------------------------
    def name(self, topic_id: str, **fill: str) -> str:
        entry = self.entries[topic_id]
        return self.prefix + str(entry["name"]).format(**fill)

    def ingress(self, agency_id: str) -> str:
        """The agency's own ingress topic: only it may write there (ACLs)."""
        return self.name("ingress", agency=agency_id)

    def receipts(self, agency_id: str) -> str:
        """Where the router answers the agency's submissions: only it may read there (ACLs)."""
        return self.name("receipts", agency=agency_id)

    def receipt_topics(self) -> list[str]:
        return [self.receipts(a) for a in sorted(self.directory.agencies)]

    def names(self, topic_id: str) -> list[str]:
        """Every concrete topic of an entry (all agencies' for a topic per agency)."""
        return [spec.name for spec in self.specs() if spec.topic_id == topic_id]

    def inbox(self, agency_id: str) -> str:
        return self.name("inbox", agency=agency_id)

    def group(self, processor: str) -> str:
        """The consumer group (Faust app id) of a stream processor (``router``, ``sla``)."""
        return f"{self.prefix}referral-bus-{processor}"

    def read_audit_writer(self) -> str:
        """The transactional id every writer of the read-audit trail uses (``infra/read_audit.py``):
        a writer that starts fences the one before it, so the chain never forks."""
        return f"{self.prefix}referral-bus-read-audit"

    def ingress_topics(self) -> dict[str, str]:
        """Ingress topic → the agency whose it is."""
        return {self.ingress(a): a for a in sorted(self.directory.agencies)}

    def partitions(self, topic_id: str) -> int:
        return int(self.entries[topic_id].get("partitions", self.defaults["partitions"]))

    def specs(self) -> list[TopicSpec]:
        """Every concrete topic, expanded over agency kinds and the directory."""
        out = []
        for entry in self.entries.values():
            per = entry.get("per")
            names: list[tuple[str, str | None]]
            if per == "agency_kind":
                names = [(self.name(entry["id"], kind=k.value), k.value) for k in AgencyKind]
            elif per == "agency":
                names = [(self.name(entry["id"], agency=a), a) for a in sorted(self.directory.agencies)]
            elif per == "stream_processor":
                names = [(self.name(entry["id"], processor=p), p) for p in STREAM_PROCESSORS]
            else:
                names = [(self.name(entry["id"]), None)]
            config = {**{k: str(v) for k, v in (self.defaults.get("config") or {}).items()},
                      **{k: str(v) for k, v in (entry.get("config") or {}).items()},
                      "retention.ms": str(entry["retention_ms"]), "cleanup.policy": "delete"}
            for name, owner in names:
                out.append(TopicSpec(entry["id"], name, self.partitions(entry["id"]),
                                     int(entry.get("replication_factor", self.defaults["replication_factor"])),
                                     config, entry["key"], owner, tuple(entry["producers"]),
                                     tuple(entry["consumers"])))
        return out
