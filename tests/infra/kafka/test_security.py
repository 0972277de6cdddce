"""Client security settings (no broker): complete or refused by name, never leaking a password."""

from __future__ import annotations

from pathlib import Path

import pytest

from referral_bus.infra.kafka.security import KafkaSecurity, SecuritySettingsError


def test_plaintext_is_the_default_and_adds_nothing_to_a_client() -> None:
    security = KafkaSecurity.from_env({})
    assert security.mode == "plaintext"
    assert security.kafka_python() == {} and security.aiokafka() == {} and security.faust() is None


def test_sasl_ssl_needs_every_setting_and_names_the_missing_ones(tmp_path: Path) -> None:
    with pytest.raises(SecuritySettingsError, match="REFERRAL_BUS_KAFKA_USERNAME.*REFERRAL_BUS_KAFKA_CA_FILE"):
        KafkaSecurity.from_env({"REFERRAL_BUS_KAFKA_SECURITY": "sasl_ssl", "REFERRAL_BUS_KAFKA_PASSWORD": "x"})
    with pytest.raises(SecuritySettingsError, match="is not a file"):
        KafkaSecurity("sasl_ssl", "school-almaty", "x", tmp_path / "missing.pem")
    with pytest.raises(SecuritySettingsError, match="'plaintext' or 'sasl_ssl'"):
        KafkaSecurity.from_env({"REFERRAL_BUS_KAFKA_SECURITY": "ssl-please"})
    with pytest.raises(SecuritySettingsError, match="cannot be read"):
        KafkaSecurity.from_env({"REFERRAL_BUS_KAFKA_PASSWORD_FILE": str(tmp_path / "nope")})


def test_the_password_comes_from_its_file_and_never_shows(tmp_path: Path) -> None:
    from referral_bus.infra.kafka.pki import LocalPki
    ca = LocalPki(tmp_path / "tls")
    ca.key_store("node-1", ["127.0.0.1"])
    (tmp_path / "school.password").write_text("s3cret-value\n")
    security = KafkaSecurity.from_env({"REFERRAL_BUS_KAFKA_SECURITY": "sasl_ssl",
                                       "REFERRAL_BUS_KAFKA_USERNAME": "school-almaty",
                                       "REFERRAL_BUS_KAFKA_PASSWORD_FILE": str(tmp_path / "school.password"),
                                       "REFERRAL_BUS_KAFKA_CA_FILE": str(ca.ca_file)})
    assert security.password == "s3cret-value"
    assert "s3cret" not in repr(security) and "s3cret" not in str(security)
    settings = security.kafka_python()
    assert settings["security_protocol"] == "SASL_SSL" and settings["sasl_mechanism"] == "SCRAM-SHA-512"
    assert security.as_env(tmp_path / "school.password")["REFERRAL_BUS_KAFKA_PASSWORD_FILE"].endswith(
        "school.password")


def test_local_pki_keeps_keys_private_and_reuses_them(tmp_path: Path) -> None:
    from referral_bus.infra.kafka.pki import LocalPki
    pki = LocalPki(tmp_path / "tls")
    store = pki.key_store("node-1", ["127.0.0.1", "localhost"])
    assert pki.key_store("node-1", ["127.0.0.1"]) == store and store.read_bytes() == store.read_bytes()
    assert store.stat().st_mode & 0o077 == 0 and (tmp_path / "tls" / "ca.key").stat().st_mode & 0o077 == 0
    text = store.read_text()
    assert text.startswith("-----BEGIN PRIVATE KEY-----") and text.count("BEGIN CERTIFICATE") == 2
