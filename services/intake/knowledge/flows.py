"""What the knowledge base does: who writes, edits and moves an article through its
statuses (one table of steps, judged like the lifecycle: the status first, then who,
then the rules), what each reader sees, and which articles may answer what a caller is
saying while the agent types it.

Departments write for their own department, QA for any; QA or a supervisor approves,
returns and retires; agents read only the approved articles of their client that are
valid now. An article is matched on its question and keywords: how much of what they say
the caller's words have (each word weighing what it tells, search.words.weight), with a
little more for the category the agent chose.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, or_
from sqlalchemy.orm import Session

from services.intake.complaints import service as complaints
from services.intake.complaints.registration import SOURCE
from services.intake.knowledge import service
from services.intake.knowledge.models import (
    ANSWER_MAX,
    ArticleBase,
    ArticleCreate,
    ArticleRead,
    ArticleUpdate,
    ModelAnswerCreate,
    Suggestion,
)
from services.intake.knowledge.service import articles
from services.intake.search import service as search
from services.intake.search.words import document, weight, words
from shared.auth.principal import Principal
from shared.contracts import (
    ARTICLE_APPROVED,
    ARTICLE_WITHDRAWN,
    ArticleApproved,
    ArticleWithdrawn,
)
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.events import Actor, Envelope, registry
from shared.outbox import Outbox
from shared.privacy import mask_text
from shared.tenants import DEFAULT_TENANT, may_see, tenant, tenants
from shared.vocabulary import ArticleStatus, ArticleStep, Role

# Who writes articles and who approves them.
WRITERS = frozenset({Role.DEPARTMENT, Role.QA})
APPROVERS = frozenset({Role.QA, Role.SUPERVISOR})
# Who reads every status (the others read what agents read, a clerk their department's too).
SEES_EVERY_STATUS = frozenset({Role.QA, Role.SUPERVISOR, Role.ADMIN})


class Step(NamedTuple):
    from_states: frozenset[ArticleStatus]
    to_state: ArticleStatus
    roles: frozenset[Role]


_S = ArticleStatus
STEPS: dict[ArticleStep, Step] = {
    ArticleStep.SUBMIT: Step(frozenset({_S.DRAFT}), _S.SUBMITTED, WRITERS),
    ArticleStep.APPROVE: Step(frozenset({_S.SUBMITTED}), _S.APPROVED, APPROVERS),
    ArticleStep.RETURN: Step(frozenset({_S.SUBMITTED}), _S.DRAFT, APPROVERS),
    ArticleStep.RETIRE: Step(
        frozenset({_S.DRAFT, _S.SUBMITTED, _S.APPROVED}), _S.RETIRED, APPROVERS
    ),
    ArticleStep.REVISE: Step(frozenset({_S.APPROVED, _S.RETIRED}), _S.DRAFT, WRITERS),
}
# What may be edited: a draft. Anything else is revised (or returned) into one first.
EDITABLE = frozenset({ArticleStatus.DRAFT})


# --- who may do what --------------------------------------------------------------------


def _owns(principal: Principal, row: Any) -> bool:
    """A clerk acts on their own department's articles only; QA and the desk on any."""
    return principal.role != Role.DEPARTMENT or row.owner_department == principal.department_id


def _may(principal: Principal, step: ArticleStep, row: Any) -> str | None:
    """Why `principal` may not take `step` on `row`, or None."""
    rule = STEPS[step]
    if principal.role not in rule.roles:
        return f"only {' or '.join(sorted(rule.roles))} may {step.value} an article"
    if not _owns(principal, row):
        return f"the article belongs to department {row.owner_department}, not yours"
    return None


def _own_words(principal: Principal, step: ArticleStep, row: Any) -> bool:
    """Whether `principal` would approve what they wrote themselves: someone else must."""
    return step == ArticleStep.APPROVE and row.updated_by == principal.staff_id


def allowed_steps(principal: Principal, row: Any) -> list[ArticleStep]:
    return [
        step
        for step, rule in STEPS.items()
        if row.status in rule.from_states
        and _may(principal, step, row) is None
        and not _own_words(principal, step, row)
    ]


def _visible(principal: Principal, row: Any, now: datetime) -> bool:
    if not may_see(principal, row.tenant):
        return False
    if principal.role in SEES_EVERY_STATUS:
        return True
    if principal.role == Role.DEPARTMENT and row.owner_department == principal.department_id:
        return True
    return valid_now(row, now)


def valid_now(row: Any, now: datetime) -> bool:
    return (
        row.status == ArticleStatus.APPROVED
        and (row.valid_from is None or row.valid_from <= now)
        and (row.valid_until is None or row.valid_until > now)
    )


def visible_conditions(principal: Principal, now: datetime) -> list[ColumnElement[bool]]:
    """What a list shows this reader (the client apart: `scope` limits it)."""
    if principal.role in SEES_EVERY_STATUS:
        return []
    if principal.role == Role.DEPARTMENT:
        own = articles.c.owner_department == principal.department_id
        return [or_(own, service.valid_at(now))]
    return [service.valid_at(now)]


def read(principal: Principal, row: Any, now: datetime) -> ArticleRead:
    return ArticleRead.model_validate(
        {
            **row._mapping,
            "valid_now": valid_now(row, now),
            "allowed_steps": allowed_steps(principal, row),
        }
    )


def article_or_404(
    session: Session,
    article_id: int,
    principal: Principal,
    now: datetime,
    *,
    for_update: bool = False,
) -> Any:
    """The article; 404 when there is none this reader may see (another client's, a draft
    an agent may not read): whether it exists is none of their business."""
    row = service.get(session, article_id, for_update=for_update)
    if row is None or not _visible(principal, row, now):
        raise NotFound(f"no article {article_id}", article_id=article_id)
    return row


# --- writing --------------------------------------------------------------------------


def client_for(data: ArticleCreate, principal: Principal) -> str:
    """The client an article is written for: the writer's own, else the one named, else
    in a centre of one client, that one."""
    if principal.tenant is not None:
        if data.tenant is not None and data.tenant != principal.tenant:
            raise Forbidden(
                f"this token belongs to client '{principal.tenant}'; it does not write "
                f"articles for '{data.tenant}'",
                tenant=principal.tenant,
            )
        return principal.tenant
    if data.tenant is not None:
        tenants().require(data.tenant)
        return data.tenant
    if not tenants().several:
        return DEFAULT_TENANT
    raise Unprocessable(
        "tenant",
        f"this centre answers for several clients: choose one ({', '.join(tenants().ids)})",
    )


def _checked(data: ArticleBase, client: str, principal: Principal) -> dict[str, Any]:
    """The article's own fields, checked against the client and the writer."""
    categories = tenant(client).taxonomy()
    if categories.get(data.category) is None:
        raise Unprocessable(
            "category",
            f"unknown category {data.category!r} for client '{client}'; "
            f"allowed: {', '.join(categories.ids)}",
        )
    problem = data.window_problem()
    if problem:
        raise Unprocessable("valid_until", problem)
    owner = data.owner_department
    if principal.role == Role.DEPARTMENT:
        if owner is not None and owner != principal.department_id:
            raise Forbidden(
                f"a clerk of {principal.department_id} writes articles for their own "
                f"department, not {owner}",
                department_id=principal.department_id,
            )
        owner = principal.department_id
    return {
        "question": data.question,
        "answer": data.answer,
        "category": data.category,
        "keywords": data.keywords,
        "valid_from": data.valid_from,
        "valid_until": data.valid_until,
        "owner_department": owner,
        "words": document(data.question, *data.keywords),
        "more_words": document(data.answer),
    }


def create(
    session: Session,
    data: ArticleCreate,
    principal: Principal,
    *,
    now: datetime,
    from_complaint_id: str | None = None,
) -> ArticleRead:
    """A new draft, written by `principal` for their client (or the one named)."""
    if principal.role not in WRITERS:
        raise Forbidden(
            f"articles are written by {' or '.join(sorted(WRITERS))}", role=principal.role.value
        )
    client = client_for(data, principal)
    row = {
        **_checked(data, client, principal),
        "tenant": client,
        "status": ArticleStatus.DRAFT,
        "version": 1,
        "written_by": principal.staff_id,
        "written_at": now,
        "updated_by": principal.staff_id,
        "updated_at": now,
        "from_complaint_id": from_complaint_id,
    }
    article_id = service.add(session, row)
    return read(principal, service.get(session, article_id), now)


def _refused_state(row: Any, principal: Principal, what: str) -> Conflict:
    allowed = allowed_steps(principal, row)
    names = ", ".join(s.value for s in allowed) or "none"
    return Conflict(
        f"cannot {what} article {row.id} in status '{row.status}'; allowed steps: {names}",
        state=row.status,
        allowed_steps=[s.value for s in allowed],
    )


def update(
    session: Session, article_id: int, data: ArticleUpdate, principal: Principal, *, now: datetime
) -> ArticleRead:
    """An edit of a draft: a new version."""
    row = article_or_404(session, article_id, principal, now, for_update=True)
    if row.status not in EDITABLE:
        raise _refused_state(row, principal, "edit")
    if principal.role not in WRITERS or not _owns(principal, row):
        raise Forbidden(
            "articles are edited by QA and the clerks of the department they belong to",
            role=principal.role.value,
        )
    if data.version is not None and data.version != row.version:
        raise Conflict(
            f"article {row.id} was edited since version {data.version} (it is at version "
            f"{row.version}, by {row.updated_by}): read it again and redo the edit",
            version=row.version,
        )
    values = _checked(data, row.tenant, principal)
    if principal.role == Role.DEPARTMENT:
        values["owner_department"] = row.owner_department
    values.update(version=row.version + 1, updated_by=principal.staff_id, updated_at=now)
    service.change(session, row.id, values)
    return read(principal, service.get(session, row.id), now)


def take_step(
    session: Session,
    article_id: int,
    step: ArticleStep,
    principal: Principal,
    *,
    now: datetime,
    note: str | None = None,
    outbox: Outbox | None = None,
) -> ArticleRead:
    """Move an article on: the status first (409 naming it and the steps allowed), then
    who (403), then the rules (409). An article agents start or stop reading is announced
    (`outbox`) in the same transaction."""
    row = article_or_404(session, article_id, principal, now, for_update=True)
    rule = STEPS[step]
    if row.status not in rule.from_states:
        raise _refused_state(row, principal, step.value)
    problem = _may(principal, step, row)
    if problem:
        raise Forbidden(problem, role=principal.role.value, step=step.value)
    values: dict[str, Any] = {"status": rule.to_state, "updated_at": now}
    if step == ArticleStep.APPROVE:
        if _own_words(principal, step, row):
            raise Conflict(
                f"article {row.id} was written by {principal.staff_id}: someone else approves it",
                state=row.status,
                allowed_steps=[s.value for s in allowed_steps(principal, row)],
            )
        values.update(approved_by=principal.staff_id, approved_at=now, note=None)
    elif step in (ArticleStep.RETURN, ArticleStep.RETIRE):
        values["note"] = note
    elif step == ArticleStep.REVISE:
        values.update(approved_by=None, approved_at=None, updated_by=principal.staff_id)
    service.change(session, row.id, values)
    after = service.get(session, row.id)
    if outbox is not None:
        announced = _announcement(row, after, step, principal, now)
        if announced is not None:
            outbox.add(session, announced)
    return read(principal, after, now)


def _announcement(
    before: Any, after: Any, step: ArticleStep, principal: Principal, now: datetime
) -> Envelope | None:
    """The event of a step that starts or stops agents reading the article, else None."""
    payload: ArticleApproved | ArticleWithdrawn
    if after.status == ArticleStatus.APPROVED:
        payload = ArticleApproved(
            article_id=after.id,
            version=after.version,
            category=after.category,
            question=after.question,
            keywords=list(after.keywords or []),
            owner_department=after.owner_department,
            valid_from=after.valid_from,
            valid_until=after.valid_until,
            changed_at=now,
        )
    elif before.status == ArticleStatus.APPROVED:
        payload = ArticleWithdrawn(article_id=after.id, step=step, changed_at=now)
    else:
        return None
    name = ARTICLE_APPROVED.name if isinstance(payload, ArticleApproved) else ARTICLE_WITHDRAWN.name
    return registry.new(
        name,
        payload,
        source=SOURCE,
        tenant=after.tenant,
        actor=Actor(id=principal.staff_id, role=principal.role.value),
        complaint_id=None,
        occurred_at=now,
    )


def answered_from(session: Session, article_id: int, *, client: str, now: datetime) -> Any:
    """The article a complaint says the caller was answered from: one agents may read now,
    of the complaint's client (422 naming `answered_from_article` otherwise)."""
    row = service.get(session, article_id)
    if row is None or row.tenant != client:
        raise Unprocessable(
            "answered_from_article", f"no article {article_id} of client '{client}'"
        )
    if not valid_now(row, now):
        why = f"'{row.status}'" if row.status != ArticleStatus.APPROVED else "outside its window"
        raise Unprocessable(
            "answered_from_article",
            f"article {article_id} is {why}: agents answer only from approved articles valid now",
        )
    return row


# --- a department's reply as a model answer ----------------------------------------------


def from_reply(
    session: Session, data: ModelAnswerCreate, principal: Principal, *, now: datetime
) -> ArticleRead:
    """A department's reply QA marked as a model answer: a draft article of the complaint's
    client, its answer the reply's words (the customer's personal data masked), belonging
    to the department that replied. The department (or QA) words it for everyone and
    submits it; someone other than QA's marker approves it."""
    complaint = complaints.find_complaint(session, data.complaint_id.strip())
    if complaint is None or not may_see(principal, complaint.tenant):
        raise NotFound(f"no complaint {data.complaint_id}", complaint_id=data.complaint_id)
    reply = search.reply_of(session, complaint.id, history_seq=data.history_seq)
    if reply is None:
        which = f" at history entry {data.history_seq}" if data.history_seq else ""
        raise Conflict(
            f"complaint {complaint.reference} has no reply{which} to take as a model answer",
            complaint_id=complaint.id,
            state=complaint.status,
        )
    answer = mask_text(reply.resolution, names=(complaint.customer_name,))[:ANSWER_MAX]
    if len(answer.strip()) < 2:
        raise Conflict(f"the reply to {complaint.reference} is too short to be an answer")
    article = ArticleCreate(
        question=data.question,
        answer=answer,
        category=data.category or complaint.category,
        keywords=data.keywords,
        owner_department=reply.department_id,
        tenant=complaint.tenant,
    )
    return create(session, article, principal, now=now, from_complaint_id=complaint.id)


# --- what agents find while they type ----------------------------------------------------

# The most telling words of what the caller says that look for articles.
LOOK_FOR = 12
# How much of an article's question and keywords (by weight) the text must have: of the
# web messages to a city hotline (data/gov_messages_labelled.csv), those asking about
# central heating hold a quarter to two thirds of a heating article's, and messages
# about anything else none of it.
MIN_COVERAGE = 0.2
# What the category the agent chose adds.
SAME_CATEGORY_WEIGHT = 0.1


@dataclass(frozen=True)
class Match:
    row: Any
    score: float
    shared: list[str]
    same_category: bool


def coverage(described: set[str], row: Any) -> tuple[float, list[str]]:
    """How much of the article's question and keywords (0 to 1, by what each word tells)
    the text's words hold, and those words, most telling first."""
    key = {w for w in row.words.split() if weight(w) > 0}
    total = sum(map(weight, key))
    if not total:
        return 0.0, []
    shared = sorted(described & key, key=lambda w: (-weight(w), w))
    return sum(map(weight, shared)) / total, shared


def suggest(
    session: Session,
    *,
    client: str,
    description: str,
    category: str | None,
    now: datetime,
    limit: int = 5,
) -> list[Match]:
    """The approved articles of `client` valid now that may answer `description`, best
    first."""
    described = {w for w in words(description) if weight(w) > 0}
    telling = sorted(described, key=lambda w: (-weight(w), w))[:LOOK_FOR]
    conditions = [articles.c.tenant == client, service.valid_at(now)]
    found = []
    for row in service.holding_any(session, telling, conditions):
        covered, shared = coverage(described, row)
        if covered < MIN_COVERAGE:
            continue
        same = category is not None and row.category == category
        score = min(covered + (SAME_CATEGORY_WEIGHT if same else 0.0), 1.0)
        found.append(Match(row, round(score, 2), shared[:8], same))
    found.sort(key=lambda m: (-m.score, m.row.id))
    return found[:limit]


def suggestion(principal: Principal, match: Match, now: datetime) -> Suggestion:
    return Suggestion(
        article=read(principal, match.row, now),
        score=match.score,
        shared_words=match.shared,
        same_category=match.same_category,
    )
