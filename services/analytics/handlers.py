"""What the analytics worker does with each event type: keep the read models."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from functools import partial

from services.analytics.config import get_config
from services.analytics.facts import flows
from services.analytics.knowledge import flows as knowledge
from shared.consumer import Handler
from shared.db import Database
from shared.settings import Settings
from shared.vocabulary import LIFECYCLE_EVENTS, EventName


def handlers_for(tz: tzinfo) -> dict[str, Handler]:
    """One handler per event type the read models are built from."""
    table: dict[str, Handler] = {
        EventName.COMPLAINT_RECEIVED: partial(flows.on_received, tz=tz),
        flows.REVISED: partial(flows.on_revised, tz=tz),
        EventName.ARTICLE_APPROVED: knowledge.on_approved,
        EventName.ARTICLE_WITHDRAWN: knowledge.on_withdrawn,
    }
    table.update(dict.fromkeys(LIFECYCLE_EVENTS, partial(flows.on_lifecycle, tz=tz)))
    return table


def handlers(_db: Database, _settings: Settings) -> Mapping[str, Handler]:
    return handlers_for(get_config().tz())
