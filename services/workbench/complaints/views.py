"""The agent's pages and every role's complaint page: registration while the caller is
on the line, search, a complaint with its history and the actions the person may take."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from services.workbench.access.deps import REGISTRARS, STAFF, allow
from services.workbench.access.flows import User
from services.workbench.apis import Apis, Refused
from services.workbench.complaints import flows
from services.workbench.config import ConfigDep, WorkbenchConfig
from services.workbench.pages import render
from shared.deps import from_state
from shared.vocabulary import Action, AttachmentSource, FeedbackSource, Role

router = APIRouter(include_in_schema=False)

ApisDep = Annotated[Apis, from_state("apis")]
Registrar = Annotated[User, allow(*REGISTRARS)]
Staff = Annotated[User, allow(*STAFF)]
NoteTaker = Annotated[User, allow(*REGISTRARS, Role.DEPARTMENT)]
Reviser = Annotated[User, allow(Role.QA, Role.ADMIN)]
QaOnly = Annotated[User, allow(Role.QA)]
Attacher = Annotated[User, allow(*flows.ATTACHERS)]
Opener = Annotated[User, allow(*flows.OPENERS)]

# Where a file to attach is sent, for the larger body limit it takes (shared.api).
UPLOAD_PATH = r"/complaints/[^/]+/attachments"
# What a served file may do in the browser: nothing (shared.headers has the pages' own).
_SANDBOX = "default-src 'none'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'none'"
# What intake said about the file that goes on to the browser with it.
_PASSED_ON = ("content-disposition", "etag")


def _register_page(
    request: Request,
    config: WorkbenchConfig,
    apis: Apis,
    user: User,
    *,
    values: dict[str, Any] | None = None,
    error: str | None = None,
    fields: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    values = values or {}
    clients = flows.clients_of(apis, user)
    chosen = flows.client_chosen(clients, values.get("tenant"), values.get("dialled_number"))
    # Back with an error: the articles the text matched, the one chosen still chosen.
    articles = (
        flows.matching_articles(
            apis, user, values.get("description"), values.get("category"), chosen
        )
        if values.get("description")
        else []
    )
    return render(
        request,
        "register.html",
        config,
        user=user,
        clients=clients,
        chosen_client=chosen,
        categories=flows.categories_for(clients, chosen),
        articles=articles,
        answered_from_article=values.get("answered_from_article") or "",
        values={**values, "tenant": chosen or values.get("tenant") or ""},
        request_id=(values or {}).get("request_id") or str(uuid.uuid4()),
        error=error,
        fields=fields or {},
        status=status,
    )


@router.get("/c/{reference}")
def short_link(reference: str) -> Response:
    """The link staff SMS carry: the complaint's page (after signing in, if need be)."""
    return RedirectResponse(f"/complaints/{quote(reference[:64], safe='')}", status_code=303)


@router.get("/register")
def register_form(
    request: Request,
    config: ConfigDep,
    apis: ApisDep,
    user: Registrar,
    tenant: str = "",
    dialled_number: str = "",
) -> Response:
    """The registration form; `tenant` or `dialled_number` (from a telephony system)
    chooses the client whose call it is."""
    values = {"tenant": tenant[:32], "dialled_number": dialled_number[:32]}
    return _register_page(request, config, apis, user, values=values)


@router.get("/register/caller")
def caller(
    request: Request,
    config: ConfigDep,
    apis: ApisDep,
    user: Registrar,
    customer_phone: str = "",
    tenant: str = "",
) -> Response:
    """The caller's file, as the number is typed (with the client chosen)."""
    found = flows.caller_file(apis, user, customer_phone[:40], tenant[:32])
    return render(request, "_caller.html", config, user=user, caller=found)


@router.get("/register/duplicates")
def duplicates(
    request: Request,
    config: ConfigDep,
    apis: ApisDep,
    user: Registrar,
    customer_phone: str = "",
    description: str = "",
    location: str = "",
    tenant: str = "",
) -> Response:
    """Intake's likely duplicates of what the agent is typing, with why: the same
    client's only."""
    found = flows.possible_duplicates(
        apis, user, customer_phone[:40], description[:2000], location[:200], tenant[:32]
    )
    return render(request, "_duplicates.html", config, user=user, found=found)


@router.get("/register/articles")
def articles(
    request: Request,
    config: ConfigDep,
    apis: ApisDep,
    user: Registrar,
    description: str = "",
    category: str = "",
    tenant: str = "",
    answered_from_article: str = "",
) -> Response:
    """The knowledge base's articles that may answer what the agent is typing, each with
    a choice to register the complaint as answered from it."""
    found = flows.matching_articles(apis, user, description[:2000], category[:40], tenant[:32])
    return render(
        request,
        "_articles.html",
        config,
        user=user,
        articles=found,
        answered_from_article=answered_from_article[:20],
    )


@router.post("/register")
async def register(request: Request, config: ConfigDep, apis: ApisDep, user: Registrar) -> Response:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    body = flows.registration_body(form)
    key = values.get("request_id") or str(uuid.uuid4())
    try:
        created = apis.call(
            "intake",
            "POST",
            "/complaints",
            user.token,
            json=body,
            headers={"Idempotency-Key": key},
        )
    except Refused as exc:
        fields = {f["field"]: f["message"] for f in exc.fields}
        return _register_page(
            request,
            config,
            apis,
            user,
            values=values,
            error=exc.message,
            fields=fields,
            status=exc.status,
        )
    return RedirectResponse(f"/complaints/{created['id']}?registered=1", status_code=303)


@router.get("/search")
def search(
    request: Request,
    config: ConfigDep,
    apis: ApisDep,
    user: Staff,
    q: str = "",
    status: str = "",
    department: str = "",
    category: str = "",
    since: str = "",
    until: str = "",
    cursor: str = "",
    tenant: str = "",
) -> Response:
    """By phone, reference or words, most relevant first, with where the words are; by
    state, department, category and the days registered."""
    asked = flows.Search(
        q=q[:100],
        status=status[:32],
        department=department[:64],
        category=category[:64],
        since=since[:10],
        until=until[:10],
        cursor=cursor[:512],
        tenant=tenant[:32],
    )
    found = flows.search(apis, user, asked, config)
    clients = flows.clients_of(apis, user)
    departments = []
    if user.role != Role.DEPARTMENT:
        departments = _quiet_departments(apis, user)
    return render(
        request,
        "search.html",
        config,
        user=user,
        asked=asked,
        results=found["items"],
        next_href=_next_page(asked, found.get("next_cursor")),
        departments=departments,
        clients=clients,
        categories=flows.categories_for(clients, asked.tenant or None),
    )


def _next_page(asked: flows.Search, cursor: str | None) -> str | None:
    if not cursor:
        return None
    params = {k: v for k, v in asdict(asked).items() if v and k != "cursor"}
    return "/search?" + urlencode({**params, "cursor": cursor})


def _quiet_departments(apis: Apis, user: User) -> list[dict[str, Any]]:
    """The departments to filter by; none (no filter offered) if the directory is out
    of reach."""
    try:
        found: list[dict[str, Any]] = apis.get("escalation", "/departments", user.token)
    except Refused:
        return []
    return found


def _complaint_page(
    request: Request,
    config: WorkbenchConfig,
    apis: Apis,
    user: User,
    complaint_id: str,
    *,
    error: str | None = None,
    failed: str | None = None,
    status: int = 200,
    draft_resolution: str | None = None,
) -> Response:
    page = flows.complaint_page(apis, user, complaint_id)
    if draft_resolution is not None:
        flows.suggest_from_draft(apis, user, page, draft_resolution)
    return render(
        request,
        "complaint.html",
        config,
        user=user,
        page=page,
        c=page.state,
        error=error,
        failed=failed,
        done=request.query_params.get("done"),
        registered=request.query_params.get("registered"),
        status=status,
    )


@router.get("/complaints/{complaint_id}")
def complaint(
    request: Request, config: ConfigDep, apis: ApisDep, user: Staff, complaint_id: str
) -> Response:
    return _complaint_page(request, config, apis, user, complaint_id[:64])


@router.post("/complaints/{complaint_id}/actions/{action}")
async def act(
    request: Request,
    config: ConfigDep,
    apis: ApisDep,
    user: Staff,
    complaint_id: str,
    action: str,
) -> Response:
    chosen = Action.of(action)
    if chosen is None or chosen not in flows.OFFERED:
        return _complaint_page(
            request, config, apis, user, complaint_id, error=f"no action {action!r}", status=404
        )
    form = await request.form()
    draft = str(form.get("resolution") or "").strip()
    if form.get("suggest") and chosen in flows.WITH_RESOLUTION:
        # "Suggest a root cause": the same form back, the resolution kept, the cause
        # analytics reads in it preselected; nothing is sent to escalation.
        return _complaint_page(
            request,
            config,
            apis,
            user,
            complaint_id,
            failed=chosen.api_name,
            draft_resolution=draft[:4000],
        )
    body = flows.action_body(chosen, form, config)
    try:
        apis.post(
            "escalation", f"/complaints/{complaint_id}/actions/{chosen.api_name}", user.token, body
        )
    except Refused as exc:
        if exc.status == 404:
            raise
        return _complaint_page(
            request,
            config,
            apis,
            user,
            complaint_id,
            error=exc.message,
            failed=chosen.api_name,
            status=exc.status,
        )
    return RedirectResponse(f"/complaints/{complaint_id}?done={chosen.api_name}", status_code=303)


@router.post("/complaints/{complaint_id}/feedback")
async def feedback(
    request: Request, config: ConfigDep, apis: ApisDep, user: Registrar, complaint_id: str
) -> Response:
    """The follow-up call's outcome: the customer's verdict, through intake."""
    form = await request.form()
    body = {
        "result": form.get("result") or "",
        "comment": (form.get("comment") or None),
        "source": FeedbackSource.PHONE.value,
    }
    try:
        apis.post("intake", f"/complaints/{complaint_id}/feedback", user.token, body)
    except Refused as exc:
        if exc.status == 404:
            raise
        return _complaint_page(
            request,
            config,
            apis,
            user,
            complaint_id,
            error=exc.message,
            failed="feedback",
            status=exc.status,
        )
    return RedirectResponse(f"/complaints/{complaint_id}?done=feedback", status_code=303)


@router.post("/complaints/{complaint_id}/notes")
async def note(
    request: Request, config: ConfigDep, apis: ApisDep, user: NoteTaker, complaint_id: str
) -> Response:
    form = await request.form()
    try:
        apis.post(
            "intake",
            f"/complaints/{complaint_id}/notes",
            user.token,
            {"text": form.get("text") or ""},
        )
    except Refused as exc:
        if exc.status == 404:
            raise
        return _complaint_page(
            request,
            config,
            apis,
            user,
            complaint_id,
            error=exc.message,
            failed="note",
            status=exc.status,
        )
    return RedirectResponse(f"/complaints/{complaint_id}?done=note", status_code=303)


@router.post("/complaints/{complaint_id}/urges")
async def caller_urge(
    request: Request, config: ConfigDep, apis: ApisDep, user: Registrar, complaint_id: str
) -> Response:
    """A caller calls again about an open complaint (催办): intake records it and the
    holder is urged."""
    form = await request.form()
    try:
        apis.post(
            "intake", f"/complaints/{complaint_id}/urges", user.token, {"text": form.get("text")}
        )
    except Refused as exc:
        if exc.status == 404:
            raise
        return _complaint_page(
            request,
            config,
            apis,
            user,
            complaint_id,
            error=exc.message,
            failed="caller-urge",
            status=exc.status,
        )
    return RedirectResponse(f"/complaints/{complaint_id}?done=caller-urge", status_code=303)


@router.post("/complaints/{complaint_id}/root-cause")
async def revise_root_cause(
    request: Request, config: ConfigDep, apis: ApisDep, user: Reviser, complaint_id: str
) -> Response:
    """QA's revision of the root cause, kept by analytics."""
    form = await request.form()
    body = {"root_cause": form.get("root_cause") or "", "note": form.get("note") or None}
    try:
        apis.put("analytics", f"/analytics/complaints/{complaint_id}/root-cause", user.token, body)
    except Refused as exc:
        return _complaint_page(
            request,
            config,
            apis,
            user,
            complaint_id,
            error=exc.message,
            failed="root-cause",
            status=exc.status,
        )
    return RedirectResponse(f"/complaints/{complaint_id}?done=root-cause", status_code=303)


@router.post("/complaints/{complaint_id}/model-answer")
async def model_answer(
    request: Request, config: ConfigDep, apis: ApisDep, user: QaOnly, complaint_id: str
) -> Response:
    """QA marks the department's reply as a model answer: intake makes a draft article."""
    form = await request.form()
    keywords = str(form.get("keywords") or "").replace("，", ",").split(",")
    body = {
        "complaint_id": complaint_id,
        "question": str(form.get("question") or "").strip(),
        "keywords": [k.strip() for k in keywords if k.strip()],
    }
    try:
        apis.post("intake", "/knowledge/model-answers", user.token, body)
    except Refused as exc:
        return _complaint_page(
            request,
            config,
            apis,
            user,
            complaint_id,
            error=exc.message,
            failed="model-answer",
            status=exc.status,
        )
    return RedirectResponse(f"/complaints/{complaint_id}?done=model-answer", status_code=303)


@router.post("/complaints/{complaint_id}/attachments")
async def attach(
    request: Request, config: ConfigDep, apis: ApisDep, user: Attacher, complaint_id: str
) -> Response:
    """A photo or document for the complaint, sent on to intake, which judges it."""
    form = await request.form()
    chosen = form.get("file")
    if not isinstance(chosen, UploadFile) or not chosen.filename:
        return _complaint_page(
            request,
            config,
            apis,
            user,
            complaint_id,
            error="choose a file to attach",
            failed="attachment",
            status=422,
        )
    source = AttachmentSource.of(form.get("source"))
    fields = {"source": source.value} if source and user.role != Role.DEPARTMENT else None
    data = await chosen.read()
    try:
        apis.upload(
            "intake",
            f"/complaints/{quote(complaint_id, safe='')}/attachments",
            user.token,
            file=(chosen.filename, data, chosen.content_type or "application/octet-stream"),
            fields=fields,
        )
    except Refused as exc:
        if exc.status == 404:
            raise
        return _complaint_page(
            request,
            config,
            apis,
            user,
            complaint_id,
            error=exc.message,
            failed="attachment",
            status=exc.status,
        )
    return RedirectResponse(f"/complaints/{complaint_id}?done=attachment", status_code=303)


@router.get("/complaints/{complaint_id}/attachments/{attachment_id}")
def attachment(apis: ApisDep, user: Opener, complaint_id: str, attachment_id: str) -> Response:
    """The file, from intake as the person (intake judges the complaint's department)."""
    path = f"/complaints/{quote(complaint_id, safe='')}/attachments/{quote(attachment_id, safe='')}"
    answer = apis.download("intake", path, user.token)
    headers = {name: answer.headers[name] for name in _PASSED_ON if name in answer.headers}
    return Response(
        answer.content,
        media_type=answer.headers.get("content-type", "application/octet-stream"),
        headers={
            **headers,
            "Content-Security-Policy": _SANDBOX,
            "Cache-Control": "private, no-store",
        },
    )
