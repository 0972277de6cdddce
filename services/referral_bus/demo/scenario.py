"""Emergency removals in Almaty (Annex B 4.7–4.8): one inspector reports after 3 hours (an
escalation appears), one in time (the deadline is met); the routing of 4.5 and a rejection; and
seed 002's SOP for medical staff: violence suspected 2 hours ago, the 1-hour evaluation recorded
late and the written notice to six bodies in time. All people here are fictional; case ids are
random per run."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from referral_bus.auditor.history import rebuild_case_sync
from referral_bus.auditor.tail import follow
from referral_bus.contracts.base import City, PersonalData
from referral_bus.contracts.events import (
    EmergencyRemoval,
    ReferralKind,
    ReferralMade,
    RemovalOutcomeReported,
)
from referral_bus.contracts.violence_events import (
    MedicalWrittenNoticeSent,
    MultidisciplinaryEvaluationCompleted,
    ViolenceSuspectedByMedicalStaff,
)
from referral_bus.domain.rejections import cite
from referral_bus.infra.local_time import shown
from referral_bus.infra.read_audit import ReadNotRecorded, record_read
from referral_bus.infra.runtime import Runtime
from referral_bus.sdk import AgencyClient, PublishError


def run_demo(runtime: Runtime, say: Callable[[str], None] = print,
             connect: Callable[[str], Runtime] | None = None) -> dict[str, Any]:
    run = secrets.token_hex(3).upper()
    late_case, timely_case, referral_case = f"DEMO-ALA-{run}-1", f"DEMO-ALA-{run}-2", f"DEMO-ALA-{run}-3"
    violence_case = f"DEMO-ALA-{run}-4"
    now = datetime.now(UTC)

    def as_agency(agency: str) -> Runtime:
        return connect(agency) if connect is not None else runtime

    police = AgencyClient("police-juvenile-almaty", actor_id="inspector-demo-1", actor_role="juvenile_inspector",
                          runtime=as_agency("police-juvenile-almaty"))
    school = AgencyClient("school-almaty", actor_id="teacher-demo-1", runtime=as_agency("school-almaty"))
    health = AgencyClient("health-almaty", actor_id="doctor-demo-1", runtime=as_agency("health-almaty"))
    fictional = PersonalData(child_name="Fictional Child", narrative="demonstration only")

    def publish(client: AgencyClient, event: Any, label: str) -> Any:
        receipt = client.publish(event, wait_for_receipt=True, timeout=90)
        assert receipt is not None  # asked for
        detail = f"sequence {receipt.sequence}" if receipt.sequence else receipt.reason
        say(f"  {label:<58} -> {receipt.status.value} ({detail})")
        return receipt

    say("\n== Case 1: removal at T-3h30, the inspector's report under 4.8 arrives now (late) ==")
    publish(police, police.event(EmergencyRemoval, case_id=late_case, occurred_at=now - timedelta(hours=3, minutes=30),
                                 city=City.ALMATY, child_age_years=9, child_removed=True,
                                 cam_social_worker_present=False, personal_data=fictional),
            "EmergencyRemoval (no CAM Social Worker present)")
    publish(police, police.event(RemovalOutcomeReported, case_id=late_case, child_removed=True,
                                 placed_in_temporary_care=True, referred_to_cam=True),
            "RemovalOutcomeReported (3h30 after the removal)")

    say("\n== Case 2: removal at T-1h, report now (in time) ==")
    publish(police, police.event(EmergencyRemoval, case_id=timely_case, occurred_at=now - timedelta(hours=1),
                                 city=City.ALMATY, child_age_years=12, child_removed=True,
                                 cam_social_worker_present=False),
            "EmergencyRemoval (no CAM Social Worker present)")
    publish(police, police.event(RemovalOutcomeReported, case_id=timely_case, child_removed=True,
                                 placed_in_temporary_care=True, referred_to_cam=True),
            "RemovalOutcomeReported (1h after the removal)")

    say("\n== Case 3: a school refers a 7-year-old (4.5(b)): CAM Almaty + Guardianship notified ==")
    publish(school, school.event(ReferralMade, case_id=referral_case, referral_kind=ReferralKind.CHILD_PROTECTION,
                                 city=City.ALMATY, child_age_years=7), "ReferralMade (child protection)")
    say("  and tries to report a removal outcome it does not own:")
    try:
        school.publish(school.event(RemovalOutcomeReported, case_id=referral_case, child_removed=False,
                                    placed_in_temporary_care=False, referred_to_cam=False))
    except PublishError as exc:
        say(f"  refused by the SDK before sending: {exc}")

    say("\n== Case 4 (seed 002 SOP): violence suspected 2 h ago; evaluation (due in 1 h) and written notice now ==")
    publish(health, health.event(ViolenceSuspectedByMedicalStaff, case_id=violence_case,
                                 occurred_at=now - timedelta(hours=2), city=City.ALMATY, child_age_years=5),
            "ViolenceSuspectedByMedicalStaff (police told at once)")
    publish(health, health.event(MultidisciplinaryEvaluationCompleted, case_id=violence_case, violence_confirmed=True),
            "MultidisciplinaryEvaluationCompleted (1 h late)")
    publish(health, health.event(MedicalWrittenNoticeSent, case_id=violence_case),
            "MedicalWrittenNoticeSent (police, Guardianship, Commission, …)")

    say("\n== Waiting for the SLA processor's escalation ==")
    escalation: Any = None
    deadline = time.monotonic() + 60
    while escalation is None and time.monotonic() < deadline:
        for record in follow(runtime, from_beginning=True, idle_timeout=2):
            if getattr(record, "case_id", None) == late_case and getattr(record, "rule_id", "").startswith("4.8"):
                escalation = record
                break
    if escalation is not None:
        say(f"  EscalationRaised {escalation.escalation_id} rule {escalation.rule_id} ({cite(escalation.paragraph)})"
            f" -> {escalation.escalated_to_agency_id}")
    else:
        say("  NO ESCALATION within 60 s — check the SLA processor's log")

    time.sleep(2)  # let the SLA records of case 2 land
    results: dict[str, Any] = {"escalation": escalation}
    for case_id in (late_case, timely_case, referral_case, violence_case):
        try:   # the read-back is a read of the case like any other: recorded first (issue 11, audited reads)
            record_read(runtime, case_id=case_id, tool="demo", purpose="demonstration read-back", reader="demo")
        except ReadNotRecorded as exc:
            say(f"\n-- history of {case_id} not shown: the read could not be recorded ({exc}) --")
            continue
        history = rebuild_case_sync(runtime, case_id)
        results[case_id] = history
        say(f"\n-- history of {case_id} (chain {'OK' if not history.chain_problems else history.chain_problems}) --")
        for row in history.timeline():
            if row["kind"] == "event":
                say(f"  {shown(row['at'])}  #{row['sequence']} {row['type']:<26} by {row['producer']}")
            else:
                f = row["fields"]
                extra = f" late by {f['lateness_seconds']} s" if "lateness_seconds" in f else ""
                say(f"  {shown(row['at'])}  {row['type']:<29} {f.get('rule_id')} ({cite(str(f.get('paragraph')))})"
                    f"{extra}")
    police.close()
    school.close()
    health.close()
    results["cases"] = (late_case, timely_case, referral_case, violence_case)
    return results
