"""Every endpoint of every service × every role, no token, a bad token, and the user of
another department: the answer each gets (tests/robustness/matrix.py), and whether the
customer's phone shows in full or masked.

The endpoints are read from each app's routes, so an endpoint added without an entry in
the matrix fails `test_every_route_is_in_the_matrix`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import pytest
from fastapi.routing import iter_route_contexts
from twilio.request_validator import RequestValidator

from shared.settings import Settings
from tests.notify.conftest import notify_config
from tests.robustness.conftest import (
    CALLERS,
    CUSTOMER_PHONE,
    MASKED_PHONE,
    ROLES,
    SERVICES,
    Running,
    build_app,
    other_client,
)
from tests.robustness.matrix import (
    ENDPOINTS,
    PUBLIC,
    SEES_STAFF_PHONE,
    Endpoint,
    expected_of_other_client,
)

NO_TOKEN = "no_token"
BAD_TOKEN = "bad_token"


def routes(name: str) -> set[tuple[str, str]]:
    """(method, path) of every route the service's app serves, documented or not."""
    found = set()
    for context in iter_route_contexts(build_app(name, Settings()).routes):
        route = getattr(context, "original_route", context)
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                found.add((method, context.path))
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_is_in_the_matrix(service: str) -> None:
    served = routes(service)
    listed = set(ENDPOINTS[service])
    assert served - listed == set(), (
        f"{service}: endpoints missing from tests/robustness/matrix.py: {sorted(served - listed)}"
    )
    assert listed - served == set(), f"{service}: no longer served: {sorted(listed - served)}"


CASES = [(service, key) for service in SERVICES for key in ENDPOINTS[service]]


def headers_of(service: Running, caller: str) -> dict[str, str]:
    if caller == NO_TOKEN:
        return {}
    if caller == BAD_TOKEN:
        return {"Authorization": f"Bearer cpt_{uuid.uuid4().hex}{uuid.uuid4().hex}"}
    return service.tokens[caller]


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("service_name", "key"), CASES, ids=[f"{s} {m} {p}" for s, (m, p) in CASES]
)
def test_who_gets_what(
    services: Callable[[str], Running], service_name: str, key: tuple[str, str]
) -> None:
    service = services(service_name)
    endpoint: Endpoint = ENDPOINTS[service_name][key]
    assert service.client is not None
    wrong: list[str] = []
    for caller in (*CALLERS, NO_TOKEN, BAD_TOKEN):
        call = endpoint.make(service, caller)
        answer = service.client.request(
            call.method, call.path, headers=headers_of(service, caller), **call.kwargs
        )
        if caller in (NO_TOKEN, BAD_TOKEN) and endpoint.allowed is not PUBLIC:
            expected = 401
        else:
            expected = endpoint.expected(caller)
        if answer.status_code != expected:
            wrong.append(
                f"{caller}: {answer.status_code}, expected {expected}: {answer.text[:200]}"
            )
            continue
        if 400 <= expected < 500 and expected != 409:
            # Every refusal in the one error shape, saying why.
            body = answer.json()
            assert body["error"] and body["message"], answer.text
        checks = [(endpoint.phones, endpoint.sees_phone), (endpoint.staff_phones, SEES_STAFF_PHONE)]
        for phones, sees in checks:
            if phones is None or answer.status_code >= 300:
                continue
            full = caller in sees or (caller == "other_department" and "department" in sees)
            for phone in phones(answer.json()):
                if phone is None:
                    continue
                masked = "****" in phone
                if masked == full:
                    wrong.append(
                        f"{caller}: phone {phone} should be {'full' if full else 'masked'}"
                    )
    assert wrong == [], f"{service_name} {key[0]} {key[1]}:\n" + "\n".join(wrong)


# The seeded client's departments, whose names in a path name something of theirs.
SEEDED_DEPARTMENTS = ("billing", "network")


def seeded(service: Running) -> list[str]:
    """What belongs to the seeded client alone: its complaints' ids and references and
    their attachments. (The customer's phone is not: one caller may ring both clients.)"""
    return [
        v
        for k, v in service.ids.items()
        if k.endswith(("complaint_id", "complaint_reference", "attachment_id"))
    ]


# The seeded client's clerks (PEOPLE, OTHER_DEPARTMENT): the centre's own staff serve
# every client, so their entries are not the seeded client's alone.
SEEDED_CLERKS = ("B07", "N03")
# A complaint's own path, whichever complaint the call made for itself.
_A_COMPLAINT = re.compile(r"/complaints/(?!similar)[^/?]+")


def names_seeded(service: Running, path: str) -> bool:
    """Whether a path (with its query's values) names something of the seeded client:
    a complaint (the seeded ones, or one the call made for itself, all the seeded
    client's), the file of its customer, one of its departments or clerks."""
    return (
        _A_COMPLAINT.search(path) is not None
        or any(v in path for v in seeded(service))
        or any(p in path for p in (CUSTOMER_PHONE, "13800138000"))
        or any(f"/departments/{d}" in path for d in SEEDED_DEPARTMENTS)
        or any(f"/staff/{s}" in path for s in SEEDED_CLERKS)
    )


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("service_name", "key"), CASES, ids=[f"{s} {m} {p}" for s, (m, p) in CASES]
)
def test_another_client_finds_nothing_of_this_one(
    services: Callable[[str], Running], service_name: str, key: tuple[str, str]
) -> None:
    """Every role of a second client the centre serves, on every route: what names the
    first client's complaints, customers or departments is not there for them (404, as
    for another department), and no answer they get carries any of it."""
    service = services(service_name)
    endpoint: Endpoint = ENDPOINTS[service_name][key]
    assert service.client is not None
    wrong: list[str] = []
    for role in ROLES:
        caller = other_client(role)
        call = endpoint.make(service, role)
        asked = call.path + " " + " ".join(map(str, call.kwargs.get("params", {}).values()))
        expected = expected_of_other_client(endpoint, role, names_seeded(service, asked))
        answer = service.client.request(
            call.method, call.path, headers=service.tokens[caller], **call.kwargs
        )
        if answer.status_code not in expected:
            got = f"{answer.status_code}, expected {' or '.join(map(str, sorted(expected)))}"
            wrong.append(f"{caller}: {got}: {answer.text[:200]}")
            continue
        if answer.status_code < 300:
            leaked = [v for v in seeded(service) if v in answer.text]
            if leaked:
                wrong.append(f"{caller}: the answer carries {leaked}: {answer.text[:200]}")
    assert wrong == [], f"{service_name} {key[0]} {key[1]}:\n" + "\n".join(wrong)


@pytest.mark.postgres
def test_the_customer_phone_masks_look_right(services: Callable[[str], Running]) -> None:
    intake = services("intake")
    assert intake.client is not None
    path = f"/complaints/{intake.ids['complaint_id']}"
    assert intake.client.get(path, headers=intake.tokens["qa"]).json()["customer_phone"] == (
        MASKED_PHONE
    )
    assert intake.client.get(path, headers=intake.tokens["agent"]).json()["customer_phone"] == (
        CUSTOMER_PHONE
    )


@pytest.mark.postgres
@pytest.mark.parametrize("hook", ["status", "inbound"])
def test_a_webhook_signed_by_the_provider_is_taken(
    services: Callable[[str], Running], hook: str
) -> None:
    """The webhooks answer the provider's signature, never a bearer token: unsigned calls
    are 401 whoever makes them (above), signed ones are taken."""
    notify = services("notify")
    assert notify.client is not None
    url = f"http://testserver/webhooks/sms/{hook}"
    form = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": notify_config().twilio_account_sid,
        "From": "+8613800138000",
        "To": "+8610690000",
        "Body": "谢谢",
        "MessageStatus": "delivered",
    }
    signature = RequestValidator(notify_config().twilio_auth_token).compute_signature(url, form)
    answer = notify.client.post(
        url.removeprefix("http://testserver"),
        data=form,
        headers={"X-Twilio-Signature": signature, **notify.tokens["viewer"]},
    )
    assert answer.status_code == 200, answer.text
