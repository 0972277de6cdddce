"""The generated ACLs (no broker): least privilege as docs/security.md states it."""

from __future__ import annotations

from referral_bus.infra.kafka.acls import Grant, grants, principals, service_principal
from referral_bus.infra.runtime import Runtime


def rights(runtime: Runtime, principal: str, operation: str) -> set[str]:
    return {g.name for g in grants(runtime.catalogue, runtime.directory)
            if g.principal == principal and g.operation == operation and g.resource == "TOPIC"}


def test_an_agency_writes_only_its_own_ingress_and_reads_only_its_inbox_and_receipts(runtime: Runtime) -> None:
    cat = runtime.catalogue
    for agency in runtime.directory.agencies:
        assert rights(runtime, agency, "WRITE") == {cat.ingress(agency)}, agency
        # and the public signing keys, to check anyone's signature
        assert rights(runtime, agency, "READ") == {cat.inbox(agency), cat.receipts(agency),
                                                   cat.name("signing_keys")}, agency


def test_only_the_administrator_enrols_or_revokes_signing_keys(runtime: Runtime) -> None:
    topic = runtime.catalogue.name("signing_keys")
    assert not [g for g in grants(runtime.catalogue, runtime.directory) if g.name == topic and g.operation == "WRITE"]
    assert rights(runtime, service_principal("router"), "READ") >= {topic}


def test_nobody_but_the_router_writes_the_case_log_or_receipts(runtime: Runtime) -> None:
    cat = runtime.catalogue
    all_grants = grants(runtime.catalogue, runtime.directory)
    for topic in (cat.name("case_log"), cat.receipts("school-almaty"), cat.name("dead_letter")):
        assert {g.principal for g in all_grants if g.name == topic and g.operation == "WRITE"} == {
            service_principal("router")}, topic
    for topic in (cat.name("sla"), cat.name("escalations")):
        assert {g.principal for g in all_grants if g.name == topic and g.operation == "WRITE"} == {
            service_principal("sla")}, topic


def test_read_only_services_write_nothing(runtime: Runtime) -> None:
    assert rights(runtime, service_principal("operations"), "WRITE") == set()
    # the auditor writes nothing but the trail of its own reads (audited reads, docs/security.md)
    assert rights(runtime, service_principal("auditor"), "WRITE") == {runtime.catalogue.name("read_audit")}
    # the projector writes only what it sets aside (infra/quarantine.py)
    assert rights(runtime, service_principal("projections"), "WRITE") == {runtime.catalogue.name("quarantine")}
    assert rights(runtime, service_principal("operations"), "READ") == {runtime.catalogue.name("escalations"),
                                                                        runtime.catalogue.name("dead_letter"),
                                                                        runtime.catalogue.name("quarantine")}


def test_inboxes_are_read_by_their_agency_and_written_by_the_services_only(runtime: Runtime) -> None:
    inbox = runtime.catalogue.inbox("cam-almaty")
    all_grants = grants(runtime.catalogue, runtime.directory)
    readers = {g.principal for g in all_grants if g.name == inbox and g.operation == "READ"}
    writers = {g.principal for g in all_grants if g.name == inbox and g.operation == "WRITE"}
    assert readers == {"cam-almaty", service_principal("auditor"), service_principal("projections")}
    assert writers == {service_principal("router"), service_principal("sla")}


def test_consumer_groups_are_each_principals_own(runtime: Runtime) -> None:
    groups = [g for g in grants(runtime.catalogue, runtime.directory) if g.resource == "GROUP"]
    assert Grant(service_principal("router"), "GROUP", runtime.catalogue.group("router"), "READ") in groups
    assert Grant("school-almaty", "GROUP", "school-almaty-", "READ", "PREFIXED") in groups
    assert all(g.pattern == "LITERAL" or g.name.endswith("-") for g in groups)  # no prefix of another agency's id


def test_every_topic_has_a_reader_and_a_writer_and_every_principal_a_right(runtime: Runtime) -> None:
    all_grants = grants(runtime.catalogue, runtime.directory)
    for spec in runtime.catalogue.specs():
        ops = {g.operation for g in all_grants if g.name == spec.name}
        written_by_the_administrator_only = spec.producers == ("admin",)
        assert {"READ", "DESCRIBE"} <= ops and ("WRITE" in ops) != written_by_the_administrator_only, spec.name
    assert {g.principal for g in all_grants} == set(principals(runtime.directory))
    ingress = runtime.catalogue.ingress("police-juvenile-almaty")  # neighbours of one kind do not share one
    assert {g.principal for g in all_grants if g.name == ingress and g.operation == "WRITE"} == {
        "police-juvenile-almaty"}


def test_only_the_auditor_and_the_gateway_write_and_read_the_read_audit_trail(runtime: Runtime) -> None:
    """The auditor's commands and the gateway (console case reads, key service unwraps) record reads;
    no agency and no other service may read or write the trail."""
    recorders = (service_principal("auditor"), service_principal("gateway"))
    trail = runtime.catalogue.name("read_audit")
    on_trail = {(g.principal, g.operation) for g in grants(runtime.catalogue, runtime.directory) if g.name == trail}
    assert on_trail == {(who, op) for who in recorders for op in ("READ", "WRITE", "DESCRIBE")}
    writer = [g for g in grants(runtime.catalogue, runtime.directory) if g.resource == "TRANSACTIONAL_ID"]
    assert {(g.principal, g.name, g.operation) for g in writer} == {
        (who, runtime.catalogue.read_audit_writer(), op) for who in recorders for op in ("WRITE", "DESCRIBE")}


def test_the_gateways_own_principal_writes_nothing_but_the_trail(runtime: Runtime) -> None:
    own = {(g.name, g.operation) for g in grants(runtime.catalogue, runtime.directory)
           if g.principal == service_principal("gateway") and g.resource == "TOPIC"}
    assert {name for name, op in own if op == "WRITE"} == {runtime.catalogue.name("read_audit")}
    assert {name for name, op in own if op == "READ"} == {runtime.catalogue.name("read_audit"),
                                                          runtime.catalogue.name("case_log")}
