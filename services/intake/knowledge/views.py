"""The knowledge base's API: articles written, approved and read, and the articles that
may answer what a caller is saying, asked while the agent types it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query

from services.intake.knowledge import flows, service
from services.intake.knowledge.models import (
    ArticleCreate,
    ArticlePage,
    ArticleRead,
    ArticleUpdate,
    ModelAnswerCreate,
    StepBody,
    SuggestionPage,
)
from services.intake.search.words import query as words_query
from shared.auth.deps import require_roles
from shared.auth.principal import Principal, Role
from shared.clock import utcnow
from shared.deps import Db, OutboxDep
from shared.errors import Unprocessable
from shared.tenants import DEFAULT_TENANT, scope, tenants
from shared.vocabulary import STAFF_ROLES, ArticleStatus, ArticleStep, values

router = APIRouter(prefix="/knowledge", tags=["knowledge"])

_REGISTERS = (Role.AGENT, Role.DUTY_MANAGER, Role.SUPERVISOR)
# An article's number, as far as the database's column goes.
ArticleId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The article's number")]
_REFUSALS: dict[int | str, dict[str, Any]] = {
    403: {"description": "the caller's role (or department) may not do this"},
    404: {"description": "no such article the caller may see"},
    409: {"description": "not possible in the article's status: names it and the allowed steps"},
    422: {"description": "a field is missing or invalid: names the field"},
}


@router.post("/articles", status_code=201, response_model=ArticleRead, responses=_REFUSALS)
def create_article(
    db: Db,
    data: ArticleCreate,
    principal: Annotated[Principal, require_roles(*flows.WRITERS)],
) -> ArticleRead:
    """A new article, as a draft: a department's clerk writes for their own department,
    QA for any. Agents see it once it is submitted, approved and valid."""
    with db.transaction() as session:
        return flows.create(session, data, principal, now=utcnow())


@router.post("/model-answers", status_code=201, response_model=ArticleRead, responses=_REFUSALS)
def mark_model_answer(
    db: Db, data: ModelAnswerCreate, principal: Annotated[Principal, require_roles(Role.QA)]
) -> ArticleRead:
    """QA marks a department's reply to a complaint as a model answer: it becomes a draft
    article of the complaint's client, belonging to the department that replied, its
    answer the reply's words with the customer's personal data masked, and `question` as
    QA words what other callers will ask. 409 when the complaint has no such reply."""
    with db.transaction() as session:
        return flows.from_reply(session, data, principal, now=utcnow())


@router.get("/articles", response_model=ArticlePage)
def list_articles(
    db: Db,
    principal: Annotated[Principal, require_roles(*STAFF_ROLES)],
    status: Annotated[
        str | None, Query(description=f"One of {', '.join(values(ArticleStatus))}")
    ] = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    department: Annotated[
        str | None, Query(max_length=64, description="The department it belongs to")
    ] = None,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="Words of its question or keywords"),
    ] = None,
    tenant: Annotated[str | None, Query(description="The client (GET /tenants)")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> ArticlePage:
    """The articles this reader may see, most recently changed first: agents the approved
    ones valid now; a department's clerks those and their department's own in every
    status; QA, supervisors and administrators all."""
    if status is not None and ArticleStatus.of(status) is None:
        raise Unprocessable(
            "status", f"'{status}' is not one of {', '.join(values(ArticleStatus))}"
        )
    client = scope(principal, tenant)
    now = utcnow()
    a = service.articles.c
    conditions = flows.visible_conditions(principal, now)
    if client is not None:
        conditions.append(a.tenant == client)
    if status is not None:
        conditions.append(a.status == status.strip())
    if category is not None:
        conditions.append(a.category == category)
    if department is not None:
        conditions.append(a.owner_department == department)
    asked = words_query(q) if q else None
    if q and not asked:
        return ArticlePage(items=[])
    with db.read() as session:
        rows = service.listed(session, conditions, query=asked, limit=limit)
    return ArticlePage(items=[flows.read(principal, row, now) for row in rows])


@router.get("/articles/{article_id}", response_model=ArticleRead, responses=_REFUSALS)
def get_article(
    db: Db, article_id: ArticleId, principal: Annotated[Principal, require_roles(*STAFF_ROLES)]
) -> ArticleRead:
    """One article, with the steps the reader may take on it."""
    now = utcnow()
    with db.read() as session:
        row = flows.article_or_404(session, article_id, principal, now)
    return flows.read(principal, row, now)


@router.put("/articles/{article_id}", response_model=ArticleRead, responses=_REFUSALS)
def update_article(
    db: Db,
    article_id: ArticleId,
    data: ArticleUpdate,
    principal: Annotated[Principal, require_roles(*flows.WRITERS)],
) -> ArticleRead:
    """Edit a draft (a new version). An approved article is revised into a draft first
    (`revise`), a submitted one returned (`return`): agents go on reading the approved
    text until the new one is approved."""
    with db.transaction() as session:
        return flows.update(session, article_id, data, principal, now=utcnow())


_PURPOSE = {
    ArticleStep.SUBMIT: "The writer submits a draft for approval.",
    ArticleStep.APPROVE: (
        "QA or a supervisor approves a submitted article (someone other than its writer): "
        "agents read it from then, within its window of validity."
    ),
    ArticleStep.RETURN: "QA or a supervisor returns a submitted article for changes (`note`).",
    ArticleStep.RETIRE: "QA or a supervisor retires an article: agents no longer read it.",
    ArticleStep.REVISE: (
        "The writer takes an approved or retired article back into a draft, to edit it."
    ),
}


def _step_route(step: ArticleStep) -> None:
    def endpoint(
        db: Db, outbox: OutboxDep, article_id: Any, principal: Any, body: Any = None
    ) -> ArticleRead:
        note = body.note if body is not None else None
        with db.transaction() as session:
            return flows.take_step(
                session, article_id, step, principal, now=utcnow(), note=note, outbox=outbox
            )

    # Set here, not in the signature: the annotations are read as strings, and the roles
    # are this step's own.
    endpoint.__annotations__["principal"] = Annotated[
        Principal, require_roles(*flows.STEPS[step].roles)
    ]
    endpoint.__annotations__["body"] = Annotated[StepBody | None, Body()]
    endpoint.__annotations__["article_id"] = ArticleId

    router.add_api_route(
        f"/articles/{{article_id}}/{step.value}",
        endpoint,
        methods=["POST"],
        name=f"article_{step.name.lower()}",
        summary=f"{step.en} ({step.zh})",
        description=(
            f"{_PURPOSE[step]} From status "
            f"{', '.join(sorted(flows.STEPS[step].from_states))} to "
            f"{flows.STEPS[step].to_state}."
        ),
        response_model=ArticleRead,
        responses=_REFUSALS,
    )


for _step in ArticleStep:
    _step_route(_step)


@router.get("/suggest", response_model=SuggestionPage)
def suggest_articles(
    db: Db,
    principal: Annotated[Principal, require_roles(*_REGISTERS)],
    description: Annotated[
        str, Query(min_length=1, max_length=5000, description="What the caller says, as typed")
    ],
    category: Annotated[
        str | None, Query(max_length=40, description="The category chosen, if any")
    ] = None,
    tenant: Annotated[
        str | None, Query(description="The client whose line the caller rang (GET /tenants)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> SuggestionPage:
    """The approved articles of the caller's client valid now that may answer what the
    agent is typing, best first, each with why: the telling words of its question and
    keywords the text has, and whether it is filed under the category chosen. Nothing is
    stored."""
    client = scope(principal, tenant)
    if client is None:
        if tenants().several:
            raise Unprocessable(
                "tenant",
                "this centre answers for several clients: name the client whose line the "
                f"caller rang ({', '.join(tenants().ids)})",
            )
        client = DEFAULT_TENANT
    now = utcnow()
    with db.read() as session:
        found = flows.suggest(
            session,
            client=client,
            description=description,
            category=(category or "").strip() or None,
            now=now,
            limit=limit,
        )
    return SuggestionPage(items=[flows.suggestion(principal, m, now) for m in found], tenant=client)
