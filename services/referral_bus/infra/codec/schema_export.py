"""Render a pydantic contract as an Avro schema (the mirror ``schemas/avro/*.avsc`` must equal).

Mapping: str→string, int→long, bool→boolean, bytes→bytes, float→double, UUID→string/uuid,
datetime→long/timestamp-micros, date→int/date, Enum→enum, list→array, optional→["null", T],
nested model→record (defined once per schema, referenced by full name afterwards).
"""

from __future__ import annotations

import types
import typing
from datetime import date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from referral_bus.contracts.base import Record

_PRIMITIVES: dict[Any, Any] = {
    str: "string", int: "long", bool: "boolean", bytes: "bytes", float: "double",
    UUID: {"type": "string", "logicalType": "uuid"},
    datetime: {"type": "long", "logicalType": "timestamp-micros"},
    date: {"type": "int", "logicalType": "date"},
}


def full_name(model: type[Record]) -> str:
    return f"{model.avro_namespace}.{model.__name__}"


class _Renderer:
    def __init__(self) -> None:
        self.defined: set[str] = set()

    def record(self, model: type[BaseModel]) -> Any:
        name = full_name(model)  # type: ignore[arg-type]
        if name in self.defined:
            return name
        self.defined.add(name)
        fields = [self.field(fname, info) for fname, info in model.model_fields.items()]
        schema: dict[str, Any] = {"type": "record", "name": model.__name__,
                                  "namespace": model.avro_namespace, "fields": fields}  # type: ignore[attr-defined]
        if model.__doc__:
            schema["doc"] = " ".join(model.__doc__.split())
        return schema

    def enum(self, enum: type[Enum]) -> Any:
        name = f"{Record.avro_namespace}.{enum.__name__}"
        if name in self.defined:
            return name
        self.defined.add(name)
        return {"type": "enum", "name": enum.__name__, "namespace": Record.avro_namespace,
                "symbols": [member.value for member in enum]}

    def type_of(self, annotation: Any) -> Any:
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin is typing.Annotated:
            return self.type_of(args[0])
        if origin in (typing.Union, types.UnionType):
            inner = [a for a in args if a is not type(None)]
            if len(inner) != 1:
                raise TypeError(f"only Optional[T] unions are supported, got {annotation}")
            return ["null", self.type_of(inner[0])]
        if origin is list:
            return {"type": "array", "items": self.type_of(args[0])}
        if isinstance(annotation, type) and issubclass(annotation, Enum):
            return self.enum(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return self.record(annotation)
        for base, avro in _PRIMITIVES.items():
            if annotation is base or (isinstance(annotation, type) and base is datetime and issubclass(annotation,
                                                                                                       datetime)):
                return avro
        # pydantic's AwareDatetime is an Annotated[datetime, ...] alias
        if getattr(annotation, "__origin__", None) is datetime or "AwareDatetime" in repr(annotation):
            return _PRIMITIVES[datetime]
        raise TypeError(f"no Avro mapping for {annotation!r}")

    def field(self, name: str, info: FieldInfo) -> dict[str, Any]:
        avro_type = self.type_of(info.annotation)
        out: dict[str, Any] = {"name": name, "type": avro_type}
        if info.description:
            out["doc"] = info.description
        if info.default_factory is list:
            out["default"] = []
        elif info.default is not PydanticUndefined:
            default = info.default
            if isinstance(default, Enum):
                default = default.value
            out["default"] = default
        return out


def avro_schema(model: type[Record]) -> dict[str, Any]:
    """The complete, self-contained Avro schema of one contract."""
    return _Renderer().record(model)  # type: ignore[no-any-return]
