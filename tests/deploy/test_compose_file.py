"""deploy/compose.yaml is a valid Compose file that says what the project means: checked against the
official Compose Specification schema (vendored: compose-spec.SOURCE.md), its references resolved,
its variables required where they must be, its commands real ``referral-bus`` subcommands and its
environment variables ones that the code reads. Static: no Docker engine is needed (or available)."""

from __future__ import annotations

import json
import re
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from referral_bus import deployment
from referral_bus.cli import build_parser
from referral_bus.infra.kafka.broker_config import KAFKA_IMAGE, container_cluster

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DEPLOY = ROOT / "deploy"
CODE = ROOT / "services" / "referral_bus"

#: service → (function that the CLI dispatches to, action)
APP_SERVICES = {"topics": ("cmd_topics", "apply"), "router": ("cmd_service", "run"), "sla": ("cmd_sla", "run"),
                "projector": ("cmd_projections", "run")}
KAFKA_SERVICES = [f"kafka-{n}" for n in (1, 2, 3)]


@cache
def compose_text() -> str:
    return (DEPLOY / "compose.yaml").read_text()


@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load(compose_text())  # type: ignore[no-any-return]


@cache
def validator() -> Draft7Validator:
    schema = json.loads((HERE / "compose-spec.json").read_text())
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def schema_errors(document: Any) -> list[str]:
    errors = sorted(validator().iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top level)'}: {e.message}" for e in errors]


def dockerfile_lines() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "Dockerfile").read_text())
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for line in dockerfile_lines():
        if line.startswith("ENV "):
            env.update(pair.split("=", 1) for pair in shlex.split(line[4:]))
    return env


def test_valid_against_the_compose_specification_schema() -> None:
    assert "version" not in compose(), "the Compose Specification has no top-level version"
    assert schema_errors(compose()) == []


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d["services"]["router"].update(restart_policy="always"),
     "services/router: 'restart_policy' does not match any of the regexes"),
    (lambda d: d["services"]["router"]["depends_on"]["topics"].update(condition="service_finished"),
     "services/router/depends_on: {'topics': {'condition': 'service_finished'}} is not valid"),
    (lambda d: d["services"]["kafka-1"]["volumes"][0].update(type="bindd"), "services/kafka-1/volumes/0: "),
    (lambda d: d["services"]["kafka-1"].update(ports="19092"), "services/kafka-1/ports: '19092' is not of type"),
], ids=["unknown key", "bad depends_on condition", "unknown mount type", "wrong type"])
def test_the_schema_rejects_what_compose_would_reject(mutate: Any, expected: str) -> None:
    document = yaml.safe_load(compose_text())
    mutate(document)
    assert any(e.startswith(expected) for e in schema_errors(document)), schema_errors(document)


def test_every_reference_resolves() -> None:
    """What the schema cannot see: services, volumes, bind-mounted files and the build context exist."""
    services = compose()["services"]
    declared_volumes = set(compose()["volumes"])
    used_volumes = set()
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on an undefined service {dependency}"
        for mount in service.get("volumes", []):
            if mount["type"] == "volume":
                assert mount["source"] in declared_volumes, f"{name}: volume {mount['source']} is not declared"
                used_volumes.add(mount["source"])
            else:
                assert (DEPLOY / mount["source"]).is_file(), f"{name}: {mount['source']} does not exist"
        if "build" in service:
            context = (DEPLOY / service["build"]["context"]).resolve()
            assert context == ROOT
            assert (context / service["build"]["dockerfile"]).is_file()
    assert used_volumes == declared_volumes, "a declared volume no service uses"


def test_secrets_and_the_cluster_id_come_from_required_variables() -> None:
    """Every ``$`` is an escaped ``$$`` or a braced variable; the cluster id and the password are
    required (``${X:?…}``, Compose refuses to start without them) and appear nowhere else."""
    text = compose_text().replace("$$", "")
    pattern = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}$]*))?\}")
    assert "$" not in pattern.sub("", text), "a `$` that is neither `$$` nor `${VARIABLE...}`"
    forms: dict[str, set[str]] = {}
    for name, operator, _ in pattern.findall(text):
        forms.setdefault(name, set()).add(operator)
    assert forms == {"KAFKA_CLUSTER_ID": {":?"}, "POSTGRES_PASSWORD": {":?"}, "KAFKA_HEAP_OPTS": {":-"}}
    assert "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?" in text


@pytest.mark.parametrize("node_id", [1, 2, 3])
def test_kafka_services(node_id: int) -> None:
    node = container_cluster(3).node(node_id)
    service = compose()["services"][f"kafka-{node_id}"]
    assert service["image"] == KAFKA_IMAGE
    assert service["restart"] == "unless-stopped"
    assert service["ports"] == [f"127.0.0.1:{node.client.port}:{node.client.port}"]
    assert [n.client.port for n in container_cluster(3).nodes] == [19092, 29092, 39092]
    binds = [m for m in service["volumes"] if m["type"] == "bind"]
    assert binds == [{"type": "bind", "source": f"./kafka/node-{node_id}.properties",
                      "target": deployment.PROPERTIES_IN_CONTAINER, "read_only": True}]
    data = [m for m in service["volumes"] if m["type"] == "volume"]
    assert [m["target"] for m in data] == [node.log_dir] == ["/var/lib/kafka/data"]
    shell, flag, script = service["command"]
    props = deployment.PROPERTIES_IN_CONTAINER
    assert (shell, flag) == ("/bin/sh", "-c")
    assert script == ('/opt/kafka/bin/kafka-storage.sh format --ignore-formatted --cluster-id="$$KAFKA_CLUSTER_ID" '
                      f'-c {props}'
                      f" && exec /opt/kafka/bin/kafka-server-start.sh {props}")
    assert service["environment"]["KAFKA_CLUSTER_ID"].startswith("${KAFKA_CLUSTER_ID:?")
    assert "KAFKA_HEAP_OPTS" in service["environment"]
    probe = service["healthcheck"]["test"]
    assert probe[0] == "CMD-SHELL"
    assert f"/opt/kafka/bin/kafka-broker-api-versions.sh --bootstrap-server kafka-{node_id}:9092" in probe[1]


def test_postgres_service() -> None:
    service = compose()["services"]["postgres"]
    assert service["image"] == "postgres:15"
    assert service["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert service["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert service["restart"] == "unless-stopped"
    assert [m["type"] for m in service["volumes"]] == ["volume"]


def test_service_order_of_start() -> None:
    services = compose()["services"]
    assert services["topics"]["depends_on"] == {k: {"condition": "service_healthy"} for k in KAFKA_SERVICES}
    assert services["topics"]["restart"] == "no"
    for name in ("router", "sla", "projector"):
        assert services[name]["depends_on"]["topics"] == {"condition": "service_completed_successfully"}
        assert services[name]["restart"] == "unless-stopped"
    assert services["projector"]["depends_on"]["postgres"] == {"condition": "service_healthy"}


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_commands_are_real_cli_subcommands(name: str) -> None:
    service = compose()["services"][name]
    assert service["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert 'ENTRYPOINT ["referral-bus"]' in dockerfile_lines()
    try:
        args = build_parser().parse_args(service["command"])
    except SystemExit:
        pytest.fail(f"`referral-bus {' '.join(service['command'])}` ({name}) is not a valid command")
    assert (args.func.__name__, args.action) == APP_SERVICES[name]


def test_the_services_environment() -> None:
    services = compose()["services"]
    bootstrap = "kafka-1:9092,kafka-2:9092,kafka-3:9092"
    for name in APP_SERVICES:
        assert services[name]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == bootstrap
    for name in ("router", "sla", "projector"):
        env = services[name]["environment"]
        assert env["REFERRAL_BUS_DATA_DIR"] == "/var/lib/referral-bus"
        assert [m["target"] for m in services[name]["volumes"]] == ["/var/lib/referral-bus"]
    for name in ("router", "sla"):  # the Faust services: consumer groups
        env = services[name]["environment"]
        assert {k: env[k] for k in deployment.CONSUMER_TIMEOUTS} == {
            "REFERRAL_BUS_SESSION_TIMEOUT": "45", "REFERRAL_BUS_HEARTBEAT_INTERVAL": "3",
            "REFERRAL_BUS_REBALANCE_TIMEOUT": "60", "REFERRAL_BUS_MAX_POLL_INTERVAL": "300"}
    for name, setting in (("router", "ROUTER"), ("sla", "SLA"), ("projector", "PROJECTOR")):  # each its endpoint
        env = services[name]["environment"]
        probe = services[name]["healthcheck"]["test"]
        assert probe[:3] == ["CMD", "python", "-c"]
        assert f"http://{env[f'REFERRAL_BUS_{setting}_METRICS_ADDR']}/metrics" in probe[3]
    url = services["projector"]["environment"]["REFERRAL_BUS_DATABASE_URL"]
    pg = services["postgres"]["environment"]
    assert url == (f"postgresql+psycopg://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/"
                   f"{pg['POSTGRES_DB']}")


@cache
def code_text() -> str:
    """The package's source, less the renderer (which names every variable it sets)."""
    return "\n".join(p.read_text() for p in sorted(CODE.rglob("*.py")) if p.name != "deployment.py")


def read_by_code(name: str) -> bool:
    return f'"{name}"' in code_text() or f"'{name}'" in code_text()


def test_a_misspelt_variable_would_be_caught() -> None:
    assert read_by_code("REFERRAL_BUS_SESSION_TIMEOUT")
    assert not read_by_code("REFERRAL_BUS_SESION_TIMEOUT")


def test_every_variable_set_for_the_services_is_read_by_the_code() -> None:
    names = {name for service in APP_SERVICES for name in compose()["services"][service]["environment"]}
    names |= {name for name in dockerfile_env() if not name.startswith(("PYTHON", "PIP_"))}
    assert "REFERRAL_BUS_HOME" in names
    unread = sorted(name for name in names if not read_by_code(name))
    assert unread == [], f"set in deploy/ but read nowhere in services/referral_bus: {unread}"


def test_dockerfile() -> None:
    lines = dockerfile_lines()
    assert lines[0] == "FROM python:3.11-slim"
    env = dockerfile_env()
    assert env["REFERRAL_BUS_HOME"] == deployment.APP_HOME
    copied = " ".join(line for line in lines if line.startswith("COPY "))
    for name in ("pyproject.toml", "services/", "schemas/", *deployment.CATALOGUE_FILES):
        assert name in copied and (ROOT / name).exists(), name
    assert any(line.startswith("RUN pip install --no-cache-dir .") for line in lines)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), "the image must not run as root"


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().splitlines())
    assert {".venv", ".git", ".referral-bus"} <= ignored
