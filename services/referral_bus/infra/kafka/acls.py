"""The broker's access control lists, generated from topics.yaml (who produces and consumes each
topic) and agencies.yaml (who the agencies are), and applied by ``referral-bus acl apply``.

Least privilege (docs/security.md): an agency may write only its own ingress topic and read only
its own inbox and receipts; each service gets exactly the topics its code reads and
writes; nobody but the brokers and the ``admin`` principal (super users) may create, delete or
reconfigure anything. Whatever no ACL allows, the broker refuses
(``allow.everyone.if.no.acl.found=false``).

Principals are SCRAM user names: an agency's id (``school-almaty``) or ``rb-<service>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from referral_bus.domain.agencies import Directory
from referral_bus.infra.catalogue import SERVICES, STREAM_PROCESSORS, Catalogue

Operation = Literal["READ", "WRITE", "DESCRIBE"]
ResourceKind = Literal["TOPIC", "GROUP", "TRANSACTIONAL_ID"]
Pattern = Literal["LITERAL", "PREFIXED"]


def service_principal(service: str) -> str:
    """The SCRAM user of a service (``router`` → ``rb-router``)."""
    return f"rb-{service}"


@dataclass(frozen=True, order=True)
class Grant:
    """One ALLOW entry: ``principal`` may ``operation`` on the resource."""

    principal: str
    resource: ResourceKind
    name: str
    operation: Operation
    pattern: Pattern = "LITERAL"

    def __str__(self) -> str:
        star = "*" if self.pattern == "PREFIXED" else ""
        return f"User:{self.principal:<34} {self.operation:<8} {self.resource.lower()} {self.name}{star}"


def _who(role: str, owner: str | None, directory: Directory) -> list[str]:
    if role == "admin":
        return []  # a super user (broker_config.BrokerSecurity): allowed everything, no ACL needed
    if role in SERVICES:
        return [service_principal(role)]
    if role == "processor":
        assert owner is not None
        return [service_principal(owner)]
    if role == "agencies":
        return sorted(directory.agencies)
    assert role == "agency" and owner is not None
    if owner in directory.agencies:
        return [owner]
    return sorted(a.id for a in directory.agencies.values() if a.kind.value == owner)  # a topic per kind


def grants(catalogue: Catalogue, directory: Directory) -> list[Grant]:
    """Every ACL the bus needs, sorted; nothing else is allowed."""
    out: set[Grant] = set()
    for spec in catalogue.specs():
        sides: tuple[tuple[tuple[str, ...], Operation], ...] = ((spec.producers, "WRITE"), (spec.consumers, "READ"))
        for roles, operation in sides:
            for role in roles:
                for principal in _who(role, spec.owner, directory):
                    out.add(Grant(principal, "TOPIC", spec.name, operation))
                    out.add(Grant(principal, "TOPIC", spec.name, "DESCRIBE"))
    for processor in STREAM_PROCESSORS:  # the stream processors' consumer groups
        out.add(Grant(service_principal(processor), "GROUP", catalogue.group(processor), "READ"))
    # the read-audit trail's one writer identity (infra/read_audit.py): whoever records a read of a case
    for writer in ("auditor", "gateway"):   # the gateway: the console's and the key service's audited reads
        for operation in ("WRITE", "DESCRIBE"):
            out.add(Grant(service_principal(writer), "TRANSACTIONAL_ID", catalogue.read_audit_writer(), operation))
    for agency in directory.agencies:  # an agency's own inbox consumer groups: "<agency id>-…"
        out.add(Grant(agency, "GROUP", f"{agency}-", "READ", "PREFIXED"))
    return sorted(out)


def principals(directory: Directory) -> list[str]:
    """Every principal the ACLs name: the services and the agencies (not the super users)."""
    return [service_principal(s) for s in SERVICES] + sorted(directory.agencies)


@dataclass
class AclReport:
    created: list[Grant]
    removed: list[str]
    unchanged: int


def apply_acls(admin: object, wanted: Iterable[Grant], managed: Iterable[str]) -> AclReport:
    """Make the broker's ACLs for the ``managed`` principals exactly ``wanted``: create what is
    missing, delete what is no longer generated (e.g. an agency removed from agencies.yaml). ACLs
    of other principals are left alone."""
    from kafka.admin import (
        ACL,
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourcePatternFilter,
        ResourceType,
    )

    def to_acl(g: Grant) -> ACL:
        return ACL(f"User:{g.principal}", "*", ACLOperation[g.operation], ACLPermissionType.ALLOW,
                   ResourcePattern(ResourceType[g.resource], g.name, ACLResourcePatternType[g.pattern]))

    def key(acl: ACL) -> tuple[str, str, str, str, str, str]:
        pattern = acl.resource_pattern
        return (acl.principal, acl.host, acl.operation.name, acl.permission_type.name,
                pattern.resource_type.name, f"{pattern.pattern_type.name}:{pattern.resource_name}")

    wanted = list(wanted)
    wanted_acls = {key(a): a for a in map(to_acl, wanted)}
    managed_users = {f"User:{p}" for p in managed} | {a.principal for a in wanted_acls.values()}
    everything = ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
                           ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))
    existing, error = admin.describe_acls(everything)  # type: ignore[attr-defined]
    if error is not None and error.errno:
        raise RuntimeError(f"the broker refused to list its ACLs: {error}")
    present = {key(a): a for a in existing}
    stale = [a for k, a in present.items() if k not in wanted_acls and a.principal in managed_users]
    missing = [a for k, a in wanted_acls.items() if k not in present]
    if stale:
        admin.delete_acls([ACLFilter(a.principal, a.host, a.operation, a.permission_type, a.resource_pattern)  # type: ignore[attr-defined]
                           for a in stale])
    if missing:
        result = admin.create_acls(missing)  # type: ignore[attr-defined]
        if result.get("failed"):
            raise RuntimeError(f"the broker refused {len(result['failed'])} ACLs, e.g. {result['failed'][:3]}")
    created = [g for g in wanted if key(to_acl(g)) in {key(a) for a in missing}]
    return AclReport(created, [str(key(a)) for a in stale], len(wanted_acls) - len(missing))
