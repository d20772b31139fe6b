"""The Context every message flow takes, and the source named on the events they publish."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from services.notify.config import NotifyConfig
from services.notify.messages import clients
from services.notify.rendering import Templates
from shared.outbox import Outbox

SOURCE = "notify"


@dataclass(frozen=True)
class Context:
    """What the flows need besides the session: settings, templates, the outbox."""

    config: NotifyConfig
    templates: Templates
    outbox: Outbox
    # The templates of each client with templates or categories of its own, over the
    # centre's (`templates`), by client id.
    client_templates: Mapping[str, Templates] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.config.timezone)

    def templates_for(self, tenant_id: str | None) -> Templates:
        return self.client_templates.get(tenant_id or "", self.templates)

    def signature(self, tenant_id: str | None, language: str) -> str:
        return clients.signature(tenant_id, language, self.config)
