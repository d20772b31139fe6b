"""The clients (tenants) of the centre as notify meets them: whose templates, sign name
and sender an SMS goes out with, which clients a number we text from stands for, and
which duty roster a client's desk is on. Pure code over the clients file
(shared.tenants) and notify's settings.

- A client's SMS are signed with its sign name (else NOTIFY_SIGN_NAME) and sent from its
  own sender (else the provider's configured one).
- A person texting one of our numbers writes to the clients that send from it: one
  client where it is that client's own number, several where clients share a number.
- A client with a roster of its own has a desk of its own; the others share the
  centre's roster (`SHARED_ROSTER`).
"""

from __future__ import annotations

from services.notify.config import NotifyConfig
from shared.tenants import DEFAULT_TENANT, Tenant, digits, tenants

# The roster key of the centre's shared roster (a client's own roster is keyed by its id).
SHARED_ROSTER = ""


def client(tenant_id: str | None) -> Tenant | None:
    """The client, or None for one the clients file no longer lists (its old messages)."""
    return tenants().get(tenant_id or DEFAULT_TENANT)


def signature(tenant_id: str | None, language: str, config: NotifyConfig) -> str:
    """The sign name a client's SMS in `language` starts with."""
    found = client(tenant_id)
    return found.signature(language, config.sign_name) if found else config.sign_name


def own_sender(tenant_id: str | None) -> str | None:
    """The sender the client's SMS go out from, when it has one of its own."""
    found = client(tenant_id)
    return found.sender if found else None


def sender_of(tenant_id: str | None, config: NotifyConfig) -> str:
    return own_sender(tenant_id) or config.sender


def _same(a: str, b: str) -> bool:
    return a == b or (bool(digits(a)) and digits(a) == digits(b))


def same_sender(tenant_id: str, config: NotifyConfig) -> list[str]:
    """The clients whose SMS go out from the same number as this client's (itself too)."""
    mine = sender_of(tenant_id, config)
    found = [t.id for t in tenants().all() if _same(sender_of(t.id, config), mine)]
    return found if tenant_id in found else [tenant_id, *found]


def texted(to: str | None, config: NotifyConfig) -> list[str] | None:
    """The clients a person wrote to by texting `to`: those sending from that number,
    else the client whose hotline number it is. None when it tells nothing (no number,
    or one that is no client's): any client's, as with a single client."""
    if not to or not tenants().several:
        return None
    found = [t.id for t in tenants().all() if _same(sender_of(t.id, config), to)]
    if found:
        return found
    dialled = tenants().by_number(to)
    return [dialled.id] if dialled is not None else None


def roster_of(tenant_id: str) -> str:
    """The roster whose duty manager answers for the client's complaints."""
    found = client(tenant_id)
    return found.id if found is not None and found.own_roster else SHARED_ROSTER
