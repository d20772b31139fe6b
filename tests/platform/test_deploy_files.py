"""deploy/: the image, the compose file and the Kubernetes manifests agree with the code
they run, and keep to what a hardened installation needs.

Nothing is built or started. The files are parsed and checked against shared.settings
(services, ports, setting names), shared.topics (topics and partitions), pyproject.toml
(Python version, packages) and the commands deploy/entrypoint.py turns each role into,
which are the commands scripts/stack.py runs for `make run`. The Secrets kustomize makes
from files git ignores are read from the committed examples beside them.

What a hardened installation needs: no secret in the repository and nothing starting
without its secrets; every pod locked down (no service account token, no root, no
privilege escalation, no capabilities, a read-only root file system, bounded resources);
network policies that allow exactly the connections the code makes; each service its own
principal on the broker, with the ACLs the code needs; and connection pools that fit
PostgreSQL at the autoscalers' ceilings.
"""

from __future__ import annotations

import importlib
import importlib.util
import ipaddress
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from pydantic_settings import BaseSettings

from shared.settings import SERVICE_PORTS, SERVICES, WORKBENCH, WORKBENCH_PORT, Settings
from shared.topics import dlq, grants, topic_specs
from tests.conftest import ROOT

REPO = Path(ROOT)
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
APP_IMAGE = "complaint-platform"
KAFKA_IMAGE = "apache/kafka"
POSTGRES_IMAGE = "postgres"
# The trial object store for attachments (the release scripts/objectstore.sh builds).
SEAWEEDFS_IMAGE = "chrislusf/seaweedfs"
KAFKA_SCRIPTS = K8S / "kafka"
# Read by shared/topics.py, not by Settings.
TOPIC_VARIABLES = {
    "LIFECYCLE_PARTITIONS",
    "SMS_PARTITIONS",
    "ANALYTICS_PARTITIONS",
    "TOPIC_REPLICATION_FACTOR",
    "TOPIC_MIN_INSYNC_REPLICAS",
}
# Read by the images of the trial infrastructure, not by the platform: Kafka's own scripts
# (besides what broker.sh and access.sh read), and the postgres image's entry point.
KAFKA_TOOL_VARIABLES = {"KAFKA_HEAP_OPTS", "LOG_DIR"}
POSTGRES_VARIABLES = {
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_PASSWORD_FILE",
    "POSTGRES_DB",
    "PGDATA",
}
# SeaweedFS's S3 gateway: the one identity it lets in.
SEAWEEDFS_VARIABLES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
# Settings that are secrets: they come from a Secret (Kubernetes) or must be given
# (compose, `${VAR:?}`), never from a file in the repository.
SECRET_SETTING = re.compile(r"(PASSWORD|SECRET|TOKEN|ACCOUNT_SID|_KEY|DATABASE_URL)$")


# -- reading the files ------------------------------------------------------------------


# The module every API runs under (uvicorn's command line, shared.serve).
API_RUNNER = "shared.serve"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


ENTRYPOINT = _load("deploy_entrypoint", DEPLOY / "entrypoint.py")


def argv_of(args: list[str]) -> list[str]:
    """What the image runs for these container arguments."""
    return list(ENTRYPOINT.command(list(args), python="python"))


def _interpolate(value: Any) -> Any:
    """Compose's variable substitution with every variable unset: the defaults, and
    <NAME> for a variable that must be given (`${NAME:?why}`)."""
    if isinstance(value, str):
        return re.sub(
            r"\$\$|\$\{(\w+)(?::?-([^}]*)|:?\?[^}]*)?\}",
            lambda m: (
                "$"
                if m.group(0) == "$$"
                else f"<{m.group(1)}>"
                if re.match(r"\$\{\w+:?\?", m.group(0))
                else m.group(2) or ""
            ),
            value,
        )
    if isinstance(value, dict):
        return {k: _interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v) for v in value]
    return value


RAW_COMPOSE: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
COMPOSE: dict[str, Any] = _interpolate(RAW_COMPOSE)
SERVICES_IN_COMPOSE: dict[str, dict[str, Any]] = COMPOSE["services"]

KUSTOMIZATION: dict[str, Any] = yaml.safe_load((K8S / "kustomization.yaml").read_text())


def _example(source: str) -> Path:
    """The committed example of a file kustomize reads and git ignores."""
    return K8S / f"{source}.example"


def _env_file(path: Path) -> dict[str, str]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def _file_sources(entries: list[str]) -> dict[str, str]:
    """`key=path` or `path` entries of a generator: key -> path."""
    return dict(e.split("=", 1) if "=" in e else (Path(e).name, e) for e in entries)


def _generated() -> list[dict[str, Any]]:
    """The Secrets and ConfigMaps kustomize makes, with the examples' values."""
    made = []
    for kind, generators in (
        ("Secret", KUSTOMIZATION.get("secretGenerator", [])),
        ("ConfigMap", KUSTOMIZATION.get("configMapGenerator", [])),
    ):
        for generator in generators:
            values: dict[str, str] = {}
            for source in generator.get("envs", []):
                values.update(_env_file(_example(source)))
            for key, source in _file_sources(generator.get("files", [])).items():
                path = K8S / source
                values[key] = (path if path.exists() else _example(source)).read_text()
            field = "stringData" if kind == "Secret" else "data"
            made.append({"kind": kind, "metadata": {"name": generator["name"]}, field: values})
    return made


MANIFESTS: list[dict[str, Any]] = [
    doc
    for name in KUSTOMIZATION["resources"]
    for doc in yaml.safe_load_all((K8S / name).read_text())
    if doc
] + _generated()


def k8s(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in MANIFESTS if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} in deploy/k8s"
    return found[0]


def workloads() -> Iterator[dict[str, Any]]:
    return (d for d in MANIFESTS if d["kind"] in ("Deployment", "StatefulSet", "Job"))


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = workload["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def image_name(image: str) -> str:
    return image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image


def compose_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def k8s_env(container: dict[str, Any]) -> dict[str, str | None]:
    """A container's variables; None for values Kubernetes fills in (fieldRef, ...)."""
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(k8s("ConfigMap", source["configMapRef"]["name"])["data"])
        else:
            secret = k8s("Secret", source["secretRef"]["name"])
            assert "data" not in secret, "base64 data cannot be checked: use stringData"
            env.update(secret["stringData"])
    for item in container.get("env", []):
        ref = item.get("valueFrom", {})
        if "secretKeyRef" in ref:
            key = ref["secretKeyRef"]
            env[item["name"]] = k8s("Secret", key["name"])["stringData"][key["key"]]
        elif "configMapKeyRef" in ref:
            key = ref["configMapKeyRef"]
            env[item["name"]] = k8s("ConfigMap", key["name"])["data"][key["key"]]
        else:
            env[item["name"]] = item.get("value")
    return env


def env_sources(container: dict[str, Any]) -> dict[str, str]:
    """Where each of a container's variables comes from: `value`, `secret`, `configmap`
    or `field` (the later of two sources of one name wins, as in Kubernetes)."""
    sources: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            names = k8s("ConfigMap", source["configMapRef"]["name"])["data"]
            sources.update(dict.fromkeys(names, "configmap"))
        else:
            names = k8s("Secret", source["secretRef"]["name"])["stringData"]
            sources.update(dict.fromkeys(names, "secret"))
    for item in container.get("env", []):
        ref = item.get("valueFrom", {})
        sources[item["name"]] = (
            "secret"
            if "secretKeyRef" in ref
            else "configmap"
            if "configMapKeyRef" in ref
            else "field"
            if ref
            else "value"
        )
    return sources


def app_containers() -> Iterator[tuple[str, list[str], dict[str, str | None]]]:
    """(where, arguments, environment) of every platform container, compose and k8s."""
    for name, service in SERVICES_IN_COMPOSE.items():
        if image_name(service["image"]) == APP_IMAGE:
            yield f"compose {name}", service["command"], dict(compose_env(service))
    for workload in workloads():
        for container in containers(workload):
            if image_name(container["image"]) == APP_IMAGE:
                where = f"k8s {workload['kind']} {workload['metadata']['name']}"
                yield where, container["args"], k8s_env(container)


def uses_database(args: list[str]) -> bool:
    """Only the topics job works without the database."""
    return argv_of(args)[2] != "shared.topics"


def uvicorn_app(argv: list[str]) -> tuple[str, int]:
    assert argv[1:3] == ["-m", API_RUNNER], argv
    app = argv[argv.index("--factory") + 1]
    ports = [argv[i + 1] for i, a in enumerate(argv) if a == "--port"]
    return app, int(ports[-1])


def named_port(container: dict[str, Any], port: int | str) -> int | None:
    """The container port a probe or Service names (None: the container has no such port)."""
    if isinstance(port, int):
        return port
    ports = container.get("ports", [])
    return next((p["containerPort"] for p in ports if p.get("name") == port), None)


# -- one API and one worker per service, on the service's port -------------------------


def test_the_deploy_files_know_exactly_the_services_of_the_code() -> None:
    expected = {"migrate", "topics", f"{WORKBENCH}-api"} | {
        f"{s}-{r}" for s in SERVICES for r in ("api", "worker")
    }
    in_compose = {n for n, s in SERVICES_IN_COMPOSE.items() if image_name(s["image"]) == APP_IMAGE}
    in_k8s = {
        w["metadata"]["name"]
        for w in workloads()
        if any(image_name(c["image"]) == APP_IMAGE for c in containers(w))
    }
    assert in_compose == expected
    assert in_k8s == expected


@pytest.mark.parametrize("service", SERVICES)
def test_compose_runs_the_service_api_and_worker_as_make_run_does(service: str) -> None:
    port = SERVICE_PORTS[service]
    api = SERVICES_IN_COMPOSE[f"{service}-api"]
    assert uvicorn_app(argv_of(api["command"])) == (f"services.{service}.main:create_app", port)
    published = [str(p).rsplit(":", 1) for p in api["ports"]]
    assert [int(container) for _, container in published] == [port]
    test = api["healthcheck"]["test"]
    assert test[0] == "CMD" and test[-1] == f"http://127.0.0.1:{port}/readyz", test

    worker = SERVICES_IN_COMPOSE[f"{service}-worker"]
    assert argv_of(worker["command"]) == ["python", "-m", f"services.{service}.worker"]
    assert "ports" not in worker


def test_compose_runs_the_workbench_as_make_run_does() -> None:
    api = SERVICES_IN_COMPOSE[f"{WORKBENCH}-api"]
    app = (f"services.{WORKBENCH}.main:create_app", WORKBENCH_PORT)
    assert uvicorn_app(argv_of(api["command"])) == app
    assert [int(str(p).rsplit(":", 1)[1]) for p in api["ports"]] == [WORKBENCH_PORT]
    assert api["healthcheck"]["test"][-1] == f"http://127.0.0.1:{WORKBENCH_PORT}/readyz"
    env = compose_env(api)
    for service, port in SERVICE_PORTS.items():
        url = urlsplit(env[f"WORKBENCH_{service.upper()}_URL"])
        assert (url.hostname, url.port) == (f"{service}-api", port)
        assert url.hostname in SERVICES_IN_COMPOSE
    assert compose_env(SERVICES_IN_COMPOSE["notify-worker"])["NOTIFY_WORKBENCH_URL"]


@pytest.mark.parametrize("service", [*SERVICES, WORKBENCH])
def test_k8s_runs_the_service_api_behind_a_service_and_probes(service: str) -> None:
    port = SERVICE_PORTS.get(service, WORKBENCH_PORT)
    api = k8s("Deployment", f"{service}-api")
    [container] = containers(api)
    assert uvicorn_app(argv_of(container["args"])) == (f"services.{service}.main:create_app", port)
    assert [p["containerPort"] for p in container["ports"]] == [port]

    ready, alive = container["readinessProbe"]["httpGet"], container["livenessProbe"]["httpGet"]
    assert ready["path"] == "/readyz" and named_port(container, ready["port"]) == port
    assert alive["path"] == "/healthz" and named_port(container, alive["port"]) == port
    # A failing readiness check may take a few seconds (the Kafka probe's own timeout).
    assert container["readinessProbe"]["timeoutSeconds"] >= 4

    pod_labels = api["spec"]["template"]["metadata"]["labels"]
    fronts = [
        d
        for d in MANIFESTS
        if d["kind"] == "Service" and d["spec"]["selector"].items() <= pod_labels.items()
    ]
    assert len(fronts) == 1, f"{service}-api pods behind {len(fronts)} Services"
    [svc_port] = fronts[0]["spec"]["ports"]
    assert svc_port["port"] == port
    assert named_port(container, svc_port["targetPort"]) == port


@pytest.mark.parametrize("service", SERVICES)
def test_k8s_scales_each_worker_up_to_the_partitions_it_consumes(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = k8s("Deployment", f"{service}-worker")
    [container] = containers(worker)
    assert argv_of(container["args"]) == ["python", "-m", f"services.{service}.worker"]
    assert "ports" not in container
    # The autoscaler owns the size: a `replicas` here would reset it on every apply.
    assert "replicas" not in worker["spec"]
    assert worker["spec"]["strategy"]["type"] == "RollingUpdate"
    assert container["resources"]["requests"]["cpu"], "CPU utilisation needs a request"

    hpa = k8s("HorizontalPodAutoscaler", f"{service}-worker")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", f"{service}-worker")
    # At most one consumer per partition of the topics this worker's code consumes, as
    # the topics job creates them; at least two, so a killed pod leaves one working.
    [topics_job] = containers(k8s("Job", "topics"))
    partitions = {s.name: s.partitions for s in _specs_with(k8s_env(topics_job), monkeypatch)}
    spec = importlib.import_module(f"services.{service}.worker").SPEC
    most = max(partitions[topic] for topic in spec.topics)
    assert hpa["spec"]["minReplicas"] == 2
    assert hpa["spec"]["maxReplicas"] == most


def test_apis_and_workers_run_the_commands_of_make_run() -> None:
    stack = _load("stack_script", REPO / "scripts" / "stack.py")
    local = {proc.name: proc.argv[1:] for proc in stack.processes(1)}

    def without_host(argv: list[str]) -> list[str]:
        # Local runs listen on 127.0.0.1; containers on every interface.
        i = argv.index("--host")
        return argv[:i] + argv[i + 2 :]

    for service in SERVICES:
        api = argv_of(["api", service])[1:]
        assert without_host(api) == without_host(local[f"{service}-api"])
        assert argv_of(["worker", service])[1:] == local[f"{service}-worker"]
    workbench = argv_of(["api", WORKBENCH])[1:]
    assert without_host(workbench) == without_host(local[WORKBENCH])


def test_every_command_runs_a_module_that_exists() -> None:
    for where, args, _ in app_containers():
        argv = argv_of(args)
        assert argv, f"{where}: {args} only prints the usage"
        assert argv[0] == "python" and argv[1] == "-m", f"{where}: {argv}"
        assert importlib.util.find_spec(argv[2]) is not None, f"{where}: no module {argv[2]}"
        if argv[2] == API_RUNNER:
            module, attr = uvicorn_app(argv)[0].split(":")
            assert importlib.util.find_spec(module) is not None, f"{where}: no module {module}"
            assert callable(getattr(importlib.import_module(module), attr)), where


def test_the_jobs_run_the_migrations_and_topics_commands_of_make_run() -> None:
    stack = (REPO / "scripts" / "stack.py").read_text()
    assert '"shared.migrations", "upgrade", "all"' in stack
    assert "-m shared.topics ensure" in (REPO / "scripts" / "kafka.sh").read_text()
    migrate = ["python", "-m", "shared.migrations", "upgrade", "all"]
    topics = ["python", "-m", "shared.topics", "ensure"]
    assert argv_of(SERVICES_IN_COMPOSE["migrate"]["command"]) == migrate
    assert argv_of(SERVICES_IN_COMPOSE["topics"]["command"]) == topics
    [k8s_migrate] = containers(k8s("Job", "migrate"))
    [k8s_topics] = containers(k8s("Job", "topics"))
    assert argv_of(k8s_migrate["args"]) == migrate
    assert argv_of(k8s_topics["args"]) == topics


def test_the_entrypoint_roles() -> None:
    assert argv_of([]) == [] and argv_of(["usage"]) == []
    assert argv_of(["migrate", "intake"])[-2:] == ["upgrade", "intake"]
    assert argv_of(["token", "--role", "agent", "--staff", "A001"]) == [
        *["python", "-m", "shared.auth.cli", "issue"],
        *["--role", "agent", "--staff", "A001"],
    ]
    assert argv_of(["api", "intake", "--workers", "2"])[-2:] == ["--workers", "2"]
    assert argv_of(["bash"]) == ["bash"]
    bad_ones = (["api"], ["api", "nope"], ["worker", "intake", "--x"], ["migrate", "a", "b"])
    for bad in (*bad_ones, ["worker", WORKBENCH]):
        with pytest.raises(ENTRYPOINT.UsageError):
            argv_of(bad)


# -- topics -------------------------------------------------------------------------------


def _specs_with(env: dict[str, str | None], monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    with monkeypatch.context() as m:
        for name in TOPIC_VARIABLES:
            m.delenv(name, raising=False)
        for name, value in env.items():
            if name in TOPIC_VARIABLES and value is not None:
                m.setenv(name, value)
        return topic_specs()


def test_the_topics_jobs_create_the_topics_and_partitions_of_shared_topics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expected = _specs_with({}, monkeypatch)
    assert {(s.name, s.partitions) for s in expected} == {
        ("intake.events", 6),
        ("complaints.lifecycle", 6),
        ("sms.events", 3),
        ("analytics.events", 1),
        ("intake.events.dlq", 1),
        ("complaints.lifecycle.dlq", 1),
        ("sms.events.dlq", 1),
        ("analytics.events.dlq", 1),
    }
    [k8s_topics] = containers(k8s("Job", "topics"))
    for env in (compose_env(SERVICES_IN_COMPOSE["topics"]), k8s_env(k8s_topics)):
        assert _specs_with(dict(env), monkeypatch) == expected


def _broker_properties() -> dict[str, str]:
    lines = (KAFKA_SCRIPTS / "server.properties").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_both_trial_brokers_run_the_one_configuration_and_start_script() -> None:
    config_dir = "/etc/kafka/config"
    command = ["/bin/sh", f"{config_dir}/broker.sh"]
    compose = RAW_COMPOSE["services"]["kafka"]
    assert compose["command"] == command
    mounted = {v.split(":")[1]: v.split(":")[0] for v in compose["volumes"]}
    for name in ("server.properties", "broker.sh"):
        assert (DEPLOY / mounted[f"{config_dir}/{name}"]).resolve() == KAFKA_SCRIPTS / name

    statefulset = k8s("StatefulSet", "kafka")
    [kafka] = containers(statefulset)
    assert kafka["command"] == command
    [mount] = [m for m in kafka["volumeMounts"] if m["mountPath"] == config_dir]
    volumes = {v["name"]: v for v in statefulset["spec"]["template"]["spec"]["volumes"]}
    config_map = volumes[mount["name"]]["configMap"]["name"]
    [generator] = [g for g in KUSTOMIZATION["configMapGenerator"] if g["name"] == config_map]
    assert set(generator["files"]) == {"kafka/server.properties", "kafka/broker.sh"}


def test_the_broker_creates_no_topic_by_itself_and_refuses_whom_no_acl_allows() -> None:
    # Otherwise a consumer or producer racing the topics job gets a one-partition topic.
    properties = _broker_properties()
    assert properties["auto.create.topics.enable"] == "false"
    assert properties["process.roles"] == "broker,controller"
    assert properties["authorizer.class.name"].endswith("StandardAuthorizer")
    assert properties["allow.everyone.if.no.acl.found"] == "false"
    assert properties["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"


def _listeners(value: str) -> dict[str, str]:
    """`NAME://host:port,...` as name -> host:port."""
    return dict(item.split("://", 1) for item in value.split(","))


def _protocols(value: str) -> dict[str, str]:
    """`NAME:PROTOCOL,...` as name -> protocol."""
    return dict(item.split(":", 1) for item in value.split(","))


def test_clients_reach_the_brokers_only_over_sasl_ssl() -> None:
    """The loopback listeners carry the node's own traffic, whose unauthenticated
    principal is a super user: nothing outside the container may reach them."""
    [kafka] = containers(k8s("StatefulSet", "kafka"))
    for env in (compose_env(SERVICES_IN_COMPOSE["kafka"]), k8s_env(kafka)):
        protocols = _protocols(env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"] or "")
        for name, address in _listeners(env["KAFKA_LISTENERS"] or "").items():
            if protocols[name] != "SASL_SSL":
                assert address.startswith("127.0.0.1:"), f"{name} listens on {address}"
        for name, address in _listeners(env["KAFKA_ADVERTISED_LISTENERS"] or "").items():
            if protocols[name] != "SASL_SSL":
                assert address.startswith("127.0.0.1:"), f"{name} advertised as {address}"
    assert "User:ANONYMOUS" in _broker_properties()["super.users"].split(";")


def test_the_k8s_broker_advertises_a_name_its_headless_service_resolves() -> None:
    statefulset = k8s("StatefulSet", "kafka")
    service = k8s("Service", statefulset["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None"
    [kafka] = containers(statefulset)
    env = k8s_env(kafka)
    protocols = _protocols(env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"] or "")
    advertised = _listeners(env["KAFKA_ADVERTISED_LISTENERS"] or "")
    [client] = [address for name, address in advertised.items() if protocols[name] == "SASL_SSL"]
    name = service["metadata"]["name"]
    ports = [p["port"] for p in service["spec"]["ports"]]
    assert client in [f"$(POD_NAME).{name}.$(POD_NAMESPACE).svc:{p}" for p in ports]


# -- settings -----------------------------------------------------------------------------


def _platform_variables() -> set[str]:
    """Every variable the platform reads: Settings, each service's own config, topics."""
    names = {name.upper() for name in Settings.model_fields}
    for service in (*SERVICES, WORKBENCH):
        try:
            config = importlib.import_module(f"services.{service}.config")
        except ModuleNotFoundError:
            continue
        for obj in vars(config).values():
            if isinstance(obj, type) and issubclass(obj, BaseSettings) and obj is not BaseSettings:
                prefix = obj.model_config.get("env_prefix", "")
                names |= {f"{prefix}{name}".upper() for name in obj.model_fields}
    return names | TOPIC_VARIABLES


def test_every_variable_given_to_a_container_is_one_it_reads() -> None:
    known = _platform_variables()
    for where, _, env in app_containers():
        assert not set(env) - known, f"{where}: not settings: {sorted(set(env) - known)}"

    infra: list[tuple[str, dict[str, Any], set[str]]] = [
        (f"compose {n}", RAW_COMPOSE["services"][n], set(compose_env(s)))
        for n, s in SERVICES_IN_COMPOSE.items()
        if image_name(s["image"]) != APP_IMAGE
    ]
    infra += [
        (f"k8s {w['metadata']['name']}", c, set(k8s_env(c)))
        for w in workloads()
        for c in containers(w)
        if image_name(c["image"]) != APP_IMAGE
    ]
    for where, container, names in infra:
        image = container["image"]
        if image_name(image) == KAFKA_IMAGE:
            # A variable broker.sh or access.sh reads, one Kafka's scripts read, or one
            # another variable is made of ($(POD_NAME)).
            script = (KAFKA_SCRIPTS / Path(container["command"][-1]).name).read_text()
            read = set(re.findall(r"\$\{?(\w+)", script)) | KAFKA_TOOL_VARIABLES
            values = " ".join(str(v) for v in (container.get("env") or {}))
            read |= set(re.findall(r"\$\((\w+)\)", values))
            if "KAFKA_PASSWORDS_DIR" in read:  # or else KAFKA_<PRINCIPAL>_PASSWORD
                read |= {n for n in names if re.fullmatch(r"KAFKA_[A-Z]+_PASSWORD", n)}
            unknown = names - read
        elif image_name(image) == POSTGRES_IMAGE:
            unknown = names - POSTGRES_VARIABLES
        elif image_name(image) == SEAWEEDFS_IMAGE:
            unknown = names - SEAWEEDFS_VARIABLES
        else:
            pytest.fail(f"{where}: unexpected image {image}")
        assert not unknown, f"{where}: {sorted(unknown)}"


@pytest.fixture
def settings_from(monkeypatch: pytest.MonkeyPatch) -> Any:
    def make(env: dict[str, str | None]) -> Settings:
        for name in Settings.model_fields:
            monkeypatch.delenv(name.upper(), raising=False)
        for name, value in env.items():
            if value is not None:
                monkeypatch.setenv(name, value)
        return Settings()

    return make


def test_every_platform_container_gets_valid_settings_for_postgres_and_kafka(
    settings_from: Any,
) -> None:
    for where, args, env in app_containers():
        settings = settings_from(env)  # raises on a value Settings refuses
        assert settings.environment == "production", where
        assert settings.kafka_bootstrap_servers, where
        if uses_database(args):
            for store in ("auth", *SERVICES):
                url = settings.database_url_for(store)
                assert url.startswith("postgresql+psycopg://"), where


def test_compose_points_the_platform_at_its_postgres_and_kafka(settings_from: Any) -> None:
    postgres = compose_env(SERVICES_IN_COMPOSE["postgres"])
    advertised = compose_env(SERVICES_IN_COMPOSE["kafka"])["KAFKA_ADVERTISED_LISTENERS"]
    for where, args, env in app_containers():
        if not where.startswith("compose"):
            continue
        settings = settings_from(env)
        if uses_database(args):
            url = urlsplit(settings.database_url_for("intake"))
            assert url.hostname in SERVICES_IN_COMPOSE and url.port == 5432, where
            assert (url.username, url.password, url.path.lstrip("/")) == (
                postgres["POSTGRES_USER"],
                postgres["POSTGRES_PASSWORD"],
                postgres["POSTGRES_DB"],
            ), where
        for server in settings.kafka_bootstrap_servers.split(","):
            assert server.split(":")[0] in SERVICES_IN_COMPOSE, where
            assert f"://{server}" in advertised, f"{where}: {server} not advertised"


def test_k8s_points_the_platform_at_its_postgres_and_kafka(settings_from: Any) -> None:
    [server] = containers(k8s("StatefulSet", "postgres"))
    postgres = {**k8s_env(server), **k8s("Secret", "postgres")["stringData"]}

    def service_port(host: str, port: int) -> None:
        service = k8s("Service", host)
        assert port in [p["port"] for p in service["spec"]["ports"]], f"{host}:{port}"

    for where, args, env in app_containers():
        if not where.startswith("k8s"):
            continue
        settings = settings_from(env)
        if uses_database(args):
            url = urlsplit(settings.database_url_for("intake"))
            service_port(url.hostname or "", url.port or 5432)
            assert (url.username, url.password, url.path.lstrip("/")) == (
                postgres["POSTGRES_USER"],
                postgres["POSTGRES_PASSWORD"],
                postgres["POSTGRES_DB"],
            ), where
        for server in settings.kafka_bootstrap_servers.split(","):
            host, port = server.split(":")
            service_port(host, int(port))


# -- compose: start order and health checks -------------------------------------------------


def test_compose_starts_the_services_after_migrations_topics_and_infrastructure() -> None:
    for name, service in SERVICES_IN_COMPOSE.items():
        for target, dep in (service.get("depends_on") or {}).items():
            assert target in SERVICES_IN_COMPOSE, f"{name} depends on unknown {target}"
            if dep["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES_IN_COMPOSE[target], f"{target}: no healthcheck"
            elif dep["condition"] == "service_completed_successfully":
                assert SERVICES_IN_COMPOSE[target].get("restart") == "no", target
    for service in SERVICES:
        for role in ("api", "worker"):
            deps = SERVICES_IN_COMPOSE[f"{service}-{role}"]["depends_on"]
            # intake's API keeps attachments in the object store.
            store = (
                {"objectstore": "service_healthy"} if f"{service}-{role}" == "intake-api" else {}
            )
            assert {k: v["condition"] for k, v in deps.items()} == {
                "postgres": "service_healthy",
                "kafka": "service_healthy",
                "migrate": "service_completed_successfully",
                "topics": "service_completed_successfully",
                **store,
            }


# -- kubernetes: the manifests hang together ------------------------------------------------


def test_kustomization_lists_every_manifest_in_one_namespace() -> None:
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(KUSTOMIZATION["resources"]) == files
    [namespace] = [d for d in MANIFESTS if d["kind"] == "Namespace"]
    assert namespace["metadata"]["name"] == KUSTOMIZATION["namespace"]
    assert all("namespace" not in d["metadata"] for d in MANIFESTS)


def test_kafka_and_postgres_run_as_stateful_sets_for_trials() -> None:
    for name in ("kafka", "postgres"):
        statefulset = k8s("StatefulSet", name)
        assert statefulset["spec"]["serviceName"] == name
        assert statefulset["spec"]["volumeClaimTemplates"]
        assert "FOR TRIALS ONLY" in (K8S / f"{name}.yaml").read_text()


def test_pods_get_no_service_link_variables() -> None:
    # The services read settings prefixed with their name (INTAKE_*, ESCALATION_*) and the
    # Kafka image turns every KAFKA_* variable into a broker property: Kubernetes must not
    # add variables named after the Services (INTAKE_PORT, KAFKA_PORT, ...).
    for workload in workloads():
        pod = workload["spec"]["template"]["spec"]
        assert pod["enableServiceLinks"] is False, workload["metadata"]["name"]


def test_services_and_workloads_select_their_own_pods() -> None:
    for workload in workloads():
        if workload["kind"] == "Job":
            continue
        selector = workload["spec"]["selector"]["matchLabels"]
        assert selector.items() <= workload["spec"]["template"]["metadata"]["labels"].items()
    for service in (d for d in MANIFESTS if d["kind"] == "Service"):
        selector = service["spec"]["selector"]
        chosen = [
            (w, c)
            for w in workloads()
            if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()
            for c in containers(w)
        ]
        assert chosen, f"Service {service['metadata']['name']} selects no pods"
        for port in service["spec"]["ports"]:
            assert any(named_port(c, port["targetPort"]) for _, c in chosen), port


# -- the image ------------------------------------------------------------------------------


def _dockerfile() -> str:
    return (DEPLOY / "Dockerfile").read_text()


def test_the_image_python_satisfies_requires_python() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    match = re.search(r"^ARG PYTHON_IMAGE=python:(\d+\.\d+)-slim$", _dockerfile(), re.M)
    assert match, "deploy/Dockerfile: ARG PYTHON_IMAGE=python:<version>-slim"
    assert match.group(1) in SpecifierSet(pyproject["project"]["requires-python"])


def test_the_image_installs_the_lock_file_with_the_pinned_uv_as_a_non_root_user() -> None:
    dockerfile = _dockerfile()
    install = (REPO / "scripts" / "install.sh").read_text()
    uv = re.search(r"^UV_VERSION=(\S+)$", install, re.M)
    assert uv, "scripts/install.sh pins UV_VERSION"
    assert f"ARG UV_VERSION={uv.group(1)}" in dockerfile
    assert re.search(r"uv sync --locked --no-dev\b", dockerfile)

    uid = re.search(r"^ARG APP_UID=(\d+)$", dockerfile, re.M)
    assert uid and int(uid.group(1)) > 0
    assert re.search(r"^USER \$\{APP_UID\}:\$\{APP_UID\}$", dockerfile, re.M)
    for workload in workloads():
        if any(image_name(c["image"]) == APP_IMAGE for c in containers(workload)):
            security = workload["spec"]["template"]["spec"]["securityContext"]
            assert security["runAsUser"] == int(uid.group(1)), workload["metadata"]["name"]
            assert security["runAsNonRoot"] is True


def test_the_image_holds_every_package_and_the_entrypoint() -> None:
    dockerfile = _dockerfile()
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    copied = re.findall(r"^COPY (?!--from)(\S+) \S+$", dockerfile, re.M)
    assert set(packages) <= set(copied)
    assert 'ENTRYPOINT ["python", "/app/deploy/entrypoint.py"]' in dockerfile
    assert "deploy/entrypoint.py" in copied
    # The build context is cut down to what the image copies: each source must stay in.
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    kept = {line[1:] for line in ignore if line.startswith("!")}
    first_copy = re.search(r"^COPY (.+) \./$", dockerfile, re.M)
    assert first_copy
    for source in [*copied, *first_copy.group(1).split()]:
        assert source in kept, f"{source} is left out of the build context"
        assert (REPO / source).exists(), source


def test_the_image_keeps_the_files_the_code_reads_beside_it() -> None:
    """Page templates, dashboard assets and SMS templates are read from the package
    folders at run time, so no pattern of the build context may leave one out."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    # "**" leaves everything out and each "!" line takes a source back in; what follows
    # them leaves files out again.
    dropped = [line for line in ignore if line and line != "**" and line[0] not in "#!"]
    read = [
        path.relative_to(REPO).as_posix()
        for package in packages
        for path in (REPO / package).rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc")
        if "__pycache__" not in path.parts
    ]
    assert "services/analytics/reports/templates/department.html" in read
    for path in read:
        parts = path.split("/")
        # A pattern that names a folder leaves out everything in it.
        within = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        left_out = [p for p in dropped for w in within if fnmatch(w, p)]
        assert not left_out, f"{path} is left out of the image by {left_out}"


def test_image_tags_and_versions_match_the_project() -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    app_images = {s["image"] for s in SERVICES_IN_COMPOSE.values()}
    assert f"{APP_IMAGE}:{version}" in app_images
    [image] = [i for i in KUSTOMIZATION["images"] if i["name"] == APP_IMAGE]
    assert image["newTag"] == version

    kafka_version = re.search(
        r'^KAFKA_VERSION="\$\{KAFKA_VERSION:-(\S+)\}"$',
        (REPO / "scripts" / "env.sh").read_text(),
        re.M,
    )
    assert kafka_version, "scripts/env.sh sets KAFKA_VERSION"
    [kafka] = containers(k8s("StatefulSet", "kafka"))
    [postgres] = containers(k8s("StatefulSet", "postgres"))
    assert SERVICES_IN_COMPOSE["kafka"]["image"] == kafka["image"]
    assert kafka["image"] == f"{KAFKA_IMAGE}:{kafka_version.group(1)}"
    assert SERVICES_IN_COMPOSE["postgres"]["image"] == postgres["image"] == "postgres:15"
    [store] = containers(k8s("StatefulSet", "objectstore"))
    assert SERVICES_IN_COMPOSE["objectstore"]["image"] == store["image"]
    assert image_name(store["image"]) == SEAWEEDFS_IMAGE


# -- secrets: none in the repository, none missing at start -----------------------------


def _tracked(folder: Path) -> list[Path]:
    """The files git tracks under `folder` (the secrets beside them are ignored); every
    file when the tree is not a git checkout."""
    git = shutil.which("git")
    if git is not None:
        listed = subprocess.run(
            [git, "ls-files", "-z", str(folder.relative_to(REPO))],
            cwd=REPO,
            capture_output=True,
            check=False,
        )
        if listed.returncode == 0:
            return [REPO / name for name in listed.stdout.decode().split("\0") if name]
    return [p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".example")]


# A value is a reference, not a secret, when it names where the secret comes from.
_REFERENCE = re.compile(r"^(\\?\$|<)|^$")
_LITERAL_SECRETS = [
    # postgresql://user:password@host
    re.compile(r"://[^/\s:@]+:(?P<value>[^@\s/]*)@"),
    # PASSWORD: x, password=x, "token": "x", password="x" (not automountServiceAccountToken)
    re.compile(
        r"(?i)(?<![a-z])(?:password|passwd|secret|token|account_sid)[\"']?\s*[:=]\s*[\"']?"
        r"(?P<value>[^\s\"'#,;\]]*)"
    ),
]
# A default for a secret in compose (`${POSTGRES_PASSWORD:-complaints}`).
_SECRET_DEFAULT = re.compile(r"\$\{\w*(?:PASSWORD|SECRET|TOKEN|ACCOUNT_SID):?-[^}]")


def test_no_password_or_token_is_committed_under_deploy() -> None:
    found = []
    for path in _tracked(DEPLOY):
        text = path.read_text(errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            if line.lstrip().startswith("#"):
                continue
            # What compose substitutes is a reference, whatever its message says.
            bare = re.sub(r"\$\{\w+:?\?[^}]*\}", "$REF", line)
            for pattern in _LITERAL_SECRETS:
                for match in pattern.finditer(bare):
                    if not _REFERENCE.match(match.group("value")):
                        found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
            if _SECRET_DEFAULT.search(line):
                found.append(f"{path.relative_to(REPO)}:{number}: a default: {line.strip()}")
    assert not found, "\n".join(found)
    # Nor any Secret with its values in a manifest.
    for name in KUSTOMIZATION["resources"]:
        for doc in yaml.safe_load_all((K8S / name).read_text()):
            assert not (doc and doc["kind"] == "Secret"), f"{name}: a Secret with its values"


def test_the_secrets_kustomize_reads_are_ignored_by_git_and_have_committed_examples() -> None:
    git = shutil.which("git")
    generators = [*KUSTOMIZATION["secretGenerator"], *KUSTOMIZATION["configMapGenerator"]]
    sources = [
        source
        for generator in generators
        for source in [
            *generator.get("envs", []),
            *_file_sources(generator.get("files", [])).values(),
        ]
        if source.startswith("secrets/")
    ]
    assert {"secrets/database.env", "secrets/kafka-tls.key", "secrets/kafka-ca.crt"} <= set(sources)
    tracked = {p.relative_to(K8S).as_posix() for p in _tracked(K8S)}
    for source in sources:
        assert f"{source}.example" in tracked, f"{source}: no committed example"
        assert source not in tracked, f"{source} is committed"
        if git is not None:
            ignored = subprocess.run(
                [git, "check-ignore", "-q", "--no-index", str(K8S / source)], cwd=REPO, check=False
            )
            assert ignored.returncode == 0, f"{source} is not ignored by git"
    # The example of an env file names every key, with no value.
    for generator in KUSTOMIZATION["secretGenerator"]:
        for source in generator.get("envs", []):
            values = _env_file(_example(source))
            assert values, source
            assert all(not v or v.endswith(":@postgres:5432/complaints") for v in values.values())


def _secret_names(names: Iterator[str] | set[str]) -> set[str]:
    return {name for name in names if SECRET_SETTING.search(name)}


def test_compose_refuses_to_start_without_each_secret() -> None:
    """Every secret a container is given is `${VAR:?why}`: unset, compose stops."""
    required = re.compile(r"\$\{(\w+):\?[^}]+\}")
    given = set()
    for name, service in RAW_COMPOSE["services"].items():
        for variable, value in compose_env(service).items():
            if not SECRET_SETTING.search(variable) and variable != "POSTGRES_PASSWORD":
                continue
            if variable == "DATABASE_URL":
                found = re.fullmatch(r"\w+://\w+:(\$\{[^}]+\})@[^@]+", value)
                value = found.group(1) if found else value
            match = required.fullmatch(value)
            assert match, f"{name}: {variable} = {value}"
            given.add(match.group(1))
    principals = {rule[0] for rule in _acl_rules()} | {"admin"}
    assert given >= {"POSTGRES_PASSWORD", "NOTIFY_TWILIO_AUTH_TOKEN"} | {
        f"KAFKA_{p.upper()}_PASSWORD" for p in principals
    }


def test_k8s_containers_get_their_secrets_only_from_secrets() -> None:
    for workload in workloads():
        for container in containers(workload):
            where = f"{workload['metadata']['name']}/{container['name']}"
            for name, source in env_sources(container).items():
                if SECRET_SETTING.search(name):
                    assert source == "secret", f"{where}: {name} from {source}"


# -- every pod locked down ---------------------------------------------------------------


def _image_reference(container: dict[str, Any]) -> str:
    """The image a container runs once kustomize has set the tags."""
    image = container["image"]
    for change in KUSTOMIZATION.get("images", []):
        if image == change["name"]:
            image = f"{change.get('newName', image)}:{change['newTag']}"
    return str(image)


def test_every_pod_runs_without_token_root_privileges_or_a_writable_root() -> None:
    for workload in workloads():
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        # None of them talks to the Kubernetes API.
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] > 0, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for volume in volumes.values():
            if "emptyDir" in volume:
                assert volume["emptyDir"].get("sizeLimit"), f"{name}: {volume['name']} unbounded"
        for container in containers(workload):
            where = f"{name}/{container['name']}"
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"] == {"drop": ["ALL"]}, where
            assert security["readOnlyRootFilesystem"] is True, where
            # What the process writes goes to a volume of the pod's own.
            mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
            assert "/tmp" in mounts and "emptyDir" in volumes[mounts["/tmp"]["name"]], where
            resources = container["resources"]
            for kind in ("cpu", "memory", "ephemeral-storage"):
                assert resources["requests"][kind] and resources["limits"][kind], f"{where}: {kind}"
            image = _image_reference(container)
            tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
            assert tag and tag != "latest", f"{where}: {image} is not pinned"


def test_every_deployment_is_autoscaled_within_bounds_and_has_a_disruption_budget() -> None:
    for deployment in (w for w in workloads() if w["kind"] == "Deployment"):
        name = deployment["metadata"]["name"]
        assert "replicas" not in deployment["spec"], f"{name}: the autoscaler sizes it"
        hpa = k8s("HorizontalPodAutoscaler", name)
        assert hpa["spec"]["scaleTargetRef"]["name"] == name
        assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"], name
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        budgets = [
            d
            for d in MANIFESTS
            if d["kind"] == "PodDisruptionBudget"
            and d["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(budgets) == 1, f"{name}: {len(budgets)} disruption budgets"


def test_compose_platform_containers_run_read_only_without_capabilities() -> None:
    for name, service in SERVICES_IN_COMPOSE.items():
        if image_name(service["image"]) in (APP_IMAGE, KAFKA_IMAGE):
            assert service.get("read_only") is True, name
            assert "/tmp" in service.get("tmpfs", []), name
        if image_name(service["image"]) == APP_IMAGE:
            assert service.get("cap_drop") == ["ALL"], name
            assert "no-new-privileges:true" in service.get("security_opt", []), name


# -- Kafka: each service its own principal, the ACLs the code needs ------------------------


def _acl_rules() -> set[tuple[str, str, str, str]]:
    """(principal, operation, resource, name) of kafka/acls.txt."""
    lines = (KAFKA_SCRIPTS / "acls.txt").read_text().splitlines()
    rules = [line.split("#", 1)[0].split() for line in lines]
    return {(r[0], r[1], r[2], r[3]) for r in rules if len(r) == 4}


def _consumed(service: str) -> list[str]:
    return list(importlib.import_module(f"services.{service}.worker").SPEC.topics)


def test_the_acls_grant_exactly_what_the_code_does_on_the_broker() -> None:
    # The services' rules are shared.topics.grants(), the ones `python -m shared.topics
    # acls` applies to a local broker: topics and groups (a consumer group carries its
    # service's name; the trial file grants that name, the code a prefix of it). The
    # cluster-wide rules are not needed on Kafka 4 (Write on a topic covers an idempotent
    # producer; describing the cluster needs no ACL).
    expected = {
        (g.principal.removeprefix("User:"), g.operation.title(), g.resource.lower(), g.name)
        for g in grants()
        if g.resource != "CLUSTER"
    }
    for service in SERVICES:
        # Its worker's consumer group carries its name, and it reads what its worker
        # consumes and dead-letters there (shared.consumer).
        assert (service, "Read", "group", service) in expected
        for topic in _consumed(service):
            assert {(service, "Read", "topic", topic), (service, "Write", "topic", dlq(topic))} <= (
                expected
            )
    for spec in topic_specs():
        expected |= {
            ("topics", "Create", "topic", spec.name),
            ("topics", "Describe", "topic", spec.name),
        }
    assert _acl_rules() == expected


def _kafka_principal(args: list[str]) -> str | None:
    """The principal a platform container signs in to the broker as (None: it does not
    use Kafka): a service's API and worker as the service, the topics job as `topics`."""
    argv = argv_of(args)
    if argv[2] == "shared.topics":
        return "topics"
    if argv[2] == API_RUNNER:
        service = uvicorn_app(argv)[0].split(".")[1]
        return service if service in SERVICES else None
    if argv[2].startswith("services.") and argv[2].endswith(".worker"):
        return argv[2].split(".")[1]
    return None


def test_each_k8s_pod_signs_in_to_the_broker_as_its_own_principal_over_tls() -> None:
    principals = {rule[0] for rule in _acl_rules()}
    for workload in workloads():
        for container in containers(workload):
            if image_name(container["image"]) != APP_IMAGE:
                continue
            where = workload["metadata"]["name"]
            env = k8s_env(container)
            principal = _kafka_principal(container["args"])
            if principal is None:
                assert "KAFKA_SASL_PASSWORD" not in env, f"{where} needs no Kafka password"
                continue
            assert principal in principals, where
            assert env["KAFKA_SASL_USERNAME"] == principal, where
            [password] = [e for e in container["env"] if e["name"] == "KAFKA_SASL_PASSWORD"]
            assert password["valueFrom"]["secretKeyRef"]["name"] == f"kafka-{principal}", where
            assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", where
            assert env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512", where
            assert env["KAFKA_SSL_CHECK_HOSTNAME"] == "true", where
            # The CA, from the kafka-ca ConfigMap, read-only where the setting says.
            cafile = Path(env["KAFKA_SSL_CAFILE"] or "")
            [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == str(cafile.parent)]
            assert mount["readOnly"] is True, where
            volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
            config_map = k8s("ConfigMap", volumes[mount["name"]]["configMap"]["name"])
            assert cafile.name in config_map["data"], where


def test_compose_containers_sign_in_to_the_broker_as_their_own_principals() -> None:
    for name, service in SERVICES_IN_COMPOSE.items():
        if image_name(service["image"]) != APP_IMAGE:
            continue
        env = compose_env(service)
        principal = _kafka_principal(service["command"])
        if principal is None:
            assert "KAFKA_SASL_USERNAME" not in env, name
            continue
        assert env["KAFKA_SASL_USERNAME"] == principal, name
        assert env["KAFKA_SASL_PASSWORD"] == f"<KAFKA_{principal.upper()}_PASSWORD>", name
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", name
        cafile = env["KAFKA_SSL_CAFILE"]
        assert any(v.split(":")[1] == cafile and v.endswith(":ro") for v in service["volumes"])


# -- the network: exactly the connections the code makes --------------------------------

NAMESPACE = KUSTOMIZATION["namespace"]


@dataclass(frozen=True)
class Peer:
    """A pod as a NetworkPolicy sees it: its namespace, its labels, its address."""

    name: str
    namespace: str
    labels: tuple[tuple[str, str], ...]
    ip: str = "10.1.0.1"


def _peer(name: str, namespace: str, **labels: str) -> Peer:
    return Peer(name, namespace, tuple(sorted(labels.items())))


# The peers outside the namespace, by the labels network-policies.yaml selects them by.
INGRESS_CONTROLLER = _peer(
    "ingress-controller", "ingress-nginx", **{"app.kubernetes.io/name": "ingress-nginx"}
)
PROMETHEUS = _peer("prometheus", "monitoring", **{"app.kubernetes.io/name": "prometheus"})
DNS = _peer("dns", "kube-system", **{"k8s-app": "kube-dns"})
SMS_PROVIDER = Peer("sms-provider", "", (), ip="203.0.113.10")
CLOUD_METADATA = Peer("cloud-metadata", "", (), ip="169.254.169.254")
OTHER_NAMESPACE = _peer("stranger", "default", **{"app.kubernetes.io/name": "workbench-api"})


def _pods() -> dict[str, Peer]:
    """Every workload of the namespace as a peer, by its name."""
    return {
        w["metadata"]["name"]: Peer(
            w["metadata"]["name"],
            NAMESPACE,
            tuple(sorted(w["spec"]["template"]["metadata"]["labels"].items())),
        )
        for w in workloads()
    }


def _selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return True
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        key, op, values = expression["key"], expression["operator"], expression.get("values", [])
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def _matches(peer_rule: dict[str, Any], peer: Peer) -> bool:
    """Whether one `from`/`to` entry of a policy in NAMESPACE covers `peer`."""
    if "ipBlock" in peer_rule:
        if peer.namespace:  # pods are reached by their selectors here, not by address
            return False
        block = peer_rule["ipBlock"]
        address = ipaddress.ip_address(peer.ip)
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(e) for e in block.get("except", [])
        )
    if not peer.namespace:
        return False
    if "namespaceSelector" in peer_rule:
        namespace_labels = {"kubernetes.io/metadata.name": peer.namespace}
        if not _selects(peer_rule["namespaceSelector"], namespace_labels):
            return False
    elif peer.namespace != NAMESPACE:
        return False
    return _selects(peer_rule.get("podSelector"), dict(peer.labels))


def _allows(direction: str, pod: Peer, other: Peer, port: int, protocol: str = "TCP") -> bool:
    """Whether some policy selecting `pod` lets it talk to `other` (egress) or be talked
    to by `other` (ingress) on `port`. A pod no policy of that direction selects would be
    open: every pod here is selected by default-deny, checked on its own."""
    key, peers = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in (d for d in MANIFESTS if d["kind"] == "NetworkPolicy"):
        spec = policy["spec"]
        if direction not in spec["policyTypes"] or not _selects(
            spec["podSelector"], dict(pod.labels)
        ):
            continue
        for rule in spec.get(key, []):
            ports = rule.get("ports")
            if ports is not None and not any(
                p.get("port") == port and p.get("protocol", "TCP") == protocol for p in ports
            ):
                continue
            if any(_matches(peer, other) for peer in rule.get(peers, [])):
                return True
    return False


def _connects(source: Peer, destination: Peer, port: int) -> bool:
    """A connection within the namespace needs both ends' policies to allow it."""
    return _allows("Egress", source, destination, port) and _allows(
        "Ingress", destination, source, port
    )


def _served_by(host: str, port: int) -> set[tuple[str, int]]:
    """The workloads (and their container port) behind a Service name and port."""
    service = k8s("Service", host)
    [service_port] = [p for p in service["spec"]["ports"] if p["port"] == port]
    found = set()
    for workload in workloads():
        labels = workload["spec"]["template"]["metadata"]["labels"]
        if service["spec"]["selector"].items() <= labels.items():
            for container in containers(workload):
                target = named_port(container, service_port["targetPort"])
                if target is not None:
                    found.add((workload["metadata"]["name"], target))
    assert found, f"Service {host}:{port} serves nothing"
    return found


def _is_workbench(args: list[str]) -> bool:
    argv = argv_of(args)
    return argv[2] == API_RUNNER and uvicorn_app(argv)[0].startswith(f"services.{WORKBENCH}.")


def _is_api_of(args: list[str], service: str) -> bool:
    argv = argv_of(args)
    return argv[2] == API_RUNNER and uvicorn_app(argv)[0].startswith(f"services.{service}.")


def _connections_the_code_makes() -> set[tuple[str, str, int]]:
    """(from, to, port) within the namespace, read from what each container is given:
    its database URL, its broker, the workbench's API URLs."""
    made: set[tuple[str, str, int]] = set()
    for workload in workloads():
        name = workload["metadata"]["name"]
        for container in containers(workload):
            env = k8s_env(container)
            targets: list[str] = []
            if image_name(container["image"]) == APP_IMAGE:
                settings = _settings_of(env)
                if uses_database(container["args"]):
                    targets.append(settings.database_url_for("intake"))
                if _kafka_principal(container["args"]) is not None:
                    targets += [f"kafka://{s}" for s in settings.kafka_bootstrap_servers.split(",")]
                if _is_workbench(container["args"]):
                    # The APIs its pages call (WORKBENCH_<SERVICE>_URL).
                    targets += [env[f"{WORKBENCH.upper()}_{s.upper()}_URL"] or "" for s in SERVICES]
                if env.get("INTAKE_S3_ENDPOINT_URL") and _is_api_of(container["args"], "intake"):
                    # Where intake keeps attachments' bytes.
                    targets.append(env["INTAKE_S3_ENDPOINT_URL"] or "")
            elif image_name(container["image"]) == KAFKA_IMAGE and "KAFKA_BOOTSTRAP_SERVERS" in env:
                targets += [
                    f"kafka://{s}" for s in (env["KAFKA_BOOTSTRAP_SERVERS"] or "").split(",")
                ]
            for target in targets:
                url = urlsplit(target)
                default = {"postgresql+psycopg": 5432, "http": 80}.get(url.scheme, 0)
                for served, port in _served_by(url.hostname or "", url.port or default):
                    made.add((name, served, port))
    return made


def test_every_pod_is_denied_everything_but_what_a_policy_of_its_own_allows() -> None:
    policies = [d for d in MANIFESTS if d["kind"] == "NetworkPolicy"]
    [deny] = [p for p in policies if p["metadata"]["name"] == "default-deny"]
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    for name, pod in _pods().items():
        own = [
            p["metadata"]["name"]
            for p in policies
            if p["spec"]["podSelector"] and _selects(p["spec"]["podSelector"], dict(pod.labels))
        ]
        assert own, f"{name}: no policy of its own"
        # And nothing from another namespace, whatever its labels say.
        for port in (5432, 9092, WORKBENCH_PORT, *SERVICE_PORTS.values()):
            assert not _allows("Ingress", pod, OTHER_NAMESPACE, port), name


def test_pods_connect_to_exactly_what_their_settings_name() -> None:
    expected = _connections_the_code_makes()
    # What the code calls, read from the settings: a sample of it, so this test cannot
    # pass on an empty reading.
    assert {
        ("workbench-api", "intake-api", 8001),
        ("workbench-api", "analytics-api", 8004),
        ("notify-worker", "postgres", 5432),
        ("notify-worker", "kafka", 9092),
        ("topics", "kafka", 9092),
        ("kafka-access", "kafka", 9092),
        ("migrate", "postgres", 5432),
        ("intake-api", "objectstore", 8333),
    } <= expected
    pods = _pods()
    ports = {port for _, _, port in expected} | {80, 443, 8000, 8001, 8002, 8003, 8004}
    allowed = {
        (a, b, port)
        for a in pods
        for b in pods
        for port in ports
        if _connects(pods[a], pods[b], port)
    }
    assert allowed - expected == set(), "allowed, never made"
    assert expected - allowed == set(), "made, never allowed"


def test_from_outside_only_the_ingress_controller_and_prometheus_reach_their_ports() -> None:
    pods = _pods()
    ingress = k8s("Ingress", "complaints")
    published = {
        served
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
        for served in _served_by(
            path["backend"]["service"]["name"], path["backend"]["service"]["port"]["number"]
        )
    }
    assert published == {("workbench-api", 8000), ("analytics-api", 8004), ("notify-api", 8003)}
    scraped = set()
    for workload in workloads():
        annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
        if annotations.get("prometheus.io/scrape") == "true":
            scraped.add((workload["metadata"]["name"], int(annotations["prometheus.io/port"])))
    assert {name for name, _ in scraped} == {f"{s}-api" for s in (*SERVICES, WORKBENCH)}
    ports = {port for _, port in published | scraped} | {5432, 9092}
    for outsider, reaches in ((INGRESS_CONTROLLER, published), (PROMETHEUS, scraped)):
        allowed = {
            (name, port)
            for name in pods
            for port in ports
            if _allows("Ingress", pods[name], outsider, port)
        }
        assert allowed == reaches, outsider.name


def test_only_notifys_sender_reaches_the_internet_and_only_on_443_every_pod_the_dns() -> None:
    for name, pod in _pods().items():
        for protocol in ("UDP", "TCP"):
            assert _allows("Egress", pod, DNS, 53, protocol), f"{name}: DNS over {protocol}"
        assert not _allows("Egress", pod, CLOUD_METADATA, 80), name
        for port in (80, 443, 25, 5432):
            allowed = _allows("Egress", pod, SMS_PROVIDER, port)
            assert allowed == (name == "notify-worker" and port == 443), f"{name}, port {port}"
    # The sender is given a provider on the internet, over HTTPS.
    [sender] = containers(k8s("Deployment", "notify-worker"))
    assert urlsplit(k8s_env(sender)["NOTIFY_TWILIO_BASE_URL"] or "").scheme == "https"


# -- connections: every pool at the autoscalers' ceilings fits PostgreSQL -------------------

# Kept free for what no autoscaler counts: PostgreSQL's superuser_reserved_connections (3),
# the migrate job (one connection per store, six), a person's psql or `token` command, and
# analytics' rebuild (two pools of two and two) while everything else runs.
CONNECTION_RESERVE = 20


def _settings_of(env: dict[str, str | None]) -> Settings:
    values = {k.lower(): v for k, v in env.items() if v is not None}
    return Settings.model_validate({k: v for k, v in values.items() if k in Settings.model_fields})


def _processes(args: list[str], env: dict[str, str | None]) -> int:
    """uvicorn processes an API container runs (`--workers N`, or WEB_CONCURRENCY)."""
    argv = argv_of(args)
    workers = [argv[i + 1] for i, a in enumerate(argv) if a == "--workers"]
    return int(workers[-1] if workers else env.get("WEB_CONCURRENCY") or 1)


def connections_of(args: list[str], env: dict[str, str | None]) -> int:
    """The most connections to PostgreSQL one container of this role can hold, counted
    from the code:
    - every engine holds up to DB_POOL_SIZE + DB_MAX_OVERFLOW (shared.db.create_database);
    - an API process has two engines, its service's store and the auth store
      (shared.api, services.workbench.main), and intake's a psycopg pool of DB_POOL_SIZE
      more for registrations (services.intake.main, registration.PoolExecutor);
    - a worker has one engine (shared.worker) and, outside it, one LISTEN connection per
      outbox relay (shared.outbox: its Waiter) and, in notify, the sender's (sender.py).
    """
    settings = _settings_of(env)
    pool = settings.db_pool_size + settings.db_max_overflow
    argv = argv_of(args)
    if argv[2] == API_RUNNER:
        service = uvicorn_app(argv)[0].split(".")[1]
        registrations = settings.db_pool_size if service == "intake" else 0
        return _processes(args, env) * (2 * pool + registrations)
    if argv[2].startswith("services.") and argv[2].endswith(".worker"):
        service = argv[2].split(".")[1]
        listeners = importlib.import_module(argv[2]).SPEC.relays + (service == "notify")
        return pool + listeners
    return 0  # the jobs: within the reserve


def _max_connections(args: list[str]) -> int:
    [setting] = [a for a in args if a.startswith("max_connections=")]
    return int(setting.split("=", 1)[1])


def _budget(rows: list[tuple[str, int, int]], server: int) -> tuple[int, str]:
    total = sum(each * replicas for _, each, replicas in rows)
    lines = [f"  {name:<18} {each:>3} x {most} = {each * most:>4}" for name, each, most in rows]
    lines.append(f"  total {total} + reserve {CONNECTION_RESERVE}, max_connections {server}")
    return total, "\n".join(lines)


def _k8s_connection_rows() -> list[tuple[str, int, int]]:
    rows = []
    for deployment in (w for w in workloads() if w["kind"] == "Deployment"):
        name = deployment["metadata"]["name"]
        [container] = containers(deployment)
        scalers = [
            d
            for d in MANIFESTS
            if d["kind"] == "HorizontalPodAutoscaler"
            and d["spec"]["scaleTargetRef"]["name"] == name
        ]
        most = (
            scalers[0]["spec"]["maxReplicas"] if scalers else deployment["spec"].get("replicas", 1)
        )
        rows.append((name, connections_of(container["args"], k8s_env(container)), most))
    return rows


def test_the_k8s_pools_fit_postgresql_at_every_autoscalers_ceiling() -> None:
    rows = _k8s_connection_rows()
    assert {name for name, _, _ in rows} == {
        *(f"{s}-{r}" for s in SERVICES for r in ("api", "worker")),
        f"{WORKBENCH}-api",
    }
    assert all(each > 0 for _, each, _ in rows), rows
    [server] = containers(k8s("StatefulSet", "postgres"))
    most = _max_connections(server["args"])
    total, table = _budget(rows, most)
    assert total + CONNECTION_RESERVE <= most, f"the pools do not fit:\n{table}"


def test_the_compose_pools_fit_its_postgresql() -> None:
    rows = [
        (name, connections_of(service["command"], dict(compose_env(service))), 1)
        for name, service in SERVICES_IN_COMPOSE.items()
        if image_name(service["image"]) == APP_IMAGE and service.get("restart") != "no"
    ]
    most = _max_connections(SERVICES_IN_COMPOSE["postgres"]["command"])
    total, table = _budget(rows, most)
    assert total + CONNECTION_RESERVE <= most, f"the pools do not fit:\n{table}"


def test_the_connection_count_follows_pools_processes_and_listeners() -> None:
    """The arithmetic itself, on settings whose answer is known."""
    small = {"DB_POOL_SIZE": "3", "DB_MAX_OVERFLOW": "2"}
    assert connections_of(["api", "escalation"], small) == 2 * 5
    assert connections_of(["api", "intake"], small) == 2 * 5 + 3
    assert connections_of(["api", "intake", "--workers", "2"], small) == 2 * (2 * 5 + 3)
    assert connections_of(["api", WORKBENCH], {**small, "WEB_CONCURRENCY": "3"}) == 3 * 2 * 5
    assert connections_of(["worker", "analytics"], small) == 5 + 1
    assert connections_of(["worker", "notify"], small) == 5 + 2
    # Unset, the code's defaults: 10 + 20.
    assert connections_of(["worker", "intake"], {}) == 30 + 1
