"""What the analytics worker does with each event type: keep the read models."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import tzinfo
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from services.analytics.config import get_config
from services.analytics.facts import flows
from services.analytics.knowledge import flows as knowledge
from shared.consumer import Handler, Refused, Together
from shared.db import Database
from shared.events import Event
from shared.settings import Settings
from shared.vocabulary import LIFECYCLE_EVENTS, EventName


def handlers_for(tz: tzinfo) -> dict[str, Handler]:
    """One handler per event type the read models are built from. A complaint's events
    read together (a registration, its lifecycle, QA's revisions) are applied together:
    their facts read in one statement and written in a few (`flows.apply_events`, the
    rebuild's path, whose rows are those of the handlers one event at a time)."""

    def many(session: Session, events: Sequence[Event[Any]]) -> None:
        refused = flows.apply_events(session, events, tz)
        if refused:
            # Rolled back, and handled one by one: the refused event is dead-lettered
            # with its reason, the others take effect.
            raise Refused(refused[0][1], error_class="tenant")

    one_each: dict[str, Handler] = {
        EventName.COMPLAINT_RECEIVED: partial(flows.on_received, tz=tz),
        flows.REVISED: partial(flows.on_revised, tz=tz),
    }
    one_each.update(dict.fromkeys(LIFECYCLE_EVENTS, partial(flows.on_lifecycle, tz=tz)))
    table: dict[str, Handler] = {name: Together(one, many) for name, one in one_each.items()}
    table[EventName.ARTICLE_APPROVED] = knowledge.on_approved
    table[EventName.ARTICLE_WITHDRAWN] = knowledge.on_withdrawn
    return table


def handlers(_db: Database, _settings: Settings) -> Mapping[str, Handler]:
    return handlers_for(get_config().tz())
