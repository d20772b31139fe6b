"""Photos and documents on a complaint: attach one, list them, download one."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from services.intake.attachments import flows
from services.intake.attachments.flows import UPLOADERS, Attachments, Upload
from services.intake.attachments.models import AttachmentRead
from services.intake.db import access_log
from shared.access_log import Seen
from shared.auth.deps import require_roles
from shared.auth.principal import Principal
from shared.clock import utcnow
from shared.deps import Db, OutboxDep, from_state
from shared.vocabulary import STAFF_ROLES, AttachmentSource

router = APIRouter(tags=["attachments"])

AttachmentsDep = Annotated[Attachments, from_state("attachments")]
# Where an upload's route is, for the larger body limit it takes (shared.api).
UPLOAD_PATH = r"/complaints/[^/]+/attachments"
# A served file runs nothing and is framed by nobody, whatever it turns out to hold.
_SANDBOX = "default-src 'none'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'none'"


@router.post(
    "/complaints/{complaint_id}/attachments",
    status_code=201,
    response_model=AttachmentRead,
    responses={
        403: {"description": "the complaint is no longer with the clerk's department"},
        404: {"description": "no such complaint, or another department's"},
        409: {"description": "the complaint has as many attachments as it may"},
        413: {"description": "the file is over the size limit"},
        415: {"description": "the bytes are of a kind not accepted (named by what they are)"},
        422: {
            "description": "empty; the name disagrees with the bytes; refused by the virus "
            "scanner; a source the caller may not give"
        },
        503: {"description": "the virus scanner or the object store is down: nothing stored"},
    },
)
def attach(
    db: Db,
    outbox: OutboxDep,
    attachments: AttachmentsDep,
    complaint_id: str,
    principal: Annotated[Principal, require_roles(*UPLOADERS)],
    file: Annotated[UploadFile, File(description="The photo or document (multipart/form-data)")],
    source: Annotated[
        AttachmentSource | None,
        Form(
            description="Where it came from: `agent` (default for the centre's staff), `web` "
            "(the customer's web form), `mms`; a department's clerk attaches as `department`"
        ),
    ] = None,
) -> AttachmentRead:
    """Attach a photo or document to a complaint (the reference works in place of the
    id). What it is is read from its bytes: a file named .jpg must be a JPEG image. It is
    scanned for viruses, stored, listed in the complaint's history."""
    # One byte past the limit is enough to know it is over.
    data = file.file.read(attachments.max_bytes + 1)
    upload = Upload(data=data, name=file.filename, source=source)
    return flows.add(
        db, outbox, attachments, complaint_id, upload, principal=principal, now=utcnow()
    )


@router.get(
    "/complaints/{complaint_id}/attachments",
    response_model=list[AttachmentRead],
    responses={404: {"description": "no such complaint, or another department's"}},
)
def list_attachments(
    db: Db,
    complaint_id: str,
    principal: Annotated[Principal, require_roles(*STAFF_ROLES)],
) -> list[AttachmentRead]:
    """The complaint's attachments, oldest first: name, type, size, sha256, who attached
    it, when, and from where. For those who may not read what the customer wrote (QA,
    the outsourcing client) the names are masked and the files not opened."""
    return flows.listed(db, complaint_id, principal)


def _disposition(name: str, inline: bool) -> str:
    """Both forms of the name: RFC 6266's UTF-8 one and a plain ASCII fallback."""
    fallback = "".join(
        ch if ch.isascii() and ch.isprintable() and ch not in '"\\;' else "_" for ch in name
    )
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.get(
    "/complaints/{complaint_id}/attachments/{attachment_id}",
    response_class=Response,
    responses={
        200: {"description": "The file's bytes, with the type intake found in them"},
        403: {"description": "roles that may not see the customer's personal data"},
        404: {"description": "no such complaint or attachment"},
        503: {"description": "the object store is down"},
    },
)
def download(
    request: Request,
    db: Db,
    attachments: AttachmentsDep,
    complaint_id: str,
    attachment_id: str,
    principal: Annotated[Principal, require_roles(*STAFF_ROLES)],
) -> Response:
    """The file itself, for those who may see the complaint and its customer's personal
    data. Images open in the browser; documents download. Every read is in the access
    log."""
    opened = flows.open_attachment(db, attachments, complaint_id, attachment_id, principal)
    row, found = opened.complaint, opened.attachment
    if row.customer_key:
        # A photo or a scan can show who the customer is: its read is recorded.
        access_log.record(db, principal, request, [Seen(row.customer_key, (row.id,))])
    inline = opened.kind is not None and opened.kind.inline
    return Response(
        content=opened.data,
        media_type=found.content_type,
        headers={
            "Content-Disposition": _disposition(found.name, inline),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": _SANDBOX,
            "Cache-Control": "private, no-store",
            "ETag": f'"{found.sha256}"',
        },
    )
