"""Fetching Apache Kafka: what a machine without Maven or Java is told, and the pom it would run."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from referral_bus.infra.kafka import kafka_distribution
from referral_bus.infra.kafka.broker_config import KAFKA_VERSION


def test_the_pom_pins_kafka_and_a_logging_binding() -> None:
    root = ET.fromstring(kafka_distribution.POM)
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    deps = {(d.findtext("m:groupId", namespaces=ns), d.findtext("m:artifactId", namespaces=ns)):
            d.findtext("m:version", namespaces=ns) for d in root.iterfind("m:dependencies/m:dependency", ns)}
    assert deps[("org.apache.kafka", "kafka_2.13")] == KAFKA_VERSION
    assert ("org.apache.logging.log4j", "log4j-slf4j2-impl") in deps and ("org.slf4j", "slf4j-api") in deps
    assert root.findtext("m:packaging", namespaces=ns) == "pom"


def test_without_maven_the_error_says_what_is_missing_and_the_way_round(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("REFERRAL_BUS_KAFKA_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(kafka_distribution.KafkaUnavailable, match=r"needs Maven .*KAFKA_BOOTSTRAP_SERVERS"):
        kafka_distribution.ensure_kafka()
    assert not (kafka_distribution.kafka_home() / "complete").exists()


def test_without_java_the_error_names_java_home(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-such-jdk"))
    with pytest.raises(kafka_distribution.KafkaUnavailable, match=r"Java 17 .*JAVA_HOME"):
        kafka_distribution.java_command()


def test_the_cache_lives_outside_the_work_tree_unless_told(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("REFERRAL_BUS_KAFKA_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert kafka_distribution.kafka_home() == tmp_path / "referral-bus" / f"kafka_2.13-{KAFKA_VERSION}"
