"""Kafka clients configured the one way this platform uses them."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from shared.settings import Settings

_TLS = ("SSL", "SASL_SSL")
_SASL = ("SASL_PLAINTEXT", "SASL_SSL")


class KafkaSettingsError(ValueError):
    """Kafka security settings that cannot work; the message names the setting."""


class _Password(str):
    """A password that keeps its value from any repr: kafka-python's admin client logs
    its whole configuration (at DEBUG), and a dict shows its values by repr."""

    def __repr__(self) -> str:
        return "'***'"


def client_config(settings: Settings) -> dict[str, Any]:
    """What every kafka-python client (producer, consumer, admin) needs to reach the
    brokers: where they are and, from the KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_* and
    KAFKA_SSL_* settings, how to sign in and whom to trust.

    Raises KafkaSettingsError for settings that could never connect, so a process
    stops at its start rather than retrying for ever."""
    protocol = settings.kafka_security_protocol
    config: dict[str, Any] = {
        # A cluster's brokers, however the list is spaced: any one of them that answers
        # names the others.
        "bootstrap_servers": [
            server.strip()
            for server in settings.kafka_bootstrap_servers.split(",")
            if server.strip()
        ],
        "security_protocol": protocol,
    }
    if protocol in _TLS:
        # Without a CA file the system's CAs would be trusted: a broker certificate of
        # a private CA would then fail obscurely, and one from any public CA would pass.
        cafile = settings.kafka_ssl_cafile
        if cafile is None:
            raise KafkaSettingsError(
                f"KAFKA_SSL_CAFILE is not set, and KAFKA_SECURITY_PROTOCOL={protocol} needs "
                "it: the PEM file of the CA that signed the broker's certificate"
            )
        config["ssl_cafile"] = _existing("KAFKA_SSL_CAFILE", cafile)
        config["ssl_check_hostname"] = settings.kafka_ssl_check_hostname
        certfile, keyfile = settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile
        if (certfile is None) != (keyfile is None):
            raise KafkaSettingsError(
                "KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together: "
                "a client certificate needs its key"
            )
        if certfile is not None and keyfile is not None:
            config["ssl_certfile"] = _existing("KAFKA_SSL_CERTFILE", certfile)
            config["ssl_keyfile"] = _existing("KAFKA_SSL_KEYFILE", keyfile)
    if protocol in _SASL:
        password = settings.kafka_sasl_password
        if not settings.kafka_sasl_username:
            raise KafkaSettingsError(
                f"KAFKA_SASL_USERNAME is not set, and KAFKA_SECURITY_PROTOCOL={protocol} "
                "signs in with it (each service as its own principal)"
            )
        if password is None or not password.get_secret_value():
            raise KafkaSettingsError(
                f"KAFKA_SASL_PASSWORD is not set, and KAFKA_SECURITY_PROTOCOL={protocol} "
                f"signs in as {settings.kafka_sasl_username} with it"
            )
        config["sasl_mechanism"] = settings.kafka_sasl_mechanism
        config["sasl_plain_username"] = settings.kafka_sasl_username
        config["sasl_plain_password"] = _Password(password.get_secret_value())
    return config


def _existing(name: str, path: Path) -> str:
    if not path.is_file():
        raise KafkaSettingsError(f"{name}={path}: no such file")
    return str(path)


def without_secrets(text: str, settings: Settings) -> str:
    """`text` (an error a client raised, say) with the SASL password blotted out."""
    password = settings.kafka_sasl_password
    secret = password.get_secret_value() if password is not None else ""
    return text.replace(secret, "***") if secret else text


def create_producer(settings: Settings, client_id: str, **overrides: Any) -> KafkaProducer:
    """An idempotent producer that waits for every in-sync replica (acks=all)."""
    config: dict[str, Any] = {
        **client_config(settings),
        "client_id": client_id,
        "acks": "all",
        "enable_idempotence": True,
        # Batches go out within a few ms: the relay sends many at once anyway.
        "linger_ms": 2,
        "request_timeout_ms": settings.kafka_request_timeout_ms,
        "delivery_timeout_ms": settings.kafka_request_timeout_ms * 3,
        "max_block_ms": settings.kafka_max_block_ms,
        "retry_backoff_ms": 100,
        "reconnect_backoff_max_ms": 2000,
    }
    config.update(overrides)
    return KafkaProducer(**config)


class KafkaProbe:
    """Answers "is the broker reachable?" for readiness checks, cached for a moment."""

    def __init__(self, settings: Settings, *, cache_seconds: float = 2.0) -> None:
        self._settings = settings
        # Checked now: settings that could never connect stop the API at its start.
        self._client_config = client_config(settings)
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._checked_at = 0.0
        self._result: tuple[bool, str] = (False, "not checked yet")
        self._admin: Any = None

    def check(self) -> tuple[bool, str]:
        with self._lock:
            now = time.monotonic()
            if now - self._checked_at < self._cache_seconds:
                return self._result
            self._result = self._probe()
            self._checked_at = time.monotonic()
            return self._result

    def _probe(self) -> tuple[bool, str]:
        from kafka.admin import KafkaAdminClient

        try:
            if self._admin is None:
                self._admin = KafkaAdminClient(
                    **self._client_config,
                    client_id="readiness",
                    request_timeout_ms=3000,
                    bootstrap_timeout_ms=3000,
                )
            cluster = self._admin.describe_cluster()
            brokers = len(cluster.get("brokers", []))
            if not brokers:
                return False, "no brokers in cluster metadata"
            return True, f"{brokers} broker(s)"
        except Exception as exc:
            self.close()
            # /readyz shows this to whoever asks
            return False, without_secrets(f"{type(exc).__name__}: {exc}", self._settings)

    def close(self) -> None:
        if self._admin is not None:
            # closing a broken client may fail; there is nothing left to do then
            with contextlib.suppress(Exception):
                self._admin.close()
            self._admin = None
