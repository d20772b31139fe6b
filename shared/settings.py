"""Settings from environment variables, shared by every service and tool."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("intake", "escalation", "notify", "analytics")
AUTH_STORE = "auth"
# The staff's web pages: a service of its own that keeps sign-in accounts and sessions
# and calls the four APIs, with neither events nor a worker.
WORKBENCH = "workbench"
# The longest a bearer token lives (days): every token expires.
TOKEN_MAX_DAYS = 90


def normalise_database_url(url: str) -> str:
    """Point PostgreSQL URLs at the psycopg 3 driver whatever spelling the user chose."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Settings(BaseSettings):
    """Everything configurable, read from the environment (names are case-insensitive)."""

    model_config = SettingsConfigDict(extra="ignore", env_file=None)

    environment: Literal["development", "test", "production"] = "development"
    # Where SQLite databases live when no PostgreSQL URL is given.
    data_dir: Path = Path(".run/dev/data")
    # A PostgreSQL URL: every service then keeps its tables in its own schema of that
    # database. Unset: each service uses its own SQLite file under data_dir.
    database_url: str | None = None
    # Per-service overrides (any SQLAlchemy URL), e.g. INTAKE_DATABASE_URL.
    intake_database_url: str | None = None
    escalation_database_url: str | None = None
    notify_database_url: str | None = None
    analytics_database_url: str | None = None
    auth_database_url: str | None = None
    workbench_database_url: str | None = None
    # Prepended to every schema name (PostgreSQL): lets several installations, or test
    # runs, share one database without sharing tables.
    schema_prefix: str = Field(default="", pattern=r"^[a-z0-9_]{0,30}$")

    # The complaint categories, [{"id", "zh", "en", "group"}]: see shared/taxonomy.json.
    taxonomy_file: Path = Path(__file__).parent / "taxonomy.json"
    # The clients an outsourcing centre answers for (shared/tenants.py), a JSON file every
    # process reads alike; none: one organisation, the default client.
    tenants_file: Path | None = None

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_request_timeout_ms: int = 10_000
    # How long a send may wait for metadata before failing (broker down).
    kafka_max_block_ms: int = 5_000
    # How clients reach the broker: PLAINTEXT on loopback for a local run; SASL_SSL
    # (SCRAM, TLS) wherever the broker is shared. Each service signs in as itself (its
    # principal is the service's name) and may write only the topics it owns.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    # A secret: repr and logs show it as **********.
    kafka_sasl_password: SecretStr | None = None
    # The CA that signed the broker's certificate (PEM); a client certificate and key
    # only where the broker asks for one.
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    kafka_ssl_check_hostname: bool = True

    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    access_log: bool = True

    # Verified tokens are cached this long. A revocation, or a change in the directory
    # that takes tokens away, is heard at once all the same (shared.auth.store).
    token_cache_seconds: float = 30.0
    # No token lives longer, whatever it was issued with; one from before there was a
    # limit counts from its creation.
    token_max_days: int = Field(default=TOKEN_MAX_DAYS, ge=1, le=3650)

    outbox_lanes: int = Field(default=4, ge=1, le=64)
    outbox_batch_size: int = Field(default=500, ge=1, le=10_000)
    # Without PostgreSQL LISTEN/NOTIFY (SQLite) the relay polls this often.
    outbox_poll_seconds: float = 0.05
    outbox_retention_days: int = 7
    # After a commit wakes the relay (PostgreSQL), it waits this long so the commits
    # that follow go out in the same pass: a few ms of latency for far less work.
    outbox_linger_seconds: float = Field(default=0.005, ge=0, le=1)

    # Threads that run each API process's blocking handlers. More than a few only makes
    # them fight over the interpreter lock: measured on intake, 40 threads (the default
    # of the ASGI stack) halved throughput and doubled the CPU each request costs.
    api_threads: int = Field(default=8, ge=1, le=200)
    # The largest request body an API takes; a larger one is refused with 413.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)

    # Abuse limits (shared.ratelimit), per API process; 0 turns one off. Writes (POST,
    # PUT, PATCH, DELETE) a minute with one bearer token: an agent registers a complaint
    # every minute or two, a duty manager clearing a queue a few a minute.
    rate_limit_token_writes_per_minute: int = Field(default=120, ge=0)
    # … and from one client address, whatever the token: the workbench calls the APIs
    # for all its users from its own address, so this is its ceiling too.
    rate_limit_address_writes_per_minute: int = Field(default=1200, ge=0)
    # Failed workbench sign-ins and unknown bearer tokens from one address before the
    # address is answered 429 for the rest of the minute.
    rate_limit_auth_failures_per_minute: int = Field(default=20, ge=0)

    db_pool_size: int = 10
    db_max_overflow: int = 20

    def database_url_for(self, store: str) -> str:
        """The URL one service (or the auth store) uses; see the module docstring."""
        override = getattr(self, f"{store}_database_url", None)
        if override:
            return normalise_database_url(override)
        if self.database_url:
            url = normalise_database_url(self.database_url)
            if not url.startswith("postgresql"):
                raise ValueError(
                    "DATABASE_URL must be a PostgreSQL URL (each service gets its own schema); "
                    f"for SQLite leave it unset or set {store.upper()}_DATABASE_URL"
                )
            return url
        return f"sqlite:///{(self.data_dir / f'{store}.db').resolve()}"

    def schema_for(self, store: str) -> str:
        return f"{self.schema_prefix}{store}"


def get_settings() -> Settings:
    return Settings()


# Where each service's API listens in a local run (see ../README.md).
SERVICE_PORTS = {"intake": 8001, "escalation": 8002, "notify": 8003, "analytics": 8004}
WORKBENCH_PORT = 8000
SMS_GATEWAY_PORT = 8090
