"""Sign-in accounts and sessions on the real database: passwords hashed with argon2,
a lock after repeated failures, a directory entry that must be active, and a session's
bearer token issued to the person, renewed while the session lives and revoked when it
ends (sign-out, expiry, deactivation)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from services.workbench.access import flows, service
from services.workbench.access.flows import Person, SignInRefused
from services.workbench.config import WorkbenchConfig
from shared.auth.store import Grant, TokenVerifier, put_grant
from shared.db import Database
from shared.vocabulary import Role

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
CONFIG = WorkbenchConfig(lockout_failures=3, lockout_minutes=15, directory_check_seconds=30)
PASSWORD = "a-good-long-password"


@dataclass
class FakeDirectory:
    """The directory as escalation's /staff would answer; like escalation, it keeps the
    token store's grants in step with each change."""

    auth_db: Database
    people: dict[str, Person] = field(default_factory=dict)
    asked: int = 0

    def person(self, staff_id: str, *, now: datetime) -> Person | None:
        self.asked += 1
        return self.people.get(staff_id)

    def put(self, person: Person) -> None:
        self.people[person.staff_id] = person
        grant = Grant(person.staff_id, person.role.value, person.department_id, person.active)
        with self.auth_db.transaction() as session:
            put_grant(session, grant)


@dataclass
class Desk:
    db: Database
    auth_db: Database
    directory: FakeDirectory

    def sign_in(self, staff_id: str, password: str, now: datetime = NOW) -> tuple[str, flows.User]:
        return flows.sign_in(
            self.db,
            self.auth_db,
            self.directory,  # type: ignore[arg-type]
            CONFIG,
            staff_id=staff_id,
            password=password,
            now=now,
        )

    def current(self, cookie: str, now: datetime) -> flows.User | None:
        return flows.current_user(
            self.db,
            self.auth_db,
            self.directory,
            CONFIG,
            cookie=cookie,
            now=now,  # type: ignore[arg-type]
        )

    def token_works(self, token: str) -> bool:
        return TokenVerifier(self.auth_db, ttl=0, negative_ttl=0).verify(token) is not None


@pytest.fixture
def desk(migrated: Callable[[str], Database]) -> Desk:
    auth_db = migrated("auth")
    made = Desk(migrated("workbench"), auth_db, FakeDirectory(auth_db))
    made.directory.put(Person("B07", "陈会计", Role.DEPARTMENT, "billing", True))
    flows.set_password(made.db, "B07", PASSWORD, CONFIG, by="AD01", now=NOW, must_change=True)
    return made


def test_the_password_is_stored_as_an_argon2_hash(desk: Desk) -> None:
    with desk.db.read() as session:
        account = service.get_account(session, "B07")
    assert account.password_hash.startswith("$argon2id$")
    assert PASSWORD not in account.password_hash


def test_a_session_calls_the_apis_as_the_person(desk: Desk) -> None:
    cookie, user = desk.sign_in("B07", PASSWORD)
    assert (user.staff_id, user.role, user.department_id) == ("B07", Role.DEPARTMENT, "billing")
    assert user.must_change  # an administrator set the password
    principal = TokenVerifier(desk.auth_db, ttl=0).verify(user.token)
    assert principal is not None
    assert (principal.staff_id, principal.role, principal.department_id) == (
        "B07",
        Role.DEPARTMENT,
        "billing",
    )
    # The browser's cookie is not what the database keeps.
    with desk.db.read() as session:
        assert service.get_session(session, cookie) is None
        assert service.get_session(session, flows.session_key(cookie)) is not None
    assert desk.current(cookie, NOW + timedelta(minutes=1)) == user


def test_repeated_failures_lock_the_account_until_it_is_unlocked(desk: Desk) -> None:
    for left in (2, 1):
        with pytest.raises(SignInRefused) as refused:
            desk.sign_in("B07", "wrong")
        assert f"再错 {left} 次" in refused.value.zh
    with pytest.raises(SignInRefused) as locked:
        desk.sign_in("B07", "wrong")
    assert locked.value.status == 423 and "15 分钟" in locked.value.zh
    # The right password does not open a locked account,
    with pytest.raises(SignInRefused):
        desk.sign_in("B07", PASSWORD, NOW + timedelta(minutes=14))
    # but it does once the lock has run out, or an administrator unlocks it.
    desk.sign_in("B07", PASSWORD, NOW + timedelta(minutes=16))
    for _ in range(3):
        with pytest.raises(SignInRefused):
            desk.sign_in("B07", "wrong", NOW + timedelta(minutes=17))
    flows.unlock(desk.db, "B07", now=NOW)
    desk.sign_in("B07", PASSWORD, NOW + timedelta(minutes=18))


def test_an_unknown_id_and_a_deactivated_person_cannot_sign_in(desk: Desk) -> None:
    with pytest.raises(SignInRefused) as unknown:
        desk.sign_in("NOBODY", PASSWORD)
    assert unknown.value.status == 401
    desk.directory.put(replace(desk.directory.people["B07"], active=False))
    with pytest.raises(SignInRefused) as inactive:
        desk.sign_in("B07", PASSWORD)
    assert inactive.value.status == 403 and "停用" in inactive.value.zh


def test_a_deactivated_persons_session_ends_at_the_next_look_up(desk: Desk) -> None:
    cookie, user = desk.sign_in("B07", PASSWORD)
    desk.directory.put(replace(desk.directory.people["B07"], active=False))
    # The token stops working in every service at once (the grant went with the entry) …
    assert not desk.token_works(user.token)
    # … and the session, looked up again only after directory_check_seconds, ends then.
    assert desk.current(cookie, NOW + timedelta(seconds=10)) is not None
    assert desk.current(cookie, NOW + timedelta(seconds=40)) is None
    assert not desk.token_works(user.token)
    assert desk.current(cookie, NOW + timedelta(seconds=41)) is None


def test_a_person_moved_to_another_department_signs_in_again(desk: Desk) -> None:
    cookie, _ = desk.sign_in("B07", PASSWORD)
    desk.directory.put(replace(desk.directory.people["B07"], department_id="network"))
    assert desk.current(cookie, NOW + timedelta(minutes=1)) is None


def test_the_token_is_renewed_while_the_session_lives_and_revoked_when_it_ends(
    desk: Desk,
) -> None:
    cookie, first = desk.sign_in("B07", PASSWORD)
    later = NOW + CONFIG.token_life * 0.8
    renewed = desk.current(cookie, later)
    assert renewed is not None and renewed.token != first.token
    assert not desk.token_works(first.token) and desk.token_works(renewed.token)
    flows.sign_out(desk.db, desk.auth_db, renewed, now=later)
    assert not desk.token_works(renewed.token)
    assert desk.current(cookie, later) is None


def test_an_idle_session_expires(desk: Desk) -> None:
    cookie, user = desk.sign_in("B07", PASSWORD)
    assert desk.current(cookie, NOW + CONFIG.idle + timedelta(seconds=1)) is None
    assert not desk.token_works(user.token)


def test_ending_a_persons_sessions(desk: Desk) -> None:
    cookies = [desk.sign_in("B07", PASSWORD)[0] for _ in range(2)]
    assert flows.end_sessions_of(desk.db, desk.auth_db, "B07", now=NOW, why="deactivated") == 2
    assert all(desk.current(c, NOW) is None for c in cookies)
