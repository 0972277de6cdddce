"""Every refusal of the gateway as one JSON shape: a stable code, a message, the field and, where a
rule of the protocol is broken, its paragraph — the same four things a receipt carries."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Problem(BaseModel):
    """The body of every 4xx/5xx answer of the gateway's own API (the registry API answers in
    Confluent's shape instead, ``error_code`` and ``message``)."""

    code: str = Field(description="Stable code, e.g. SCHEMA_INVALID, NOT_AUTHORIZED, BAD_CURSOR")
    message: str = Field(description="What is wrong, for a person")
    field: str | None = Field(default=None, description="The field, parameter or header at fault")
    paragraph: str | None = Field(default=None, description="The paragraph of Annex B (or seed) of a broken rule")
    receipt: dict[str, Any] | None = Field(default=None, description="The router's receipt, when it refused")


class GatewayError(Exception):
    """Raised by the endpoints; turned into ``status`` and a ``Problem`` body by the app."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 paragraph: str | None = None, headers: dict[str, str] | None = None,
                 receipt: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.problem = Problem(code=code, message=message, field=field, paragraph=paragraph, receipt=receipt)
        self.headers = headers or {}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` declaring the Problem body for each status (schemathesis checks them)."""
    said = {400: "Malformed request", 401: "No or wrong credentials", 403: "Refused (the gateway or the broker)",
            404: "Not found", 413: "Too large", 422: "Invalid (names the field and paragraph)",
            503: "The brokers cannot be reached"}
    return {status: {"model": Problem, "description": said.get(status, "Refused")} for status in statuses}
