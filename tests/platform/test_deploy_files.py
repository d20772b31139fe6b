"""deploy/: the image, the compose file and the Kubernetes manifests agree with the code
they run.

Nothing is built or started. The files are parsed and checked against shared.settings
(services, ports, setting names), shared.topics (topics and partitions), pyproject.toml
(Python version, packages) and the commands deploy/entrypoint.py turns each role into,
which are the commands scripts/stack.py runs for `make run`.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import tomllib
from collections.abc import Iterator
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
from shared.topics import topic_specs
from tests.conftest import ROOT

REPO = Path(ROOT)
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
APP_IMAGE = "complaint-platform"
KAFKA_IMAGE = "apache/kafka"
POSTGRES_IMAGE = "postgres"
# Read by shared/topics.py, not by Settings.
TOPIC_VARIABLES = {"LIFECYCLE_PARTITIONS", "SMS_PARTITIONS", "ANALYTICS_PARTITIONS"}
# Read by the images of the trial infrastructure, not by the platform.
KAFKA_VARIABLES = {"CLUSTER_ID", "POD_NAME", "POD_NAMESPACE"}
POSTGRES_VARIABLES = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "PGDATA"}


# -- reading the files ------------------------------------------------------------------


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
    """Compose's variable substitution with every variable unset: the defaults."""
    if isinstance(value, str):
        return re.sub(
            r"\$\$|\$\{\w+(?::?-([^}]*))?\}",
            lambda m: "$" if m.group(0) == "$$" else m.group(1) or "",
            value,
        )
    if isinstance(value, dict):
        return {k: _interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v) for v in value]
    return value


COMPOSE: dict[str, Any] = _interpolate(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))
SERVICES_IN_COMPOSE: dict[str, dict[str, Any]] = COMPOSE["services"]

KUSTOMIZATION: dict[str, Any] = yaml.safe_load((K8S / "kustomization.yaml").read_text())
MANIFESTS: list[dict[str, Any]] = [
    doc
    for name in KUSTOMIZATION["resources"]
    for doc in yaml.safe_load_all((K8S / name).read_text())
    if doc
]


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
        env[item["name"]] = item.get("value")
    return env


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
    assert argv[1:3] == ["-m", "uvicorn"], argv
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
        if argv[2] == "uvicorn":
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


def test_the_broker_creates_no_topic_by_itself() -> None:
    # Otherwise a consumer or producer racing the topics job gets a one-partition topic.
    [kafka] = containers(k8s("StatefulSet", "kafka"))
    for env in (compose_env(SERVICES_IN_COMPOSE["kafka"]), k8s_env(kafka)):
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_the_k8s_broker_advertises_a_name_its_headless_service_resolves() -> None:
    statefulset = k8s("StatefulSet", "kafka")
    service = k8s("Service", statefulset["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None"
    [kafka] = containers(statefulset)
    advertised = k8s_env(kafka)["KAFKA_ADVERTISED_LISTENERS"] or ""
    name = service["metadata"]["name"]
    ports = [p["port"] for p in service["spec"]["ports"]]
    assert advertised in [f"PLAINTEXT://$(POD_NAME).{name}.$(POD_NAMESPACE).svc:{p}" for p in ports]


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

    infra: list[tuple[str, str, set[str]]] = [
        (f"compose {n}", s["image"], set(compose_env(s)))
        for n, s in SERVICES_IN_COMPOSE.items()
        if image_name(s["image"]) != APP_IMAGE
    ]
    infra += [
        (f"k8s {w['metadata']['name']}", c["image"], set(k8s_env(c)))
        for w in workloads()
        for c in containers(w)
        if image_name(c["image"]) != APP_IMAGE
    ]
    for where, image, names in infra:
        if image_name(image) == KAFKA_IMAGE:
            unknown = {n for n in names if not n.startswith("KAFKA_")} - KAFKA_VARIABLES
        elif image_name(image) == POSTGRES_IMAGE:
            unknown = names - POSTGRES_VARIABLES
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
    postgres = k8s("Secret", "postgres")["stringData"]

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
            assert {k: v["condition"] for k, v in deps.items()} == {
                "postgres": "service_healthy",
                "kafka": "service_healthy",
                "migrate": "service_completed_successfully",
                "topics": "service_completed_successfully",
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
