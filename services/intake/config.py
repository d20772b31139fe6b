"""Intake settings, from environment variables prefixed INTAKE_."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

MB = 1024 * 1024


class IntakeConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    # References read TS20261122-000123: prefix, local date, a number unique for ever.
    reference_prefix: str = Field(default="TS", pattern=r"^[A-Z]{1,4}$")
    timezone: str = "Asia/Shanghai"
    # A caller with at least this many earlier complaints in repeat_window_days is flagged.
    repeat_min: int = Field(default=1, ge=1)
    repeat_window_days: int = Field(default=30, ge=1)
    # Mainland numbers without a country code are read as +86.
    default_region: str = "CN"
    description_min: int = 5
    description_max: int = 5000
    # Idempotency keys are remembered this long.
    idempotency_days: int = 7
    # Likely duplicates (重复件) are looked for among the complaints of this many days.
    duplicate_window_days: int = Field(default=7, ge=1, le=90)

    # Photos and documents on a complaint (services/intake/attachments). Their bytes go
    # to an object store: any S3 API in production (a cloud's, or the SeaweedFS that
    # scripts/objectstore.sh starts locally), or files under `attachments_dir` for a run
    # on one machine without one. Unset: s3 when an endpoint is given, else the files.
    object_store: Literal["s3", "filesystem"] | None = None
    s3_endpoint_url: str | None = None
    s3_bucket: str = Field(default="complaint-attachments", min_length=3, max_length=63)
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    # A secret: repr and logs show it as **********.
    s3_secret_access_key: SecretStr | None = None
    # Local stores (SeaweedFS, MinIO) answer on one host name: bucket in the path.
    s3_path_style: bool = True
    s3_timeout_seconds: float = Field(default=10.0, gt=0)
    # The filesystem store's folder; unset: `attachments` under DATA_DIR.
    attachments_dir: Path | None = None
    # A phone's photo is 2-6 MB; a scanned reply of a few pages fits too.
    attachment_max_bytes: int = Field(default=10 * MB, ge=1024, le=200 * MB)
    attachment_max_per_complaint: int = Field(default=20, ge=1, le=1000)
    # What may be attached, by the type the bytes show (attachments.content): a
    # comma-separated list of those, e.g. "image/jpeg,image/png,application/pdf".
    attachment_types: str = ""
    # The virus scanner every file passes before it is stored: none, a command run on a
    # temporary file (exit 0 clean, 1 infected: `clamdscan --no-summary` or any other),
    # or a clamd daemon spoken to over TCP (INSTREAM).
    attachment_scanner: Literal["none", "command", "clamd"] = "none"
    attachment_scan_command: str = "clamdscan --no-summary --stream"
    attachment_clamd_address: str = "127.0.0.1:3310"
    attachment_scan_timeout_seconds: float = Field(default=30.0, gt=0)
    # A scanner that does not answer refuses the file (503) unless this is set; the file
    # is then stored and marked unscanned.
    attachment_scan_fail_open: bool = False


@cache
def get_config() -> IntakeConfig:
    return IntakeConfig()
