"""The Context every message flow takes, and the source named on the events they publish."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from services.notify.config import NotifyConfig
from services.notify.rendering import Templates
from shared.outbox import Outbox

SOURCE = "notify"


@dataclass(frozen=True)
class Context:
    """What the flows need besides the session: settings, templates, the outbox."""

    config: NotifyConfig
    templates: Templates
    outbox: Outbox

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.config.timezone)
