"""Running the bus: ``up`` (everything, as scripts/run.sh does), ``broker``, and each service."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from referral_bus.cli.common import runtime as _runtime

if TYPE_CHECKING:
    from referral_bus.infra.kafka.kafka_cluster import LocalKafkaCluster
    from referral_bus.infra.runtime import Runtime
    from referral_bus.infra.supervisor import Service
    from referral_bus.router.app import RouterService
    from referral_bus.sla.app import SlaService


def _data_dir() -> Path:
    return Path(os.environ.get("REFERRAL_BUS_DATA_DIR", ".referral-bus"))


def _broker_port(explicit: int | None) -> int:
    from referral_bus.infra.settings import port_setting
    return explicit or port_setting("REFERRAL_BUS_BROKER_PORT", 9092) or 9092


def _serve_metrics(runtime: Runtime, service: str) -> bool:
    """This service's metrics endpoint (settings.py); False, with one line on stderr, when its
    address cannot be used — the caller exits 2, naming the setting, never with a traceback."""
    from referral_bus.infra import metrics
    settings = runtime.settings
    try:
        metrics.serve(settings.metrics_address(service), settings.metrics_setting(service), service)
    except metrics.MetricsAddressUnusable as exc:
        print(f"error: {exc.strerror}", file=sys.stderr, flush=True)
        return False
    return True


def cmd_service(args: argparse.Namespace) -> int:
    from referral_bus.cli.common import EXIT_USAGE
    from referral_bus.infra.kafka.faust_app import run_worker
    runtime = _runtime()
    if not _serve_metrics(runtime, "router" if args.command == "router" else "sla"):
        return EXIT_USAGE
    service: RouterService | SlaService
    if args.command == "router":
        from referral_bus.router.app import RouterService
        service = RouterService(runtime)
    else:
        from referral_bus.sla.app import SlaService
        service = SlaService(runtime)
    sys.argv = [sys.argv[0], "worker"]
    run_worker(service.app, loglevel=args.faust_log_level, prepare=service.prepare)
    return 0


def cmd_projections(args: argparse.Namespace) -> int:
    from referral_bus.cli.common import EXIT_DIVERGED
    from referral_bus.projections.divergence import RECOVERY
    from referral_bus.projections.service import LogDiverged, make_engine, project, rebuild
    runtime = _runtime()
    if args.action == "rebuild":
        applied = rebuild(runtime)
        print(f"rebuilt the read models from the log: {applied:,} records into "
              f"{runtime.settings.read_model_url.split('@')[-1]}")
        return 0
    if not _serve_metrics(runtime, "projector"):
        from referral_bus.cli.common import EXIT_USAGE
        return EXIT_USAGE
    try:
        project(runtime, make_engine(runtime), until_end=False)
    except KeyboardInterrupt:
        pass
    except LogDiverged as exc:
        print(f"projector stopped: the log and the read models disagree on {len(exc.findings)} partition(s):",
              file=sys.stderr)
        for finding in exc.findings[:20]:
            print(f"  {finding}", file=sys.stderr)
        print(f"{RECOVERY}", file=sys.stderr, flush=True)
        return EXIT_DIVERGED
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    """The HTTP gateway (docs/gateway.md) in the foreground, on REFERRAL_BUS_GATEWAY_ADDR."""
    from referral_bus.cli.common import EXIT_USAGE
    from referral_bus.gateway.server import GatewayAddressUnusable, check_free, server, url
    from referral_bus.infra.settings import gateway_settings
    settings = gateway_settings()
    try:
        check_free(settings.address)
    except GatewayAddressUnusable as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    runtime = _runtime()
    served = server(runtime, settings, log_level=args.uvicorn_log_level)
    how = ("callers checked by the brokers (SCRAM over TLS)" if settings.secured
           else "plaintext bus: the agency a caller names is a claim, not checked")
    print(f"gateway at {url(settings)} (OpenAPI at {url(settings)}/openapi.json; {how})", flush=True)
    served.run()
    return 0


def cmd_broker(args: argparse.Namespace) -> int:
    """Apache Kafka (KRaft) in the foreground, its log under the data directory (durable)."""
    from referral_bus.infra.kafka.kafka_distribution import KafkaUnavailable
    from referral_bus.infra.kafka.local_broker import start_local_broker
    data = _data_dir() / ("kafka" if args.nodes == 1 else f"kafka-{args.nodes}-nodes")
    try:
        broker = start_local_broker(data, port=_broker_port(args.port), nodes=args.nodes)
    except (KafkaUnavailable, TimeoutError) as exc:
        print(f"broker not started: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"broker serving at {broker.bootstrap_servers} (data in {data}); Ctrl-C stops it", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
    finally:
        broker.stop()
    return 0


def _case_log_size(runtime: Runtime) -> int:
    """Records on the case log (log-end minus log-start offsets; exact on Apache Kafka)."""
    from kafka import KafkaConsumer, TopicPartition
    topic = runtime.catalogue.name("case_log")
    consumer = KafkaConsumer(**runtime.settings.kafka_python(), enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        ends, starts = consumer.end_offsets(tps), consumer.beginning_offsets(tps)
        return sum(ends[tp] - starts[tp] for tp in tps)
    finally:
        consumer.close()


def _principal_env(cluster: LocalKafkaCluster, principal: str) -> dict[str, str]:
    return cluster.security_for(principal).as_env(cluster.credentials.password_file(principal))


def _runtime_as(cluster: LocalKafkaCluster, principal: str) -> Runtime:
    from referral_bus.infra.runtime import load_runtime
    from referral_bus.infra.settings import Settings
    return load_runtime(Settings(bootstrap_servers=cluster.bootstrap_servers,
                                 kafka_security=cluster.security_for(principal)))


def _secure(cluster: LocalKafkaCluster, runtime: Runtime) -> None:
    """Credentials for every agency and service (kept across restarts) and the ACLs."""
    from kafka import KafkaAdminClient

    from referral_bus.infra.kafka.acls import apply_acls, grants, principals
    from referral_bus.infra.kafka.credentials import issue, wait_until_usable
    admin = KafkaAdminClient(**runtime.settings.kafka_python(), client_id="referral-bus-up")
    try:
        names = principals(runtime.directory)
        issue(admin, cluster.credentials, names)
        wait_until_usable(cluster.bootstrap_servers.split(","), cluster.credentials.load(names[-1]))
        report = apply_acls(admin, grants(runtime.catalogue, runtime.directory), principals(runtime.directory))
    finally:
        admin.close()
    print(f"credentials for {len(principals(runtime.directory))} principals in {cluster.credentials.directory} "
          f"(mode 0600); ACLs: {len(report.created)} created, {report.unchanged} unchanged")


def _gateway_service(runtime: Runtime, secured: LocalKafkaCluster | None, logs: Path) -> Service:
    """The HTTP gateway as a service of ``up``. It acts as each caller under the caller's credentials;
    the admin's are taken out of its environment, and on a secured bus its own principal
    (``rb-gateway``) may only record audited reads and read the case log for the console. It serves
    TLS there with a certificate from the local CA and checks callers against the brokers; it is
    given custody of the signing
    keys ``up`` made, as this one machine already speaks for every agency of the demonstration
    (docs/gateway.md: what custody means in production)."""
    from referral_bus.gateway.server import tls_certificate
    from referral_bus.infra.kafka.acls import service_principal
    from referral_bus.infra.settings import gateway_settings
    from referral_bus.infra.supervisor import Service
    own = ("REFERRAL_BUS_KAFKA_USERNAME", "REFERRAL_BUS_KAFKA_PASSWORD", "REFERRAL_BUS_KAFKA_PASSWORD_FILE")
    env = {k: v for k, v in os.environ.items() if k not in own}
    env["REFERRAL_BUS_KAFKA_SECURITY"] = "plaintext"
    env.setdefault("REFERRAL_BUS_GATEWAY_SIGNING_KEY_DIR", str(runtime.settings.signing_keys))
    if secured is not None:
        # its own principal only records audited reads (console, key service) and reads the case
        # log for the console's explain (acl render); callers' requests go under their own credentials
        env.update(_principal_env(secured, service_principal("gateway")))
        tls = secured.data_dir / "secrets" / "tls"
        env["REFERRAL_BUS_GATEWAY_KAFKA_CA_FILE"] = str(secured.credentials.ca_file)
        env.setdefault("REFERRAL_BUS_GATEWAY_TLS_CERT", str(tls_certificate(tls, ["127.0.0.1", "localhost"])))
    host, port = gateway_settings().address
    scheme = "https" if secured is not None else "http"
    print(f"gateway at {scheme}://{host}:{port} (docs/gateway.md"
          f"{'; its certificate from ' + str(secured.credentials.ca_file) if secured is not None else ''})")
    return Service("gateway", [sys.executable, "-m", "referral_bus.cli", "gateway", "run"], env, logs / "gateway.log")


def _signing_keys(runtime: Runtime) -> None:
    """A signing key for every agency of the directory (kept across restarts): on this one machine
    the demonstration speaks for all of them; in production each agency holds only its own."""
    from referral_bus.domain.signatures import ROUTER
    from referral_bus.infra.signing_keys import SigningKeyStore, enrol_agencies
    store = SigningKeyStore(runtime.settings.signing_keys)
    signers = [*sorted(runtime.directory.agencies), ROUTER]
    enrolled = enrol_agencies(runtime, store, signers, by="referral-bus-up")
    print(f"signing keys (every agency, and the router's for its checkpoints): {len(enrolled)} enrolled now, "
          f"{len(signers) - len(enrolled)} already there; private keys in {store.directory} (mode 0600)")


def _vault(runtime: Runtime) -> None:
    """The key vault (infra/vault.py) before any producer starts: its public key file is what the SDKs
    seal personal data to (issue 11, item 4)."""
    from referral_bus.infra.vault import Vault
    vault = Vault.open(runtime.settings)
    print(f"key vault: {vault.path} (mode 0600); producers seal personal data to {vault.public_key_file}")


def _check_settings() -> int | None:
    """Before ``up`` starts anything: every setting valid (settings.py raises SettingError, exit 2),
    and the services' metrics addresses distinct and free — else one line per problem, exit 2."""
    from referral_bus.cli.common import EXIT_USAGE
    from referral_bus.infra import metrics
    from referral_bus.infra.settings import Settings, broker_kind
    settings = Settings()
    broker_kind()
    addresses = settings.metrics_addresses
    problems = metrics.check_free(addresses, {s: settings.metrics_setting(s) for s in addresses})
    problems += _gateway_address_problems(addresses)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        print("nothing started: the services' metrics addresses must be distinct and free", file=sys.stderr)
        return EXIT_USAGE
    for service, (host, port) in addresses.items():
        print(f"{service} metrics at http://{host}:{port}/metrics")
    return None


def _gateway_address_problems(metrics_addresses: dict[str, tuple[str, int]]) -> list[str]:
    """The HTTP gateway's address (REFERRAL_BUS_GATEWAY_ADDR): free, and no service's metrics port."""
    from referral_bus.gateway.server import GatewayAddressUnusable, check_free
    from referral_bus.infra.settings import gateway_settings
    address = gateway_settings().address
    for service, taken in metrics_addresses.items():
        if taken == address or (taken[1] == address[1] and "0.0.0.0" in (taken[0], address[0])):
            return [f"REFERRAL_BUS_GATEWAY_ADDR: the gateway would listen on {address[0]}:{address[1]}, where the "
                    f"{service}'s metrics do; give it its own port"]
    try:
        check_free(address)
    except GatewayAddressUnusable as exc:
        return [str(exc)]
    return []


def cmd_up(args: argparse.Namespace) -> int:
    """Broker (local Apache Kafka, durable, unless KAFKA_BOOTSTRAP_SERVERS is set), topics, router,
    SLA processor, projector,
    optionally the demonstration; runs until Ctrl-C, then stops everything."""
    from referral_bus.infra.kafka.acls import service_principal
    from referral_bus.infra.kafka.admin import apply_topics
    from referral_bus.infra.kafka.kafka_cluster import LocalKafkaCluster
    from referral_bus.infra.kafka.kafka_distribution import KafkaUnavailable
    from referral_bus.infra.kafka.local_broker import start_local_broker
    from referral_bus.infra.supervisor import Service, Supervisor

    def stop_on_sigterm(*_: object) -> None:
        raise KeyboardInterrupt  # run the same clean shutdown as Ctrl-C

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    if (refused := _check_settings()) is not None:
        return refused
    logs = _data_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    broker = None
    replication: int | None = None  # an external cluster gets topics.yaml's replication
    secured: LocalKafkaCluster | None = None
    if args.secure and os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        print("error: --secure starts its own secured broker; for an external cluster give each service its own "
              "credentials (REFERRAL_BUS_KAFKA_SECURITY …, docs/security.md) instead", file=sys.stderr)
        return 2
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        data = _data_dir() / ("kafka-secured" if args.secure else "kafka")
        print(f"starting the local broker{' (secured: SASL/SCRAM over TLS, ACLs)' if args.secure else ''} "
              f"(data in {data}; kept across restarts)…", flush=True)
        try:
            broker = start_local_broker(data, port=_broker_port(None), log_path=logs / "broker.log",
                                        secured=args.secure)
        except (KafkaUnavailable, TimeoutError, ValueError) as exc:
            print(f"broker not started: {exc}", file=sys.stderr)
            return 1
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap_servers
        if not os.environ.get("REFERRAL_BUS_DATABASE_URL"):
            # the read models of this broker's log live beside it: the plaintext and the secured local
            # broker hold different logs, and one database for both would diverge (docs/reliability.md)
            os.environ["REFERRAL_BUS_DATABASE_URL"] = f"sqlite:///{data / 'read-models.db'}"
        if args.secure:
            assert isinstance(broker, LocalKafkaCluster)
            secured = broker
            os.environ.update(secured.admin_security.as_env(secured.credentials.password_file("admin")))
        replication = 1
        print(f"broker at {broker.bootstrap_servers}")
    supervisor: Supervisor | None = None
    try:
        runtime = _runtime()
        report = apply_topics(runtime.settings.bootstrap_servers, runtime.catalogue.specs(),
                              security=runtime.settings.kafka_security, replication_factor=replication)
        if secured is not None:
            _secure(secured, runtime)
        _signing_keys(runtime)
        _vault(runtime)
        for notice in report.notices:
            print(f"note: {notice}")
        print(f"topics from topics.yaml: {len(report.created)} created, {len(report.unchanged)} already there")
        if not report.created:
            print(f"the case log holds {_case_log_size(runtime):,} events from earlier runs")
        for difference in report.differences:
            print(f"warning: topic differs from topics.yaml: {difference}", file=sys.stderr)
        services = []
        for service in ("router", "sla", "projections"):
            env = os.environ.copy()
            if secured is not None:  # each service under its own least-privilege principal
                env.update(_principal_env(secured, service_principal(service)))
            services.append(Service(service, [sys.executable, "-m", "referral_bus.cli", service, "run"], env,
                                    logs / f"{service}.log"))
        services.append(_gateway_service(runtime, secured, logs))
        supervisor = Supervisor(services, logs / "services.json", say=lambda line: print(line, flush=True))
        supervisor.start_all()
        for s in services:
            print(f"started {s.name} (pid {s.pid}, log {s.log}); restarted with back-off if it exits")
        print(f"read models: {runtime.settings.read_model_url}")
        if args.demo:
            from referral_bus.demo.scenario import run_demo
            print("running the demonstration (the first receipt waits for the services to join their groups)…")
            if secured is None:
                run_demo(runtime)
            else:  # every agency under its own credentials; the read-back as the auditor
                run_demo(_runtime_as(secured, service_principal("auditor")),
                         connect=lambda agency: _runtime_as(secured, agency))
        servers = runtime.settings.bootstrap_servers
        auditor = _principal_env(secured, service_principal("auditor")) if secured is not None else {}
        auditor["REFERRAL_BUS_DATABASE_URL"] = runtime.settings.read_model_url
        exports = "".join(f"\n  export {k}={v}" for k, v in auditor.items())
        print(f"""
The bus is running. Inspect it with, in another terminal:
  export KAFKA_BOOTSTRAP_SERVERS={servers}{exports}
  .venv/bin/referral-bus history CASE_ID --purpose "demo walk-through"   # a case rebuilt from the case log
  .venv/bin/referral-bus tail escalations --from-beginning
  .venv/bin/referral-bus sla explain CASE_ID --purpose "demo walk-through"
  .venv/bin/referral-bus verify
  .venv/bin/referral-bus told cam-almaty CASE_ID --purpose "demo walk-through"   # what CAM Almaty was told
  .venv/bin/referral-bus audit reads CASE_ID      # who read the case, when and why (every read is recorded)
  .venv/bin/referral-bus topics list
  .venv/bin/referral-bus services                 # is every service running; restarts so far
Press Ctrl-C to stop everything.""", flush=True)
        while True:   # until Ctrl-C or SIGTERM: a service that exits is restarted, never the end of the bus
            supervisor.poll()
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopping…")
        return 0
    finally:
        if supervisor is not None:
            supervisor.stop_all()
        if broker is not None:
            broker.stop()
        print("stopped.")


def cmd_services(args: argparse.Namespace) -> int:
    """What ``up``'s supervisor last recorded: each service's state, restarts and exits in a row."""
    import json
    path = _data_dir() / "logs" / "services.json"
    if not path.exists():
        print(f"error: {path} does not exist: is `referral-bus up` running with this data directory "
              "(REFERRAL_BUS_DATA_DIR)?", file=sys.stderr)
        return 2
    from referral_bus.infra.health import OK, read_health
    from referral_bus.infra.local_time import shown
    status = json.loads(path.read_text())
    health = read_health(_data_dir())
    for row in status["services"]:
        exit_note = f", last exit status {row['last_exit_status']}" if row["last_exit_status"] is not None else ""
        print(f"{row['service']:<12} {row['state']:<14} pid {row['pid'] or '-':<8} restarts {row['restarts']}"
              f"{exit_note}; log {row['log']}")
    for name, said in health.items():
        if said["state"] != OK:
            print(f"{name:<12} {said['state']:<14} since {shown(said['since'])}: {said['detail']}")
    print(f"as of {shown(status['at'])}")
    healthy = all(said["state"] == OK for said in health.values())
    return 0 if healthy and all(row["state"] == "running" for row in status["services"]) else 1


def register(sub: Any) -> None:
    p = sub.add_parser("up", help="start broker, topics, router and SLA processor; --demo runs the demonstration")
    p.add_argument("--demo", action="store_true")
    p.add_argument("--secure", action="store_true",
                   help="a secured local broker: SASL/SCRAM over TLS, ACLs, each service and agency its own "
                        "principal (docs/security.md)")
    p.set_defaults(func=cmd_up)
    p = sub.add_parser("services", help="the services `up` runs: running, restarting or stopped; restarts so far "
                                        "(exit status 1 unless all run)")
    p.set_defaults(func=cmd_services)
    p = sub.add_parser("broker", help="run Apache Kafka (KRaft) in the foreground, its log under the data directory")
    p.add_argument("--port", type=int, help="client port of the first node (default $REFERRAL_BUS_BROKER_PORT or 9092; "
                                             "the controller uses the next port)")
    p.add_argument("--nodes", type=int, default=1, choices=[1, 3],
                   help="3: a production-shaped cluster on this machine")
    p.set_defaults(func=cmd_broker)
    p = sub.add_parser("router", help="run the validator/router (Faust worker)")
    p.add_argument("action", choices=["run"])
    p.add_argument("--faust-log-level", default="warn", choices=["crit", "error", "warn", "info", "debug"])
    p.set_defaults(func=cmd_service)
    p = sub.add_parser("gateway", help="the HTTP gateway for agencies without a Kafka client (docs/gateway.md)")
    p.add_argument("action", nargs="?", choices=["run"], default="run")
    p.add_argument("--uvicorn-log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=cmd_gateway)
    p = sub.add_parser("projections", help="run the projector into the read models, or rebuild them from the log")
    p.add_argument("action", choices=["run", "rebuild"])
    p.set_defaults(func=cmd_projections)
