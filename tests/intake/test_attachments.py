"""Photos and documents on a complaint, on the test PostgreSQL and the real object store
(SeaweedFS's S3 API, scripts/objectstore.sh), scanned by a clamd on a real socket.

What is refused leaves nothing behind: no object in the bucket, no row, no event."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.intake.attachments import service
from services.intake.attachments.store import S3Store, StoreUnavailable
from services.intake.complaints.flows import apply_lifecycle
from services.intake.config import IntakeConfig
from services.intake.db import access_log, outbox
from services.intake.main import create_app
from shared.contracts import ATTACHMENT_ADDED, LifecycleChanged
from shared.events import registry
from tests.conftest import ObjectStoreAccess, ServiceEnv
from tests.intake.conftest import complaint
from tests.support import files
from tests.support.clamd import EICAR, EICAR_SIGNATURE, FakeClamd, closed_port

pytestmark = [pytest.mark.postgres, pytest.mark.objectstore]

MB = 1024 * 1024


def s3_config(objectstore: ObjectStoreAccess, **changes: Any) -> IntakeConfig:
    values: dict[str, Any] = {
        "object_store": "s3",
        "s3_endpoint_url": objectstore.endpoint_url,
        "s3_bucket": objectstore.bucket,
        "s3_access_key_id": objectstore.access_key_id,
        "s3_secret_access_key": objectstore.secret_access_key,
        "attachment_max_bytes": 3 * MB,
        "attachment_max_per_complaint": 3,
        "attachment_scanner": "clamd",
    }
    values.update(changes)
    return IntakeConfig(**values)


def bucket(objectstore: ObjectStoreAccess) -> S3Store:
    """The bucket as a test looks into it, past intake."""
    return S3Store(
        bucket=objectstore.bucket,
        endpoint_url=objectstore.endpoint_url,
        region="us-east-1",
        access_key_id=objectstore.access_key_id,
        secret_access_key=objectstore.secret_access_key,
    )


@dataclass
class Desk:
    """An intake API whose attachments go to the real object store."""

    client: TestClient
    env: ServiceEnv
    store: S3Store
    clamd: FakeClamd

    def as_(self, role: str, staff: str, department: str | None = None) -> dict[str, str]:
        return self.env.token(role, staff, department)

    def register(self) -> dict[str, Any]:
        answer = self.client.post(
            "/complaints",
            json=complaint(description="楼上水管爆裂，漏水把我家天花板泡坏了。"),
            headers=self.as_("agent", "A001"),
        )
        assert answer.status_code == 201, answer.text
        return answer.json()  # type: ignore[no-any-return]

    def with_department(self, created: dict[str, Any], department: str, *, seq: int = 3) -> None:
        """As escalation's event tells intake: dispatched to `department`."""
        with self.env.db.transaction() as session:
            apply_lifecycle(
                session,
                LifecycleChanged(
                    complaint_id=created["id"],
                    reference=created["reference"],
                    action="dispatch",
                    from_state="with_duty_manager",
                    to_state="dispatched",
                    history_seq=seq,
                    holder_role="department",
                    department_id=department,
                ),
                datetime.now(UTC),
            )

    def attach(
        self,
        complaint_id: str,
        name: str,
        data: bytes,
        headers: dict[str, str],
        declared: str = "image/jpeg",
        **form: str,
    ) -> Any:
        return self.client.post(
            f"/complaints/{complaint_id}/attachments",
            files={"file": (name, data, declared)},
            data=form,
            headers=headers,
        )

    def objects(self, complaint_id: str) -> list[str]:
        return self.store.keys(prefix=f"{complaint_id}/")

    def rows(self, complaint_id: str) -> int:
        with self.env.db.read() as session:
            return service.count_of(session, complaint_id)

    def events(self, complaint_id: str) -> list[Any]:
        with self.env.db.read() as session:
            found = session.execute(
                select(outbox).where(outbox.c.key == complaint_id).order_by(outbox.c.id)
            )
            decoded = [registry.decode(row.value.encode()) for row in found]
        return [e for e in decoded if e.type == ATTACHMENT_ADDED.name]


@pytest.fixture
def make_desk(
    service_env: Callable[[str], ServiceEnv], objectstore: ObjectStoreAccess
) -> Iterator[Callable[..., Desk]]:
    """`make_desk(**config)`: intake with the object store and a clamd of its own."""
    opened: list[Any] = []
    env = service_env("intake")

    def make(*, clamd_down: bool = False, **config: Any) -> Desk:
        clamd = FakeClamd().__enter__()
        opened.append(clamd)
        address = f"127.0.0.1:{closed_port()}" if clamd_down else clamd.address
        settings = s3_config(objectstore, attachment_clamd_address=address, **config)
        client = TestClient(create_app(env.settings, settings), raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        return Desk(client=client, env=env, store=bucket(objectstore), clamd=clamd)

    yield make
    for thing in reversed(opened):
        thing.__exit__(None, None, None)


@pytest.fixture
def desk(make_desk: Callable[..., Desk]) -> Desk:
    return make_desk()


def test_an_agent_attaches_a_photo_of_the_broken_pipe_and_the_clerk_downloads_the_same_bytes(
    desk: Desk,
) -> None:
    created = desk.register()
    desk.with_department(created, "billing")
    photo = files.jpeg(2_200_000, seed=7)
    digest = hashlib.sha256(photo).hexdigest()

    answer = desk.attach(created["reference"], "水管爆裂.jpg", photo, desk.as_("agent", "A001"))
    assert answer.status_code == 201, answer.text
    attached = answer.json()
    assert attached["name"] == "水管爆裂.jpg"
    assert attached["content_type"] == "image/jpeg"
    assert (attached["size"], attached["sha256"]) == (len(photo), digest)
    assert (attached["source"], attached["uploaded_by"], attached["scan"]) == (
        "agent",
        "A001",
        "clean",
    )
    # In the real bucket, under a key that is no part of the file's name.
    keys = desk.objects(created["id"])
    assert keys == [f"{created['id']}/{attached['id']}"]
    assert desk.store.get(keys[0]) == photo
    assert desk.clamd.scanned == [photo]

    clerk = desk.as_("department", "B07", "billing")
    listed = desk.client.get(f"/complaints/{created['id']}/attachments", headers=clerk)
    assert listed.status_code == 200, listed.text
    assert [(a["id"], a["sha256"]) for a in listed.json()] == [(attached["id"], digest)]
    got = desk.client.get(
        f"/complaints/{created['id']}/attachments/{attached['id']}", headers=clerk
    )
    assert got.status_code == 200, got.text
    assert hashlib.sha256(got.content).hexdigest() == digest
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"].startswith("inline; ")
    assert (
        "filename*=UTF-8''%E6%B0%B4%E7%AE%A1%E7%88%86%E8%A3%82.jpg"
        in (got.headers["content-disposition"])
    )
    assert "sandbox" in got.headers["content-security-policy"]

    # Announced for the history, with what the file is.
    [event] = desk.events(created["id"])
    assert event.payload.name == "水管爆裂.jpg"
    assert (event.payload.size, event.payload.sha256) == (len(photo), digest)
    assert (event.envelope.actor.id, event.envelope.actor.role) == ("A001", "agent")
    # A photo can show who the customer is: the clerk's read is in the access log.
    with desk.env.db.read() as session:
        reads = list(session.execute(select(access_log.table)))
    assert any(
        r.staff_id == "B07" and r.route.endswith("/attachments/{attachment_id}") for r in reads
    )


def test_a_department_reply_is_attached_by_the_clerk_of_the_department_that_holds_it(
    desk: Desk,
) -> None:
    created = desk.register()
    desk.with_department(created, "billing")
    clerk = desk.as_("department", "B07", "billing")
    answer = desk.attach(created["id"], "答复函.docx", files.docx(), clerk, "application/msword")
    assert answer.status_code == 201, answer.text
    assert answer.json()["source"] == "department"
    assert answer.json()["content_type"] == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    got = desk.client.get(
        f"/complaints/{created['id']}/attachments/{answer.json()['id']}", headers=clerk
    )
    assert got.headers["content-disposition"].startswith("attachment; ")
    # The centre's staff do not speak for the department, nor the clerk for the customer.
    agent = desk.as_("agent", "A001")
    as_department = desk.attach(created["id"], "a.pdf", files.pdf(), agent, source="department")
    assert as_department.status_code == 422, as_department.text
    as_web = desk.attach(created["id"], "a.pdf", files.pdf(), clerk, source="web")
    assert as_web.status_code == 422, as_web.text
    from_mms = desk.attach(created["id"], "IMG_0042.heic", files.heic(), agent, source="mms")
    assert from_mms.status_code == 201, from_mms.text
    assert from_mms.json()["source"] == "mms"


def test_leak_jpg_whose_bytes_are_a_windows_program_is_refused_and_nothing_is_kept(
    desk: Desk,
) -> None:
    created = desk.register()
    answer = desk.attach(
        created["id"], "leak.jpg", files.windows_exe(40_000), desk.as_("agent", "A001")
    )
    assert answer.status_code == 415, answer.text
    body = answer.json()
    assert "named .jpg but the content is a Windows executable" in body["message"]
    assert body["fields"][0]["field"] == "file"
    assert desk.objects(created["id"]) == []
    assert desk.rows(created["id"]) == 0
    assert desk.events(created["id"]) == []
    assert desk.clamd.scanned == []  # refused before it was worth scanning


def test_a_photo_over_the_limit_is_refused_and_nothing_is_kept(desk: Desk) -> None:
    created = desk.register()
    agent = desk.as_("agent", "A001")
    answer = desk.attach(created["id"], "big.jpg", files.jpeg(3 * MB + 1), agent)
    assert answer.status_code == 413, answer.text
    assert "over the limit of 3.0 MB" in answer.json()["message"]
    # Far over: refused before the body is read.
    huge = desk.attach(created["id"], "huge.jpg", files.jpeg(8 * MB), agent)
    assert huge.status_code == 413, huge.text
    assert desk.objects(created["id"]) == []
    assert desk.rows(created["id"]) == 0
    assert desk.attach(created["id"], "ok.jpg", files.jpeg(3 * MB), agent).status_code == 201


def test_the_eicar_test_file_is_refused_by_the_virus_scanner_and_nothing_is_kept(
    desk: Desk,
) -> None:
    created = desk.register()
    sample = b"customer's note\n" + EICAR + b"\n"
    answer = desk.attach(created["id"], "note.txt", sample, desk.as_("agent", "A001"), "text/plain")
    assert answer.status_code == 422, answer.text
    assert answer.json()["message"] == f"file: refused by the virus scanner: {EICAR_SIGNATURE}"
    assert desk.clamd.scanned == [sample]
    assert desk.objects(created["id"]) == []
    assert desk.rows(created["id"]) == 0
    assert desk.events(created["id"]) == []


def test_with_the_virus_scanner_down_nothing_is_stored(make_desk: Callable[..., Desk]) -> None:
    desk = make_desk(clamd_down=True)
    created = desk.register()
    answer = desk.attach(created["id"], "pipe.jpg", files.jpeg(), desk.as_("agent", "A001"))
    assert answer.status_code == 503, answer.text
    assert "virus scanner is not answering" in answer.json()["message"]
    assert answer.headers["retry-after"] == "30"
    assert desk.objects(created["id"]) == []
    assert desk.rows(created["id"]) == 0
    # A centre that chose to keep files when its scanner is down keeps them, marked.
    lenient = make_desk(clamd_down=True, attachment_scan_fail_open=True)
    kept = lenient.attach(created["id"], "pipe.jpg", files.jpeg(), desk.as_("agent", "A001"))
    assert kept.status_code == 201, kept.text
    assert kept.json()["scan"] == "unscanned"


def test_a_clerk_of_another_department_neither_lists_nor_opens_them(desk: Desk) -> None:
    created = desk.register()
    desk.with_department(created, "billing")
    photo = desk.attach(created["id"], "pipe.jpg", files.jpeg(), desk.as_("agent", "A001"))
    assert photo.status_code == 201, photo.text
    path = f"/complaints/{created['id']}/attachments"
    network = desk.as_("department", "N03", "network")
    assert desk.client.get(path, headers=network).status_code == 404
    assert desk.client.get(f"{path}/{photo.json()['id']}", headers=network).status_code == 404
    assert desk.attach(created["id"], "x.jpg", files.jpeg(), network).status_code == 404
    # And a clerk whose department no longer holds it attaches nothing more.
    desk.with_department(created, "network", seq=4)
    billing = desk.as_("department", "B07", "billing")
    assert desk.client.get(path, headers=billing).status_code == 404
    assert desk.attach(created["id"], "y.jpg", files.jpeg(), network).status_code == 201


def test_qa_and_the_outsourcing_client_see_what_is_attached_but_never_open_it(
    desk: Desk,
) -> None:
    created = desk.register()
    named = "王女士的身份证.jpg"  # a name can say who the customer is
    photo = desk.attach(created["id"], named, files.jpeg(), desk.as_("agent", "A001"))
    assert photo.status_code == 201, photo.text
    path = f"/complaints/{created['id']}/attachments"
    for role, staff in (("qa", "Q01"), ("viewer", "CLIENT1")):
        listed = desk.client.get(path, headers=desk.as_(role, staff))
        assert listed.status_code == 200, listed.text
        [item] = listed.json()
        assert item["name"] == "王**的身份证.jpg"
        assert item["sha256"] == photo.json()["sha256"]
        opened = desk.client.get(f"{path}/{photo.json()['id']}", headers=desk.as_(role, staff))
        assert opened.status_code == 403, opened.text
        assert "cannot be masked" in opened.json()["message"]
    agent_view = desk.client.get(path, headers=desk.as_("supervisor", "SV01")).json()
    assert agent_view[0]["name"] == named


def test_a_complaint_takes_only_so_many_files(desk: Desk) -> None:
    created = desk.register()
    agent = desk.as_("agent", "A001")
    for n in range(3):
        assert desk.attach(created["id"], f"{n}.jpg", files.jpeg(seed=n), agent).status_code == 201
    fourth = desk.attach(created["id"], "3.jpg", files.jpeg(seed=3), agent)
    assert fourth.status_code == 409, fourth.text
    assert "already has 3 attachments" in fourth.json()["message"]
    assert len(desk.objects(created["id"])) == 3


def test_when_the_row_cannot_be_written_the_stored_object_is_taken_back(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = desk.register()

    def database_fails(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr("services.intake.attachments.service.add_attachment", database_fails)
    answer = desk.attach(created["id"], "pipe.jpg", files.jpeg(), desk.as_("agent", "A001"))
    assert answer.status_code == 500
    assert desk.objects(created["id"]) == []
    assert desk.rows(created["id"]) == 0


def test_with_the_object_store_down_nothing_is_recorded(
    make_desk: Callable[..., Desk], objectstore: ObjectStoreAccess
) -> None:
    desk = make_desk(s3_endpoint_url=f"http://127.0.0.1:{closed_port()}", s3_timeout_seconds=1)
    created = desk.register()
    answer = desk.attach(created["id"], "pipe.jpg", files.jpeg(), desk.as_("agent", "A001"))
    assert answer.status_code == 503, answer.text
    assert "object store did not take the file" in answer.json()["message"]
    assert desk.rows(created["id"]) == 0
    assert desk.events(created["id"]) == []


def test_the_store_checks_every_request_s_signature(objectstore: ObjectStoreAccess) -> None:
    forged = S3Store(
        bucket=objectstore.bucket,
        endpoint_url=objectstore.endpoint_url,
        region="us-east-1",
        access_key_id=objectstore.access_key_id,
        secret_access_key="not-the-secret-" + objectstore.secret_access_key[:8],
    )
    with pytest.raises(StoreUnavailable, match="SignatureDoesNotMatch"):
        forged.put("forged/one", b"x", content_type="text/plain", sha256="0" * 64)
    assert bucket(objectstore).keys(prefix="forged/") == []
