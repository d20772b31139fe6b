"""Complaints as registered, the customers' files, feedback, notes, idempotency keys:
the tables and the API schemas that read and write them."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy import JSON, BigInteger, Column, Index, Integer, String, Text, func
from sqlmodel import Field as Col

from services.intake.config import get_config
from services.intake.db import IntakeTable
from shared.db import UTCDateTime, table_of
from shared.params import IsoDateTime
from shared.phones import InvalidPhone, parse_phone
from shared.tenants import DEFAULT_TENANT, TENANT_PATTERN, tenants
from shared.vocabulary import (
    Channel,
    FeedbackResult,
    FeedbackSource,
    Nature,
    NoteSource,
    Severity,
    State,
    values,
)

STATUSES = values(State)

_BIG = BigInteger().with_variant(Integer(), "sqlite")
# A place as people say it: an estate and building, a street and number, a school, a
# shop, a company's branch. Longer is a description of what happened there.
LOCATION_MAX = 200
NAME_MAX = 64


def _utc(**kw: Any) -> Any:
    return Col(sa_column=Column(UTCDateTime(), **kw))


# --- tables ---------------------------------------------------------------------------


class Customer(IntakeTable, table=True):
    __tablename__ = "customers"

    # The E.164 phone (a mobile or a landline), or `ref:<id>` for a customer an older
    # system knew only by id; for a client other than the default one, prefixed by the
    # client (`water|+8613800138000`): one caller of two clients has a file with each.
    # Anonymous callers have no row.
    key: str = Col(primary_key=True, max_length=80)
    tenant: str = Col(default=DEFAULT_TENANT, max_length=32)
    phone: str | None = Col(default=None, max_length=20, index=True)
    external_ref: str | None = Col(default=None, max_length=64)
    name: str | None = Col(default=None, max_length=64)
    first_seen_at: datetime = _utc(nullable=False)
    last_complaint_at: datetime = _utc(nullable=False)
    complaint_count: int = Col(default=0)


class Complaint(IntakeTable, table=True):
    __tablename__ = "complaints"
    __table_args__ = (
        Index("ix_complaints_customer_time", "customer_key", "registered_at"),
        Index("ix_complaints_time_id", "registered_at", "id"),
        Index("ix_complaints_status_time", "status", "registered_at"),
        Index("ix_complaints_tenant_time", "tenant", "registered_at"),
    )

    id: str = Col(primary_key=True, max_length=36)
    # The client it was made to (shared.tenants).
    tenant: str = Col(default=DEFAULT_TENANT, max_length=32)
    # The number behind the reference; unique for ever, never reused.
    number: int = Col(sa_column=Column(_BIG, nullable=False, unique=True))
    reference: str = Col(max_length=32, unique=True)
    # None for an anonymous caller: no customer file.
    customer_key: str | None = Col(default=None, max_length=80)
    customer_phone: str | None = Col(default=None, max_length=20)
    customer_extension: str | None = Col(default=None, max_length=8)
    # Whether SMS can reach the customer (a mobile); the answer to a landline or an
    # anonymous caller comes by a follow-up call.
    customer_textable: bool = Col(default=True)
    anonymous: bool = Col(default=False)
    customer_name: str | None = Col(default=None, max_length=NAME_MAX)
    channel: str = Col(max_length=16)
    category: str = Col(max_length=40)
    severity: str = Col(max_length=16)
    nature: str = Col(max_length=16)
    strong_emotion: bool = Col(default=False)
    description: str = Col(sa_column=Column(Text, nullable=False))
    # Where it happened, as the caller said it (事发地点); can be the caller's home.
    location: str | None = Col(default=None, max_length=LOCATION_MAX)
    occurred_at: datetime | None = _utc(nullable=True)
    registered_at: datetime = _utc(nullable=False)
    registered_by: str = Col(max_length=64)
    external_id: str | None = Col(default=None, max_length=64)
    # Loaded by the import command from an older system.
    imported: bool = Col(default=False)
    # The read copy of the lifecycle, as the escalation service publishes it.
    status: str = Col(default=State.RECEIVED.value, max_length=24)
    status_seq: int = Col(default=0)
    status_updated_at: datetime | None = _utc(nullable=True)
    holder_staff_id: str | None = Col(default=None, max_length=64)
    department_id: str | None = Col(default=None, max_length=64)
    closure_reason: str | None = Col(default=None, max_length=32)
    # The departments assisting the lead on it (协办), each between commas (",a,b,"):
    # their clerks read it too.
    assisting: str | None = Col(default=None, max_length=400)
    # The knowledge base's article the agent answered the caller from, if any.
    answered_from_article: int | None = Col(default=None, sa_column=Column(_BIG, nullable=True))


# The customer's name as registered, whatever the case it is typed in (search).
Index("ix_complaints_name", func.lower(table_of(Complaint).c.customer_name))


class Feedback(IntakeTable, table=True):
    __tablename__ = "feedback"

    id: int | None = Col(default=None, sa_column=Column(_BIG, primary_key=True))
    complaint_id: str = Col(max_length=36, index=True, foreign_key="complaints.id")
    result: str = Col(max_length=16)
    comment: str | None = Col(default=None, sa_column=Column(Text))
    source: str = Col(max_length=16)
    recorded_by: str = Col(max_length=64)
    recorded_at: datetime = _utc(nullable=False)


class Note(IntakeTable, table=True):
    __tablename__ = "notes"

    id: int | None = Col(default=None, sa_column=Column(_BIG, primary_key=True))
    complaint_id: str = Col(max_length=36, index=True, foreign_key="complaints.id")
    text: str = Col(sa_column=Column(Text, nullable=False))
    source: str = Col(max_length=16)
    added_by: str = Col(max_length=64)
    added_at: datetime = _utc(nullable=False)


class Urge(IntakeTable, table=True):
    """A caller who called again about an open complaint (催办), in their words."""

    __tablename__ = "urges"

    id: int | None = Col(default=None, sa_column=Column(_BIG, primary_key=True))
    complaint_id: str = Col(max_length=36, index=True, foreign_key="complaints.id")
    text: str = Col(sa_column=Column(Text, nullable=False))
    requested_by: str = Col(max_length=64)
    requested_at: datetime = _utc(nullable=False)


class IdempotencyKey(IntakeTable, table=True):
    __tablename__ = "idempotency_keys"

    # Scoped to the caller: two agents' keys never collide.
    staff_id: str = Col(primary_key=True, max_length=64)
    key: str = Col(primary_key=True, max_length=128)
    request_hash: str = Col(max_length=64)
    complaint_id: str = Col(max_length=36)
    status_code: int = Col(default=201)
    response: dict[str, Any] = Col(sa_column=Column(JSON, nullable=False))
    created_at: datetime = _utc(nullable=False, index=True)


class ImportedRow(IntakeTable, table=True):
    """A row the import command has loaded: importing the same file again adds nothing."""

    __tablename__ = "imported_rows"

    source: str = Col(primary_key=True, max_length=64)
    row_hash: str = Col(primary_key=True, max_length=64)
    complaint_id: str = Col(max_length=36)
    imported_at: datetime = _utc(nullable=False)


class ReferenceCounter(IntakeTable, table=True):
    """Hands out complaint numbers on SQLite; PostgreSQL uses a sequence instead."""

    __tablename__ = "reference_counter"

    name: str = Col(sa_column=Column(String(16), primary_key=True))
    last: int = Col(sa_column=Column(_BIG, nullable=False))


# --- API schemas ----------------------------------------------------------------------

_Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX)]


def clean_text(value: str) -> str:
    """NFC, no control characters but newlines and tabs, trimmed, blank lines squeezed."""
    value = unicodedata.normalize("NFC", value)
    value = "".join(
        ch for ch in value if ch in "\n\t" or not unicodedata.category(ch).startswith("C")
    )
    lines = [line.strip() for line in value.replace("\r\n", "\n").split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def clean_location(value: str) -> str | None:
    """`clean_text` on one line: a place typed over two lines, or with double spaces, is
    the same place when complaints are grouped by it. None when nothing is left."""
    return " ".join(clean_text(value).split()) or None


def location_problem(value: str | None) -> str | None:
    """Why a cleaned location is refused, or None."""
    if value is not None and len(value) > LOCATION_MAX:
        return f"too long: at most {LOCATION_MAX} characters (the place, not what happened there)"
    return None


_EXTENSION = re.compile(r"^\d{1,6}$")


class ComplaintCreate(BaseModel):
    """What an agent registers while the customer is on the line."""

    model_config = ConfigDict(extra="forbid")

    # Before the phone: its validator reads whether the caller is anonymous.
    anonymous: bool = Field(
        default=False,
        description="The caller will not give a number: no customer file, no SMS, no "
        "follow-up call. Without it a phone is required, so that nobody forgets to ask.",
    )
    customer_phone: str | None = Field(
        default=None,
        validate_default=True,
        description="The caller's number as they say it: a mobile (13800138000, "
        "+86 138 0013 8000), a landline with its area code and maybe an extension "
        "(010-6512 3456, 010-6512 3456 转 801) or E.164. Left out only when anonymous.",
        examples=["13800138000", "010-6512 3456 转 801"],
    )
    customer_extension: str | None = Field(
        default=None,
        description="Dialled after the number connects; may also be typed after the number",
        examples=["801"],
    )
    customer_name: _Name | None = None
    channel: Channel
    # Before the category: the client's own categories are the ones allowed.
    tenant: str | None = Field(
        default=None,
        pattern=TENANT_PATTERN,
        description="The client the complaint is made to (GET /tenants), as the agent chose "
        "it; left out: the client of the dialled number, else the agent's own client, else "
        "the only one",
        examples=["water"],
    )
    dialled_number: str | None = Field(
        default=None,
        max_length=32,
        description="The hotline number the caller dialled (from the telephony system): it "
        "names the client when `tenant` is left out",
        examples=["96390"],
    )
    category: str = Field(description="A category id from GET /categories", examples=["billing"])
    severity: Severity = Severity.NORMAL
    nature: Nature = Nature.GENUINE
    strong_emotion: bool = False
    description: str = Field(examples=["上月话费账单多扣了 30 元，客服一直没有回复。"])
    location: str | None = Field(
        default=None,
        description="Where it happened, as the caller says it (事发地点): an estate and "
        f"building, a street and number, a school, a shop; at most {LOCATION_MAX} characters",
        examples=["朝阳区幸福里小区 3 号楼", "人民路 88 号苏宁门店"],
    )
    occurred_at: IsoDateTime | None = Field(
        default=None, description="When it happened, with a UTC offset"
    )
    answered_from_article: int | None = Field(
        default=None,
        ge=1,
        le=2**63 - 1,
        description="The knowledge base's article (GET /knowledge/suggest) the agent answered "
        "the caller from: approved, valid now and of the complaint's client",
        examples=[7],
    )

    @model_validator(mode="before")
    @classmethod
    def _extension_typed_with_the_number(cls, data: Any) -> Any:
        """010-6512 3456 转 801: the extension apart, the number as E.164. A number that
        does not parse is left as typed, for the phone's own check to name."""
        if not isinstance(data, dict) or not isinstance(data.get("customer_phone"), str):
            return data
        try:
            phone = parse_phone(data["customer_phone"], region=get_config().default_region)
        except InvalidPhone:
            return data
        if not phone.extension:
            return data
        given = data.get("customer_extension")
        if given not in (None, "", phone.extension):
            return data  # two different extensions: the extension's check says so
        return {**data, "customer_phone": phone.e164, "customer_extension": phone.extension}

    @field_validator("customer_phone")
    @classmethod
    def _phone(cls, value: str | None, info: ValidationInfo) -> str | None:
        anonymous = info.data.get("anonymous") is True
        if value is None or not value.strip():
            if anonymous:
                return None
            raise ValueError(
                "required: ask the caller for a number (a mobile, or a landline with its "
                'area code); if they will not give one, register with "anonymous": true'
            )
        if anonymous:
            raise ValueError(
                'an anonymous complaint has no phone: leave it out, or set "anonymous": false'
            )
        try:
            phone = parse_phone(value, region=get_config().default_region)
        except InvalidPhone as exc:
            raise ValueError(str(exc)) from None
        if phone.extension:
            raise ValueError(
                f"two extensions ({phone.extension} typed with the number, and "
                "customer_extension): give one"
            )
        return phone.e164

    @field_validator("customer_extension")
    @classmethod
    def _extension(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not _EXTENSION.match(value):
            raise ValueError("digits only, at most 6: 801")
        # (A phone that failed its own check is not in info.data: that error is enough.)
        if "customer_phone" in info.data and info.data["customer_phone"] is None:
            raise ValueError("an extension needs the number it belongs to")
        return value

    @property
    def customer_textable(self) -> bool:
        """Whether SMS can reach the caller: a mobile number."""
        if self.customer_phone is None:
            return False
        return parse_phone(self.customer_phone, region=get_config().default_region).textable

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, value: str | None) -> str | None:
        if value is not None and tenants().get(value) is None:
            raise ValueError(
                f"'{value}' is not a client of this centre; one of: {', '.join(tenants().ids)}"
            )
        return value

    @field_validator("dialled_number")
    @classmethod
    def _dialled(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not value.strip():
            return None
        found = tenants().by_number(value)
        chosen = info.data.get("tenant")
        if found is None and chosen is None:
            raise ValueError(
                f"{value.strip()} is not a hotline number of any client; choose the client "
                "with `tenant`"
            )
        if found is not None and chosen is not None and found.id != chosen:
            raise ValueError(
                f"{value.strip()} is client '{found.id}'s number, not '{chosen}''s: the "
                "caller dialled the other client's line"
            )
        return value.strip()

    @property
    def named_tenant(self) -> str | None:
        """The client the body names: chosen, or by the dialled number."""
        if self.tenant is not None:
            return self.tenant
        found = tenants().by_number(self.dialled_number) if self.dialled_number else None
        return found.id if found is not None else None

    @field_validator("category")
    @classmethod
    def _category(cls, value: str, info: ValidationInfo) -> str:
        named = info.data.get("tenant")
        dialled = info.data.get("dialled_number")
        if named is None and dialled:
            found = tenants().by_number(dialled)
            named = found.id if found is not None else None
        tenant = tenants().get(named)
        # Without a client named, any client's category passes here; the registration
        # checks it against the client it then takes (the agent's own).
        clients = [tenant] if tenant is not None else tenants().all()
        allowed = list(dict.fromkeys(c for t in clients for c in t.taxonomy().ids))
        if value.strip() not in allowed:
            raise ValueError(f"unknown category {value!r}; allowed: {', '.join(allowed)}")
        return value.strip()

    @field_validator("description")
    @classmethod
    def _description(cls, value: str) -> str:
        cfg = get_config()
        value = clean_text(value)
        if len(value) < cfg.description_min:
            raise ValueError(f"too short: at least {cfg.description_min} characters")
        if len(value) > cfg.description_max:
            raise ValueError(f"too long: at most {cfg.description_max} characters")
        return value

    @field_validator("location")
    @classmethod
    def _location(cls, value: str | None) -> str | None:
        cleaned = clean_location(value) if value is not None else None
        problem = location_problem(cleaned)
        if problem:
            raise ValueError(problem)
        return cleaned


class CustomerFile(BaseModel):
    """The caller's file as the agent needs it on the line; counts exclude this complaint."""

    open_complaints: int
    complaints_last_30_days: int
    total_complaints: int
    repeat: bool
    last_complaint_at: datetime | None = None


class ComplaintRead(BaseModel):
    id: str
    reference: str
    tenant: str = Field(default=DEFAULT_TENANT, description="The client it was made to")
    status: State
    customer_phone: str | None
    customer_extension: str | None = None
    customer_textable: bool = Field(
        default=True, description="SMS can reach the customer; false: answer by a call"
    )
    anonymous: bool = False
    customer_name: str | None
    channel: str
    category: str
    severity: str
    nature: str
    strong_emotion: bool
    description: str
    location: str | None = Field(
        default=None, description="Where it happened, as the caller said it (事发地点)"
    )
    occurred_at: datetime | None
    registered_at: datetime
    registered_by: str
    imported: bool = Field(default=False, description="Loaded from an older system")
    external_id: str | None = Field(default=None, description="Its id in the older system")
    holder_staff_id: str | None = None
    department_id: str | None = None
    closure_reason: str | None = None
    status_updated_at: datetime | None = None
    answered_from_article: int | None = Field(
        default=None, description="The knowledge base's article the caller was answered from"
    )


class ComplaintCreated(ComplaintRead):
    customer_file: CustomerFile


class FeedbackCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    result: FeedbackResult
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None
    source: FeedbackSource = FeedbackSource.PHONE


class FeedbackRead(BaseModel):
    id: int
    complaint_id: str
    result: str
    comment: str | None
    source: str
    recorded_by: str
    recorded_at: datetime


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
    source: NoteSource = NoteSource.AGENT


class NoteRead(BaseModel):
    id: int
    complaint_id: str
    text: str
    source: str
    added_by: str
    added_at: datetime


class UrgeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)
    ] = Field(
        description="What the caller said, as the holder should read it",
        examples=["已经三天了还没人联系我，请尽快处理。"],
    )


class UrgeRead(BaseModel):
    id: int
    complaint_id: str
    reference: str
    text: str
    requested_by: str
    requested_at: datetime
    status: State = Field(description="The complaint's state, as intake last heard it")


class CustomerRead(BaseModel):
    phone: str | None
    tenants: list[str] = Field(
        default_factory=list, description="The clients the caller complained to (shared.tenants)"
    )
    customer_ref: str | None = Field(
        default=None, description="The id an older system knew the customer by"
    )
    name: str | None
    first_seen_at: datetime
    last_complaint_at: datetime
    file: CustomerFile
    complaints: list[ComplaintRead]


class TenantRead(BaseModel):
    id: str
    zh: str
    en: str
    numbers: list[str] = Field(description="The hotline numbers callers dial for it")
    own_roster: bool = Field(description="Whether it keeps a duty roster of its own")


class CategoryRead(BaseModel):
    id: str
    zh: str
    en: str
    group: str
