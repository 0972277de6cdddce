"""Loads what every service needs once at start: settings, directory, topic catalogue, codec."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

import yaml

from referral_bus.domain.agencies import Directory
from referral_bus.domain.deadlines.calendar import WorkingCalendar
from referral_bus.domain.deadlines.engine import DeadlineEngine
from referral_bus.domain.deadlines.rule_table import RULES
from referral_bus.domain.deadlines.rules import ClockContext
from referral_bus.infra.catalogue import Catalogue
from referral_bus.infra.codec.framing import Codec
from referral_bus.infra.codec.registry import (
    ConfluentRegistry,
    EmbeddedRegistry,
    SchemaRegistry,
)
from referral_bus.infra.codec.schema_store import SchemaStore
from referral_bus.infra.settings import Settings


@dataclass
class Runtime:
    settings: Settings

    @cached_property
    def directory(self) -> Directory:
        return Directory.from_mapping(yaml.safe_load(self.settings.agencies_file.read_text()) or {})

    @cached_property
    def calendar(self) -> WorkingCalendar:
        return WorkingCalendar.from_mapping(yaml.safe_load(self.settings.calendar_file.read_text()) or {})

    @cached_property
    def clock_context(self) -> ClockContext:
        """The calendar and the operator's policy thresholds ("immediately", policy.yaml)."""
        return ClockContext.from_policy_mapping(self.calendar, yaml.safe_load(self.settings.policy_file.read_text()))

    @cached_property
    def catalogue(self) -> Catalogue:
        return Catalogue.load(self.settings.topics_file, self.directory, self.settings.topic_prefix)

    @cached_property
    def schema_store(self) -> SchemaStore:
        return SchemaStore(self.settings.schemas_dir)

    @cached_property
    def registry(self) -> SchemaRegistry:
        if self.settings.schema_registry_url:
            return ConfluentRegistry(self.settings.schema_registry_url)
        return EmbeddedRegistry.from_directory(self.settings.schemas_dir)

    @cached_property
    def codec(self) -> Codec:
        """Knows every released schema version, and tells the canonical form of events too."""
        return Codec(self.registry, versions=self.schema_store.install_canonical_versions())

    def deadline_engine(self, *, keep_reasoning: bool = False) -> DeadlineEngine:
        """The deadline engine as every part of the bus runs it: all rules, this directory, the
        working-day calendar and policy, the SLA grace period."""
        return DeadlineEngine(RULES, self.directory, grace=timedelta(seconds=self.settings.sla_grace_seconds),
                              context=self.clock_context, keep_reasoning=keep_reasoning)


def load_runtime(settings: Settings | None = None) -> Runtime:
    return Runtime(settings or Settings())
