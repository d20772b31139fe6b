"""Where attachments' bytes live, behind one interface (`ObjectStore`):

- `S3Store`: any S3 API: a cloud's object storage in production, the SeaweedFS that
  scripts/objectstore.sh builds and starts for local runs and tests. Requests are
  signed (SigV4) with the access key intake is given.
- `FilesystemStore`: files under a folder, for a run on one machine with no object
  store configured (the SQLite quick run) and for fast tests.

Keys are chosen by intake (`<complaint id>/<attachment id>`, both random UUIDs), never
from a file's name: nobody finds an attachment by guessing what it was called.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol

from services.intake.config import IntakeConfig
from shared.settings import Settings

log = logging.getLogger(__name__)

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*(/[A-Za-z0-9][A-Za-z0-9_\-]*)*$")


class StoreUnavailable(Exception):
    """The store could not be reached, or refused the request."""


class ObjectMissing(Exception):
    """No object under that key."""


class ObjectStore(Protocol):
    """What intake needs of an object store."""

    @property
    def where(self) -> str:
        """Where the bytes go, for logs (no secrets)."""
        ...

    def put(self, key: str, data: bytes, *, content_type: str, sha256: str) -> None: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...

    def keys(self, prefix: str = "") -> list[str]: ...


def check_key(key: str) -> str:
    if not _KEY.match(key) or len(key) > 512:
        raise ValueError(f"not an object key intake makes: {key!r}")
    return key


class FilesystemStore:
    """Files under `root`, each written whole (a temporary file renamed into place)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    @property
    def where(self) -> str:
        return f"files under {self.root}"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes, *, content_type: str, sha256: str) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StoreUnavailable(f"{self.where}: {exc.strerror or exc}") from None

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectMissing(key) from None
        except OSError as exc:
            raise StoreUnavailable(f"{self.where}: {exc.strerror or exc}") from None

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"{self.where}: {exc.strerror or exc}") from None

    def keys(self, prefix: str = "") -> list[str]:
        if not self.root.exists():
            return []
        found = [
            path.relative_to(self.root).as_posix()
            for path in self.root.rglob("*")
            if path.is_file() and not path.name.startswith(".upload-")
        ]
        return sorted(key for key in found if key.startswith(prefix))


class S3Store:
    """A bucket of an S3 API, through boto3 (thread-safe client, made once)."""

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None,
        region: str,
        access_key_id: str | None,
        secret_access_key: str | None,
        path_style: bool = True,
        timeout: float = 10.0,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path" if path_style else "auto"},
                connect_timeout=timeout,
                read_timeout=timeout,
                retries={"max_attempts": 3, "mode": "standard"},
                # Checksums only where the API requires them: not every S3-compatible
                # store knows the newer flexible-checksum headers.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    @property
    def where(self) -> str:
        return f"bucket {self.bucket} at {self.endpoint_url or 'AWS'}"

    def _call(self, what: str, call: Any, /, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return call(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                raise ObjectMissing(kwargs.get("Key", "")) from None
            raise StoreUnavailable(f"{what} in {self.where}: {code or exc}") from None
        except BotoCoreError as exc:
            raise StoreUnavailable(f"{what} in {self.where}: {type(exc).__name__}") from None

    def put(self, key: str, data: bytes, *, content_type: str, sha256: str) -> None:
        self._call(
            "storing",
            self.client.put_object,
            Key=check_key(key),
            Body=data,
            ContentType=content_type,
            Metadata={"sha256": sha256},
        )

    def get(self, key: str) -> bytes:
        answer = self._call("reading", self.client.get_object, Key=check_key(key))
        try:
            body: bytes = answer["Body"].read()
        except Exception as exc:  # the connection broke mid-read
            raise StoreUnavailable(f"reading {key} from {self.where}: {exc}") from None
        return body

    def delete(self, key: str) -> None:
        self._call("deleting", self.client.delete_object, Key=check_key(key))

    def keys(self, prefix: str = "") -> list[str]:
        found: list[str] = []
        token: dict[str, str] = {}
        while True:
            page = self._call(
                "listing", self.client.list_objects_v2, Prefix=prefix, MaxKeys=1000, **token
            )
            found += [item["Key"] for item in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return sorted(found)
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def ensure_bucket(self) -> bool:
        """Create the bucket if it is missing; False (logged) when that cannot be done:
        uploads then fail with 503 until the store is there."""
        try:
            self._call("looking up", self.client.head_bucket)
            return True
        except ObjectMissing:
            pass
        except StoreUnavailable as exc:
            if "403" in str(exc) or "Forbidden" in str(exc):
                log.warning("object store: %s", exc)
                return False
            if not ("NoSuchBucket" in str(exc) or "404" in str(exc)):
                log.warning("object store not reachable at start: %s", exc)
                return False
        try:
            self._call("creating", self.client.create_bucket)
            log.info("object store: created %s", self.where)
            return True
        except StoreUnavailable as exc:
            log.warning("object store: %s", exc)
            return False


def store_for(config: IntakeConfig, settings: Settings) -> ObjectStore:
    """The store the configuration names (INTAKE_OBJECT_STORE, or S3 when an endpoint
    is given), with its bucket made if it is missing."""
    kind = config.object_store or ("s3" if config.s3_endpoint_url else "filesystem")
    if kind == "s3":
        secret = config.s3_secret_access_key
        store = S3Store(
            bucket=config.s3_bucket,
            endpoint_url=config.s3_endpoint_url,
            region=config.s3_region,
            access_key_id=config.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None,
            path_style=config.s3_path_style,
            timeout=config.s3_timeout_seconds,
        )
        store.ensure_bucket()
        return store
    if settings.environment == "production" and config.object_store is None:
        raise RuntimeError(
            "no object store for attachments: set INTAKE_S3_ENDPOINT_URL (and the bucket "
            "and keys), or INTAKE_OBJECT_STORE=filesystem with INTAKE_ATTACHMENTS_DIR on a "
            "volume every intake replica shares"
        )
    return FilesystemStore(config.attachments_dir or settings.data_dir / "attachments")
