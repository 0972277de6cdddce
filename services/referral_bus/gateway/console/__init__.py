"""The operations console (issue 14, item 2), served by the gateway: a page (``static/``, plain JS
modules and inline SVG, no build step, nothing from the internet) over a JSON read API under
``/v1/ops`` from the read models — live escalations and open deadlines, compliance figures, a
deadline's explanation and a case's timeline as of a moment. Acknowledging goes through the
gateway's own ``POST /v1/events`` as the logged-in agency, so the router decides (docs/console.md).

Case-level reads (explain, timeline) are audited reads: a purpose is required and a ``CaseRead``
(tool ``console``) is committed on rb.read-audit before anything is read; when it cannot be, the
case is not shown (fail closed, ``infra/read_audit.py``).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError

from referral_bus.domain.deadlines.rule_table import RULES_BY_ID
from referral_bus.gateway.console import views
from referral_bus.gateway.console.views import STAFF, Filters, Viewer
from referral_bus.gateway.errors import GatewayError, Problem, responses
from referral_bus.infra.local_time import ALMATY
from referral_bus.infra.runtime import Runtime

STATIC = Path(__file__).parent / "static"
TOOL = "console"
#: A staff password the brokers accepted is trusted this long (as the gateway does for agencies).
STAFF_VERIFIED_FOR_SECONDS = 60.0
#: H2's gateway dependency: (request, HTTP Basic credentials) → a session with ``principal`` and
#: ``authentication``; it refuses anyone who is not an agency of the directory.
Caller = Callable[[Request, HTTPBasicCredentials | None], Any]


def page_time(value: str | None, field: str, default: datetime) -> datetime:
    """A time from the page: ISO-8601 with an offset, or a local ``datetime-local`` value, which is
    Almaty time (the console shows and takes every time in Asia/Almaty)."""
    if value is None or not value.strip():
        return default
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise GatewayError(422, "BAD_TIME", f"{field}: {value!r} is not a date and time (e.g. "
                           "2026-03-04T11:00 in Almaty time, or ISO-8601 with an offset)", field=field) from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(ALMATY.key))
    try:   # shown in Almaty and compared in UTC: both must exist (not year 0 or 10000)
        moment.astimezone(ALMATY)
        # in UTC, as the read models keep it: SQLite compares the wall time, dropping any offset
        return moment.astimezone(UTC)
    except OverflowError:
        raise GatewayError(422, "BAD_TIME", f"{field}: {value!r} is out of range", field=field) from None


class StaffCheck:
    """Authenticates the staff principals (``rb-operations``, ``rb-auditor``), which are no agencies
    and so not the gateway's business: on a secured bus by a SCRAM handshake as that principal
    (cached like the gateway's own sessions), on the plaintext development bus a claim."""

    def __init__(self, runtime: Runtime, kafka_ca_file: Path | None) -> None:
        self.runtime = runtime
        self.ca_file = kafka_ca_file
        self._salt = secrets.token_bytes(16)
        self._verified: dict[tuple[str, bytes], float] = {}
        self._lock = threading.Lock()

    def __call__(self, username: str, password: str) -> str:
        if self.ca_file is None:
            return "claimed"
        key = (username, hashlib.sha256(self._salt + password.encode()).digest())
        with self._lock:
            when = self._verified.get(key)
        if when is not None and time.monotonic() - when < STAFF_VERIFIED_FOR_SECONDS:
            return "verified"
        from referral_bus.gateway.kafka_side import verify_password
        from referral_bus.infra.kafka.security import KafkaSecurity
        security = KafkaSecurity("sasl_ssl", username, password, self.ca_file)
        verify_password({"bootstrap_servers": self.runtime.settings.bootstrap_servers, **security.kafka_python()},
                        username)
        with self._lock:
            self._verified[key] = time.monotonic()
        return "verified"


def console_routes(runtime: Runtime, caller: Caller, kafka_ca_file: Path | None = None) -> APIRouter:
    """The ``/v1/ops`` read API. ``caller``: the gateway's agency authentication (``create_app``)."""
    from referral_bus.projections.service import make_engine
    engine = make_engine(runtime)
    staff_check = StaffCheck(runtime, kafka_ca_file)
    basic = HTTPBasic(auto_error=False, realm="referral-bus")
    router = APIRouter(prefix="/v1/ops", tags=["operations console"])

    basic_q: Any = Depends(basic)

    def viewer(request: Request, credentials: HTTPBasicCredentials | None = basic_q) -> Viewer:
        if credentials is not None and credentials.username in STAFF:
            how = staff_check(credentials.username, credentials.password)
            request.state.authentication = how
            return Viewer(credentials.username, True, how)
        session = caller(request, credentials)   # 401 for no credentials or an unknown agency
        return Viewer(session.principal, False, session.authentication)

    #: a local (not an ``Annotated`` alias): this module's annotations are strings, resolved in its globals
    who_q: Any = Depends(viewer)

    def checked_agency(name: str | None, field: str) -> str | None:
        if name and runtime.directory.get(name) is None:
            raise GatewayError(422, "UNKNOWN_AGENCY", f"{field}: {name!r} is not an agency of agencies.yaml",
                               field=field)
        return name or None

    def audited(who: Viewer, case_id: str, purpose: str | None, query: str) -> None:
        """Record the read first; refuse (nothing shown) when it cannot be recorded."""
        from referral_bus.domain.read_audit import PurposeRefused, check_purpose
        from referral_bus.infra.read_audit import ReadNotRecorded, record_read
        try:
            stated = check_purpose(purpose)
        except PurposeRefused as exc:
            raise GatewayError(422, "PURPOSE_REQUIRED", str(exc).replace("--purpose", "purpose"),
                               field="purpose") from None
        if not views.may_read_case(engine, who, case_id):
            raise GatewayError(403, "NOT_ON_YOUR_BOARD", f"case {case_id} has no deadline {who.principal} owes or "
                               "whose escalation reached it (docs/console.md: who may see what)", field="case_id")
        try:
            record_read(runtime, case_id=case_id, tool=TOOL, purpose=stated, query=query, reader=who.principal)
        except ReadNotRecorded as exc:
            raise GatewayError(503, "READ_NOT_RECORDED", f"case {case_id} is not shown, because this read could not "
                               f"be recorded on the read-audit trail ({runtime.catalogue.name('read_audit')}): {exc}",
                               field="purpose") from None

    city_q = Query(default=None, max_length=32, description="A city, e.g. ALMATY")
    agency_q = Query(default=None, max_length=64, description="Responsible agency or a rung of the ladder")
    rule_q = Query(default=None, max_length=64, description="A rule id, or its paragraph prefix (e.g. 4.8)")

    @router.get("/me", responses=responses(401, 503), summary="Who is looking, and the console's choices")
    def me(who: Viewer = who_q) -> dict[str, Any]:
        return {"principal": who.principal, "staff": who.staff, "authentication": who.authentication,
                "time_zone": ALMATY.key, "now": views.at(datetime.now(UTC)),
                "agencies": sorted(runtime.directory.agencies),
                "cities": sorted({c.value for a in runtime.directory.agencies.values() for c in a.cities}),
                "rules": sorted(RULES_BY_ID)}

    @router.get("/escalations", responses=responses(401, 422, 503),
                summary="Escalations on the caller's board, with how late, rule and paragraph (Almaty times)")
    def escalations(city: str | None = city_q, agency: str | None = agency_q, rule: str | None = rule_q,
                    state: Literal["open", "acknowledged", "closed", "all"] = Query(default="open"),
                    who: Viewer = who_q) -> dict[str, Any]:
        now = datetime.now(UTC)
        items = views.escalations(engine, who, Filters(city, checked_agency(agency, "agency"), rule), state, now)
        return {"now": views.at(now), "items": items}

    @router.get("/deadlines", responses=responses(401, 422, 503),
                summary="Deadlines still owed on the caller's board, soonest first (Almaty times)")
    def deadlines(city: str | None = city_q, agency: str | None = agency_q, rule: str | None = rule_q,
                  overdue: bool = Query(default=False, description="Only those past their due time"),
                  who: Viewer = who_q) -> dict[str, Any]:
        now = datetime.now(UTC)
        items = views.deadlines(engine, who, Filters(city, checked_agency(agency, "agency"), rule), overdue, now)
        return {"now": views.at(now), "items": items}

    @router.get("/compliance", responses=responses(401, 422, 503),
                summary="Deadline figures per rule, agency and city (domain/deadlines/compliance.py)")
    def compliance(city: str | None = city_q,
                   start: str | None = Query(default=None, alias="from", max_length=40),
                   end: str | None = Query(default=None, alias="to", max_length=40),
                   who: Viewer = who_q) -> dict[str, Any]:
        now = datetime.now(UTC)
        first, last = views.default_window(now)
        since, until = page_time(start, "from", first), page_time(end, "to", last)
        rows = views.compliance(engine, runtime.directory, who, city, since, until, now)
        return {"from": views.at(since), "to": views.at(until), "now": views.at(now), "rows": rows}

    purpose_q = Query(default=None, max_length=400, description="Why the case is read (recorded first)")

    @router.get("/cases/{case_id}/explain", responses=responses(401, 403, 422, 503),
                summary="Every deadline of a case with the calendar reasoning (audited read)")
    def explain(case_id: str, purpose: str | None = purpose_q, who: Viewer = who_q) -> dict[str, Any]:
        from referral_bus.auditor.sla_explain import explain_case
        from referral_bus.infra.local_time import localized
        audited(who, case_id, purpose, "explain")
        now = datetime.now(UTC)
        visible = views.visible_deadline_ids(engine, who)   # an agency: the deadlines on its board only
        return {"case_id": case_id, "now": views.at(now),
                "deadlines": [localized(e.as_dict()) for e in explain_case(runtime, case_id, now)
                              if visible is None or str(e.deadline_id) in visible]}

    @router.get("/cases/{case_id}/timeline", responses=responses(401, 403, 422, 503),
                summary="A case as of a moment and what an agency had been told by then (audited read)")
    def timeline(case_id: str, purpose: str | None = purpose_q,
                 as_of: str | None = Query(default=None, max_length=40, description="Almaty time or ISO-8601"),
                 agency: str | None = Query(default=None, max_length=64, description="What this agency knew"),
                 who: Viewer = who_q) -> dict[str, Any]:
        moment = page_time(as_of, "as_of", datetime.now(UTC))
        named = checked_agency(agency, "agency")
        if not who.staff:
            if named not in (None, who.principal):
                raise GatewayError(403, "NOT_YOUR_INBOX", f"agency: {who.principal} may see what it was told itself, "
                                   f"not what {named} was told", field="agency")
            named = who.principal
        audited(who, case_id, purpose, f"timeline as_of={views.at(moment)} agency={named or '-'}")
        return views.timeline(engine, case_id, moment, named, with_events=who.staff)

    return router


def mount_console(app: FastAPI, runtime: Runtime, caller: Caller, kafka_ca_file: Path | None = None) -> None:
    """Adds the console to the gateway: ``/v1/ops`` and the page at ``/console/``."""
    app.include_router(console_routes(runtime, caller, kafka_ca_file))

    @app.exception_handler(SQLAlchemyError)
    def read_models_unavailable(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        """The read models cannot be read (no projector has made them yet, the database is down)."""
        problem = Problem(code="READ_MODELS_UNAVAILABLE", message="the read models cannot be read "
                          f"({type(exc).__name__}); is the projector running (`referral-bus projections run`) "
                          "against REFERRAL_BUS_DATABASE_URL?")
        return JSONResponse(problem.model_dump(exclude_none=True), status_code=503)

    app.mount("/console", StaticFiles(directory=STATIC, html=True), name="console")


__all__ = ["console_routes", "mount_console"]
