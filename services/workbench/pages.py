"""Rendering the pages: Jinja2 with autoescaping, Chinese first with an English switch.

Words of the domain (states, actions, roles, severities, …) are labelled from
shared.vocabulary and categories from shared.taxonomy; the pages' own words are written
in both languages where they are used, `tr("签收", "Accept")`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.workbench.access.flows import User
from services.workbench.config import WorkbenchConfig
from shared.logs import mask_phone
from shared.taxonomy import taxonomy
from shared.tenants import tenants
from shared.vocabulary import (
    Action,
    AssistStatus,
    AttachmentSource,
    Channel,
    ClerkAssignment,
    ClosureReason,
    DuplicateReason,
    ExtensionDecision,
    FeedbackResult,
    Nature,
    PauseFor,
    Record,
    ReturnReason,
    Role,
    RootCause,
    SearchField,
    Severity,
    Stage,
    State,
    Word,
)

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
LANG_COOKIE = "wb_lang"
LANGUAGES = ("zh-CN", "en")

WORDS: dict[str, type[Word]] = {
    "state": State,
    "action": Action,
    "role": Role,
    "severity": Severity,
    "channel": Channel,
    "nature": Nature,
    "root_cause": RootCause,
    "return_reason": ReturnReason,
    "feedback": FeedbackResult,
    "closure": ClosureReason,
    "decision": ExtensionDecision,
    "stage": Stage,
    "waiting_on": PauseFor,
    "assist": AssistStatus,
    "assignment": ClerkAssignment,
    "attachment_source": AttachmentSource,
    "duplicate": DuplicateReason,
    "search_field": SearchField,
}

env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def language_of(request: Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE, "")
    return chosen if chosen in LANGUAGES else LANGUAGES[0]


class Labels:
    """The label functions a template calls, in the request's language."""

    def __init__(self, language: str, config: WorkbenchConfig) -> None:
        self.language = language
        self.en = language == "en"
        self.tz = config.tz()

    def tr(self, zh: str, en: str) -> str:
        return en if self.en else zh

    def word(self, kind: str, value: Any) -> str:
        if value is None or value == "":
            return "—"
        member = WORDS[kind].of(value)
        return member.label(self.language) if member is not None else str(value)

    def category(self, value: str | None, tenant: str | None = None) -> str:
        """A category's label: the client's own where it has them, else the centre's."""
        client = tenants().get(tenant) if tenant else None
        found = (client.taxonomy() if client else taxonomy()).get(value or "")
        if found is None and client is not None:
            found = taxonomy().get(value or "")
        return found.label(self.language) if found else (value or "—")

    def client(self, value: str | None) -> str:
        """A client's name (shared.tenants), its id when it is no longer configured."""
        found = tenants().get(value or "")
        return found.label(self.language) if found else (value or "—")

    def when(self, value: Any, fmt: str = "%m-%d %H:%M") -> str:
        """A time from an API (ISO 8601, UTC) in the centre's zone."""
        if not value:
            return "—"
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.astimezone(self.tz).strftime(fmt)

    def day(self, value: Any) -> str:
        return self.when(value, "%Y-%m-%d %H:%M")

    def size(self, value: Any) -> str:
        """A file's size as people read it: 2.1 MB, 340 KB."""
        n = int(value or 0)
        if n >= 1024 * 1024:
            return f"{n / (1024 * 1024):.1f} MB"
        return f"{max(1, round(n / 1024))} KB" if n >= 1024 else f"{n} B"


def render(
    request: Request,
    template: str,
    config: WorkbenchConfig,
    *,
    user: User | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    language = language_of(request)
    labels = Labels(language, config)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    body = env.get_template(template).render(
        request=request,
        user=user,
        L=labels,
        tr=labels.tr,
        word=labels.word,
        category=labels.category,
        client=labels.client,
        several_clients=tenants().several,
        when=labels.when,
        day=labels.day,
        lang=language,
        here=here,
        here_quoted=quote(here, safe=""),
        mask=mask_phone,
        Role=Role,
        Action=Action,
        State=State,
        RootCause=RootCause,
        ReturnReason=ReturnReason,
        PauseFor=PauseFor,
        FeedbackResult=FeedbackResult,
        ExtensionDecision=ExtensionDecision,
        Severity=Severity,
        Channel=Channel,
        Nature=Nature,
        ClerkAssignment=ClerkAssignment,
        Record=Record,
        AttachmentSource=AttachmentSource,
        taxonomy=taxonomy(),
        refresh_ms=int(config.queue_refresh_seconds * 1000),
        **context,
    )
    return HTMLResponse(body, status_code=status, headers=headers)
