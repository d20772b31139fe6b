"""FastAPI dependencies for what a service's app holds, as `Annotated` aliases, so that a
route says what it needs in its signature: `def list_shifts(db: Db, ...)`.

The app's lifespan sets them up (shared.api: the database; the service's main.py: its outbox
and its own pieces, for which `from_state` makes an alias).
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import Depends, Request

from shared.db import Database
from shared.outbox import Outbox

# The getters are coroutines only so that FastAPI calls them in place: a plain function
# dependency would be sent to the thread pool on every request, to read an attribute.


async def get_db(request: Request) -> Database:
    return cast(Database, request.app.state.db)


async def get_auth_db(request: Request) -> Database:
    """The shared token store (shared.auth.store)."""
    return cast(Database, request.app.state.auth_db)


async def get_outbox(request: Request) -> Outbox:
    return cast(Outbox, request.app.state.outbox)


def from_state(name: str) -> Any:
    """`Depends` on what the app keeps as `app.state.<name>`: for a service's own pieces,
    `Config = Annotated[EscalationConfig, from_state("escalation")]`."""

    async def dependency(request: Request) -> Any:
        return getattr(request.app.state, name)

    dependency.__name__ = dependency.__qualname__ = f"get_{name}"
    return Depends(dependency)


Db = Annotated[Database, Depends(get_db)]
AuthDb = Annotated[Database, Depends(get_auth_db)]
OutboxDep = Annotated[Outbox, Depends(get_outbox)]
