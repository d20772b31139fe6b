"""Who read a customer's personal data: every answer that showed a person a customer's
file, or a customer's phone number in full, is recorded by the service that gave it
(who, in which role, when, which customer and complaints, by which route), for the
administrator to look up: `GET /access-log?customer=…&staff=…&since=…`.

What a person changes is recorded where it is changed (a complaint's `registered_by`, the
lifecycle's history), so only reads come here; and only reads that show a person's data:
a health check, a queue without phones or an answer with the phone masked are not.

One request is one INSERT, however many complaints its page shows: a row per customer,
with the complaints of theirs that it showed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    cast,
    insert,
    or_,
    select,
)
from sqlalchemy.orm import Session

from shared.auth.deps import require_roles
from shared.auth.principal import Principal
from shared.clock import utcnow
from shared.db import Database, UTCDateTime
from shared.deps import Db
from shared.errors import Forbidden, Unprocessable
from shared.params import IsoDateTimeAnyZone
from shared.phones import InvalidPhone, parse_phone
from shared.tenants import scope
from shared.vocabulary import Role

TABLE = "access_log"
# A customer an older system knew by id, not by phone (intake's customer key).
REF_PREFIX = "ref:"


def access_log_table(metadata: MetaData) -> Table:
    return Table(
        TABLE,
        metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
        Column("at", UTCDateTime, nullable=False),
        Column("staff_id", String(64), nullable=False),
        Column("role", String(32), nullable=False),
        Column("method", String(8), nullable=False),
        # The route as declared (/customers/{phone}): the same for every customer read.
        Column("route", String(200), nullable=False),
        # The customer's key: the phone in E.164, or ref:<id>.
        Column("customer", String(80), nullable=False),
        Column("complaint_ids", JSON, nullable=False),
        Index("ix_access_log_customer_at", "customer", "at"),
        Index("ix_access_log_staff_at", "staff_id", "at"),
        Index("ix_access_log_at", "at"),
    )


def create_access_log(op: Any) -> None:
    """The table as `access_log_table` declares it, for a service's migration."""
    import sqlalchemy as sa

    op.create_table(
        TABLE,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("route", sa.String(200), nullable=False),
        sa.Column("customer", sa.String(80), nullable=False),
        sa.Column("complaint_ids", sa.JSON(), nullable=False),
    )
    op.create_index("ix_access_log_customer_at", TABLE, ["customer", "at"])
    op.create_index("ix_access_log_staff_at", TABLE, ["staff_id", "at"])
    op.create_index("ix_access_log_at", TABLE, ["at"])


def drop_access_log(op: Any) -> None:
    op.drop_table(TABLE)


@dataclass(frozen=True)
class Seen:
    """One customer whose data an answer showed, and which of their complaints."""

    customer: str
    complaint_ids: tuple[str, ...] = ()


def seen_in(pairs: Iterable[tuple[str | None, str | None]]) -> list[Seen]:
    """(customer, complaint id) pairs of a page, one `Seen` per customer, in page order;
    pairs without a customer (an anonymous caller) showed nobody's data."""
    by_customer: dict[str, list[str]] = {}
    for customer, complaint_id in pairs:
        if not customer:
            continue
        ids = by_customer.setdefault(customer, [])
        if complaint_id and complaint_id not in ids:
            ids.append(complaint_id)
    return [Seen(customer, tuple(ids)) for customer, ids in by_customer.items()]


class AccessRead(BaseModel):
    id: int
    at: datetime
    staff_id: str
    role: str
    method: str
    route: str = Field(description="The route as declared, e.g. /customers/{phone}")
    customer: str = Field(description="The customer's phone (E.164), or ref:<id>")
    complaint_ids: list[str]


class AccessLogPage(BaseModel):
    items: list[AccessRead]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page"
    )


def _route_of(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", request.url.path))[:200]


class AccessLog:
    """A service's access log: recording the reads its answers make, and the API that
    lets an administrator read it."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def record(
        self,
        db: Database,
        principal: Principal,
        request: Request,
        seen: Iterable[Seen],
        *,
        now: datetime | None = None,
        tenant: str | None = None,
    ) -> None:
        """One INSERT for the request, a row per customer; nothing when nobody's data
        was shown. `tenant`: the client whose customers they are, in a log that keeps it."""
        at = now or utcnow()
        route, method = _route_of(request), request.method[:8]
        rows = [
            {
                "at": at,
                "staff_id": principal.staff_id,
                "role": principal.role.value,
                "method": method,
                "route": route,
                "customer": one.customer[:80],
                "complaint_ids": list(one.complaint_ids),
            }
            for one in seen
        ]
        if not rows:
            return
        if tenant is not None:
            rows = [{**row, "tenant": tenant} for row in rows]
        with db.transaction() as session:
            session.execute(insert(self.table), rows)

    def query(
        self,
        session: Session,
        *,
        customer: str | None = None,
        staff_id: str | None = None,
        complaint_ids: Iterable[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        limit: int = 100,
        tenant: str | None = None,
    ) -> list[Any]:
        """Newest first; `complaint_ids` keeps the reads that showed any of them, `tenant`
        those of one client's customers (in a log that keeps the client)."""
        c = self.table.c
        stmt = select(self.table)
        if tenant is not None:
            stmt = stmt.where(c.tenant == tenant)
        if customer is not None:
            stmt = stmt.where(c.customer == customer)
        if staff_id is not None:
            stmt = stmt.where(c.staff_id == staff_id)
        wanted = [i for i in complaint_ids if i]
        if wanted:
            listed = cast(c.complaint_ids, String)
            stmt = stmt.where(
                or_(*(listed.contains(f'"{one}"', autoescape=True) for one in wanted))
            )
        if since is not None:
            stmt = stmt.where(c.at >= since)
        if until is not None:
            stmt = stmt.where(c.at < until)
        if before_id is not None:
            stmt = stmt.where(c.id < before_id)
        return list(session.execute(stmt.order_by(c.id.desc()).limit(limit)))

    def router(
        self, *, complaint_ids_of: Callable[[Session, str], list[str]] | None = None
    ) -> APIRouter:
        """`GET /access-log` for administrators. `complaint_ids_of` turns what the caller
        gave as `complaint` (an id or a reference) into the ids this service keeps."""
        router = APIRouter(tags=["access log"])
        log = self

        @router.get("/access-log", response_model=AccessLogPage)
        def read_access_log(
            request: Request,
            db: Db,
            principal: Annotated[Principal, require_roles(Role.ADMIN)],
            customer: Annotated[
                str | None,
                Query(max_length=80, description="The customer's phone (any spelling) or ref:<id>"),
            ] = None,
            staff: Annotated[
                str | None, Query(max_length=64, description="Whose reads: a staff id")
            ] = None,
            complaint: Annotated[
                str | None,
                Query(
                    max_length=64, description="Reads that showed this complaint (id or reference)"
                ),
            ] = None,
            since: Annotated[
                IsoDateTimeAnyZone | None, Query(description="At or after, with a UTC offset")
            ] = None,
            until: Annotated[
                IsoDateTimeAnyZone | None, Query(description="Before, with a UTC offset")
            ] = None,
            limit: Annotated[int, Query(ge=1, le=500)] = 100,
            cursor: Annotated[
                str | None, Query(description="next_cursor of the previous page")
            ] = None,
            tenant: Annotated[
                str | None,
                Query(max_length=32, description="Reads of one client's customers only"),
            ] = None,
        ) -> AccessLogPage:
            """Who read which customer's data, newest first. Reading the log shows the
            customers' phones too, so it is recorded like any other read. A log that keeps
            the client of each read is read one client's at a time by a client's own
            administrator; one that does not is the centre's, refused to them."""
            if principal.tenant is not None and "tenant" not in log.table.c:
                raise Forbidden(
                    "this access log is the centre's, of every client: an administrator of "
                    f"client '{principal.tenant}' does not read it",
                    tenant=principal.tenant,
                )
            key = _customer_key(customer) if customer else None
            client = _client_of(log.table, principal, tenant)
            for name, value in (("since", since), ("until", until)):
                if value is not None and value.tzinfo is None:
                    raise Unprocessable(name, "needs a UTC offset, e.g. 2026-11-01T00:00:00+08:00")
            before = None
            if cursor is not None:
                if not cursor.isdigit():
                    raise Unprocessable("cursor", "not a cursor this API handed out")
                before = int(cursor)
            with db.read() as session:
                ids: list[str] = []
                if complaint:
                    ids = [
                        complaint,
                        *(complaint_ids_of(session, complaint) if complaint_ids_of else []),
                    ]
                rows = log.query(
                    session,
                    customer=key,
                    staff_id=staff,
                    complaint_ids=ids,
                    since=since,
                    until=until,
                    before_id=before,
                    limit=limit + 1,
                    tenant=client,
                )
            more = len(rows) > limit
            rows = rows[:limit]
            items = [AccessRead.model_validate(row, from_attributes=True) for row in rows]
            # Each client's customers shown are recorded as that client's, in a log that
            # keeps clients.
            shown: dict[str | None, list[str]] = {}
            for item, row in zip(items, rows, strict=True):
                shown.setdefault(row._mapping.get("tenant"), []).append(item.customer)
            for tenant_id, customers in shown.items():
                seen = seen_in((one, None) for one in customers)
                log.record(db, principal, request, seen, tenant=tenant_id)
            return AccessLogPage(items=items, next_cursor=str(rows[-1].id) if more else None)

        return router


def _client_of(table: Table, principal: Principal, asked: str | None) -> str | None:
    """The client a log that keeps clients is read for (shared.tenants.scope); None in a
    log that keeps none, or for the centre's staff reading every client's."""
    if "tenant" not in table.c:
        return None
    return scope(principal, asked)


def _customer_key(raw: str) -> str:
    raw = raw.strip()
    if raw.startswith(REF_PREFIX):
        return raw
    try:
        return parse_phone(raw).e164
    except InvalidPhone as exc:
        raise Unprocessable("customer", f"{exc}; or ref:<id> for a customer known by id") from None
