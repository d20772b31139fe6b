"""Clients (tenants): the companies an outsourcing centre answers for.

A centre that answers for one organisation has one client, `default`, and nothing to
configure. A centre that answers for several lists them in TENANTS_FILE (JSON):

    {"tenants": [
      {"id": "water", "zh": "清源水务", "en": "Qingyuan Water",
       "numbers": ["96390", "0571-96390"],
       "sign_name": {"zh": "【清源水务】", "en": "[Qingyuan Water] "},
       "sender": "+8610690001",
       "taxonomy_file": "/etc/complaints/water-taxonomy.json",
       "templates_dir": "/etc/complaints/water-templates",
       "sla_minutes": {"resolution": {"normal": 2880}},
       "own_roster": true},
      {"id": "gas", "zh": "蓝焰燃气", "en": "Blue Flame Gas", "numbers": ["96777"]}
    ]}

Each client has its own departments, categories, SLA policy, SMS signature, templates
and dialled numbers; every complaint, event, directory entry and report carries its
client. `default` always exists: an installation that had one organisation keeps its
data there, and a file without an entry for it gets one named by the service's own
settings. Who may see which client: a token's grant names one client, or none for the
centre's own staff, who serve them all (`scope`, `may_see`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from shared.auth.principal import Principal
from shared.errors import Forbidden, Unprocessable
from shared.taxonomy import Taxonomy, taxonomy

DEFAULT_TENANT = "default"
TENANT_ID = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
TENANT_PATTERN = TENANT_ID.pattern


@dataclass(frozen=True)
class Tenant:
    id: str
    zh: str
    en: str
    # The hotline numbers callers dial for this client, as digits (0571-96390 → 057196390).
    numbers: tuple[str, ...] = ()
    # Prepended to every SMS sent for this client, by language ("zh", "en"); empty: the
    # notify service's own NOTIFY_SIGN_NAME.
    sign_name: dict[str, str] = field(default_factory=dict)
    # The provider's sender (a number or messaging service) for this client's SMS.
    sender: str | None = None
    taxonomy_file: Path | None = None
    # Templates of this client's own (<dir>/<language>.toml), over the centre's.
    templates_dir: Path | None = None
    # Minutes per SLA stage and severity, over the centre's (ESCALATION_SLA_MINUTES).
    sla_minutes: dict[str, dict[str, int]] = field(default_factory=dict)
    # A duty roster of this client's own; else the centre's shared roster.
    own_roster: bool = False

    def label(self, language: str = "zh") -> str:
        return self.en if language.lower().startswith("en") else self.zh

    def signature(self, language: str, fallback: str = "") -> str:
        """The SMS sign name for `language`: this client's, else the centre's."""
        if not self.sign_name:
            return fallback
        if language.lower().startswith("en"):
            return self.sign_name.get("en", self.sign_name.get("zh", fallback))
        return self.sign_name.get("zh", self.sign_name.get("en", fallback))

    def taxonomy(self) -> Taxonomy:
        """This client's categories: its own file, else the centre's taxonomy."""
        if self.taxonomy_file is None:
            return taxonomy()
        return _taxonomy_file(self.taxonomy_file)

    def public(self) -> dict[str, Any]:
        """What any signed-in member of staff may read of the client."""
        return {
            "id": self.id,
            "zh": self.zh,
            "en": self.en,
            "numbers": list(self.numbers),
            "own_roster": self.own_roster,
        }


@cache
def _taxonomy_file(path: Path) -> Taxonomy:
    return Taxonomy.load(path)


class UnknownTenant(Unprocessable, ValueError):
    """A client this centre does not answer for: 422 naming the field `tenant`."""

    def __init__(self, reason: str) -> None:
        super().__init__("tenant", reason)


def digits(number: str) -> str:
    """A dialled number as the digits dialled from within mainland China: '0571-8800
    1234' and '+86 571 8800 1234' are both 057188001234; short codes stay as they are."""
    text = (number or "").strip()
    found = re.sub(r"\D", "", text)
    international = text.startswith("+86") or found.startswith("0086")
    if international:
        found = found[4:] if found.startswith("0086") else found[2:]
        if found and not found.startswith(("0", "1")):
            found = "0" + found  # an area code, written with its trunk prefix at home
    return found


class Tenants:
    """The centre's clients, in the order they were configured (`default` first)."""

    def __init__(self, tenants: list[Tenant]) -> None:
        by_id: dict[str, Tenant] = {}
        for tenant in tenants:
            if not TENANT_ID.match(tenant.id):
                raise ValueError(
                    f"tenant id {tenant.id!r}: lower-case letters, digits, '_' or '-', "
                    "at most 32, starting with a letter"
                )
            if tenant.id in by_id:
                raise ValueError(f"tenant id {tenant.id!r} is listed twice")
            by_id[tenant.id] = tenant
        if DEFAULT_TENANT not in by_id:
            by_id = {DEFAULT_TENANT: Tenant(DEFAULT_TENANT, "默认", "Default"), **by_id}
        self._by_id = by_id
        self._by_number: dict[str, Tenant] = {}
        for tenant in by_id.values():
            for number in tenant.numbers:
                owner = self._by_number.get(number)
                if owner is not None and owner.id != tenant.id:
                    raise ValueError(
                        f"number {number} is dialled for both {owner.id!r} and {tenant.id!r}"
                    )
                self._by_number[number] = tenant

    @property
    def ids(self) -> list[str]:
        return list(self._by_id)

    def all(self) -> list[Tenant]:
        return list(self._by_id.values())

    @property
    def several(self) -> bool:
        """Whether the centre answers for more than one client (`default` unused or not)."""
        return len(self._by_id) > 1

    def get(self, tenant_id: str | None) -> Tenant | None:
        return self._by_id.get(tenant_id or "")

    def require(self, tenant_id: str) -> Tenant:
        tenant = self._by_id.get(tenant_id)
        if tenant is None:
            raise UnknownTenant(
                f"'{tenant_id}' is not a client of this centre; one of: {', '.join(self.ids)}"
            )
        return tenant

    def by_number(self, dialled: str) -> Tenant | None:
        """The client whose hotline number was dialled; the longest configured number
        the dialled one ends with, so '+86 571 96390' finds '96390' too."""
        wanted = digits(dialled)
        if not wanted:
            return None
        exact = self._by_number.get(wanted)
        if exact is not None:
            return exact
        endings = [n for n in self._by_number if wanted.endswith(n) or n.endswith(wanted)]
        if not endings:
            return None
        return self._by_number[max(endings, key=len)]


def _tenant(item: dict[str, Any], *, base: Path) -> Tenant:
    def path(value: Any) -> Path | None:
        if not value:
            return None
        p = Path(str(value))
        return p if p.is_absolute() else base / p

    unknown = set(item) - {
        "id", "zh", "en", "numbers", "sign_name", "sender", "taxonomy_file",
        "templates_dir", "sla_minutes", "own_roster",
    }  # fmt: skip
    if unknown:
        raise ValueError(f"tenant {item.get('id')!r}: unknown settings {sorted(unknown)}")
    sign = item.get("sign_name") or {}
    if isinstance(sign, str):
        sign = {"zh": sign, "en": sign}
    sla = item.get("sla_minutes") or {}
    return Tenant(
        id=str(item["id"]),
        zh=str(item.get("zh") or item["id"]),
        en=str(item.get("en") or item.get("zh") or item["id"]),
        numbers=tuple(d for d in (digits(str(n)) for n in item.get("numbers", [])) if d),
        sign_name={str(k): str(v) for k, v in dict(sign).items()},
        sender=item.get("sender") or None,
        taxonomy_file=path(item.get("taxonomy_file")),
        templates_dir=path(item.get("templates_dir")),
        sla_minutes={str(s): {str(k): int(v) for k, v in dict(m).items()} for s, m in sla.items()},
        own_roster=bool(item.get("own_roster", False)),
    )


def load(path: Path) -> Tenants:
    data = json.loads(path.read_text(encoding="utf-8"))
    items = data["tenants"] if isinstance(data, dict) else data
    return Tenants([_tenant(dict(item), base=path.parent) for item in items])


@cache
def _load(path: str) -> Tenants:
    if not path:
        return Tenants([])
    return load(Path(path))


def tenants() -> Tenants:
    """The centre's clients (TENANTS_FILE), read once per file."""
    return _load(os.environ.get("TENANTS_FILE", ""))


def tenant(tenant_id: str | None) -> Tenant:
    """One client, `default` for None; UnknownTenant for a client not configured."""
    return tenants().require(tenant_id or DEFAULT_TENANT)


# -- who sees which client -------------------------------------------------------------


def may_see(principal: Principal, tenant_id: str | None) -> bool:
    """Whether `principal` may read or act on something of client `tenant_id`."""
    return principal.tenant is None or principal.tenant == (tenant_id or DEFAULT_TENANT)


def scope(principal: Principal, asked: str | None = None) -> str | None:
    """The client a query is limited to, or None for every client.

    A token of one client is limited to it whatever it asks (asking for another is
    403); the centre's own staff see every client, or the one they ask for."""
    if asked is not None and asked != "":
        tenants().require(asked)
    if principal.tenant is not None:
        if asked and asked != principal.tenant:
            raise Forbidden(
                f"this token belongs to client '{principal.tenant}', not '{asked}'",
                tenant=principal.tenant,
            )
        return principal.tenant
    return asked or None
