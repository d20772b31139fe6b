"""How a service reaches Kafka: PLAINTEXT on loopback for a local run, SASL_SSL (SCRAM over
TLS, signed in as the service itself) on a shared broker. Every Kafka client takes its
connection from one place, settings that could never connect stop a process at its start
with the setting's name, and a password never shows in a log or a readiness answer."""

from __future__ import annotations

import ast
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import certifi
import pytest
from fastapi.testclient import TestClient

from shared.api import create_service_app
from shared.kafka import KafkaProbe, KafkaSettingsError, client_config, without_secrets
from shared.settings import Settings
from tests.conftest import ROOT

PASSWORD = "s3cret-of-notify-7"
CA = Path(certifi.where())


def secured(**values: Any) -> Settings:
    """Notify's settings for a secured broker, with `values` changed."""
    settings: dict[str, Any] = {
        "kafka_bootstrap_servers": "kafka-0.internal:9093,kafka-1.internal:9093",
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_username": "notify",
        "kafka_sasl_password": PASSWORD,
        "kafka_ssl_cafile": CA,
    }
    settings.update(values)
    return Settings(**settings)


def test_a_local_run_reaches_the_broker_on_plaintext_and_nothing_more() -> None:
    assert client_config(Settings(kafka_bootstrap_servers="127.0.0.1:9092")) == {
        "bootstrap_servers": ["127.0.0.1:9092"],
        "security_protocol": "PLAINTEXT",
    }


def test_a_cluster_is_reached_through_each_of_its_brokers_however_the_list_is_spaced() -> None:
    brokers = "127.0.0.1:19102, 127.0.0.1:19103 ,127.0.0.1:19104,"
    assert client_config(Settings(kafka_bootstrap_servers=brokers))["bootstrap_servers"] == [
        "127.0.0.1:19102",
        "127.0.0.1:19103",
        "127.0.0.1:19104",
    ]


def test_on_a_secured_broker_a_service_signs_in_as_itself_and_trusts_only_the_given_ca() -> None:
    config = client_config(secured())
    assert config == {
        "bootstrap_servers": ["kafka-0.internal:9093", "kafka-1.internal:9093"],
        "security_protocol": "SASL_SSL",
        "ssl_cafile": str(CA),
        "ssl_check_hostname": True,
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "notify",
        "sasl_plain_password": PASSWORD,
    }
    with_certificate = client_config(
        secured(kafka_ssl_certfile=CA, kafka_ssl_keyfile=CA, kafka_ssl_check_hostname=False)
    )
    assert with_certificate["ssl_certfile"] == with_certificate["ssl_keyfile"] == str(CA)
    assert with_certificate["ssl_check_hostname"] is False


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kafka_sasl_username": None}, "KAFKA_SASL_USERNAME is not set"),
        ({"kafka_sasl_password": None}, "KAFKA_SASL_PASSWORD is not set"),
        ({"kafka_sasl_password": ""}, "KAFKA_SASL_PASSWORD is not set"),
        (
            {"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_username": ""},
            "KAFKA_SASL_USERNAME is not set",
        ),
        ({"kafka_ssl_cafile": None}, "KAFKA_SSL_CAFILE is not set"),
        (
            {"kafka_security_protocol": "SSL", "kafka_ssl_cafile": Path("/nowhere/ca.pem")},
            "KAFKA_SSL_CAFILE=/nowhere/ca.pem: no such file",
        ),
        ({"kafka_ssl_certfile": CA}, "KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together"),
        (
            {"kafka_ssl_certfile": CA, "kafka_ssl_keyfile": Path("/nowhere/key.pem")},
            "KAFKA_SSL_KEYFILE=/nowhere/key.pem: no such file",
        ),
    ],
)
def test_settings_that_could_never_connect_are_refused_with_the_settings_name(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(KafkaSettingsError) as refused:
        client_config(secured(**values))
    assert message in str(refused.value)


def test_an_api_with_a_sasl_protocol_and_no_username_does_not_start(tmp_path: Path) -> None:
    app = create_service_app(
        service="notify",
        title="Notify",
        description="Its health routes only.",
        settings=secured(kafka_sasl_username=None, data_dir=tmp_path, log_format="text"),
        routers=[],
    )
    with pytest.raises(KafkaSettingsError, match="KAFKA_SASL_USERNAME"), TestClient(app):
        pass


def test_a_worker_whose_ca_file_is_missing_stops_at_once_and_says_which_setting(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path),
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_USERNAME": "notify",
        "KAFKA_SASL_PASSWORD": PASSWORD,
        "KAFKA_SSL_CAFILE": str(tmp_path / "ca.pem"),
        "LOG_FORMAT": "text",
    }
    env.pop("DATABASE_URL", None)
    worker = subprocess.run(
        [sys.executable, "-m", "services.notify.worker"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert worker.returncode != 0
    assert f"KAFKA_SSL_CAFILE={tmp_path / 'ca.pem'}: no such file" in worker.stderr
    assert PASSWORD not in worker.stdout + worker.stderr


def test_the_password_shows_in_no_repr_and_no_log_of_a_client_connecting(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    settings = secured(kafka_bootstrap_servers="127.0.0.1:1")
    config = client_config(settings)
    assert PASSWORD not in repr(settings) + repr(config) + str(config)
    # kafka-python's admin client logs its whole configuration at DEBUG (LOG_LEVEL=DEBUG
    # leaves the kafka logger at WARNING, but a tool of its own may not)
    with caplog.at_level(logging.DEBUG, logger="kafka"), pytest.raises(KafkaError):
        KafkaAdminClient(**config, bootstrap_timeout_ms=300, request_timeout_ms=300)
    assert "Starting KafkaAdminClient with configuration" in caplog.text
    assert "sasl_plain_username': 'notify'" in caplog.text
    assert PASSWORD not in caplog.text


def test_readiness_blots_the_password_out_of_a_clients_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import kafka.admin

    def refuses(**config: Any) -> Any:
        raise RuntimeError(f"login {config['sasl_plain_username']}:{config['sasl_plain_password']}")

    monkeypatch.setattr(kafka.admin, "KafkaAdminClient", refuses)
    probe = KafkaProbe(secured(), cache_seconds=0)
    assert probe.check() == (False, "RuntimeError: login notify:***")
    assert without_secrets(f"no {PASSWORD} here", secured()) == "no *** here"


# -- every client connects the one way --------------------------------------------------

CLIENTS = {"KafkaProducer", "KafkaConsumer", "KafkaAdminClient"}
WHERE = ("shared", "services", "scripts", "bench", "deploy")


def client_calls() -> list[tuple[str, int, ast.Call]]:
    calls = []
    for folder in WHERE:
        for path in sorted((Path(ROOT) / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                    if name in CLIENTS:
                        calls.append((str(path.relative_to(ROOT)), node.lineno, node))
    return calls


def test_every_kafka_client_takes_its_brokers_and_security_from_client_config() -> None:
    calls = client_calls()
    # producers (create_producer), the consumer loop, readiness, lag figures, topics and
    # ACLs, the analytics rebuild, the benchmarks' probes
    assert len(calls) >= 8
    for where, line, call in calls:
        named = {k.arg for k in call.keywords}
        # a client naming its own brokers would ignore KAFKA_SECURITY_PROTOCOL and the rest
        assert "bootstrap_servers" not in named, f"{where}:{line}"
        assert None in named, f"{where}:{line}: no **client_config(settings)"
