"""The short form of the fault-injection run (`make chaos` is the long one): a system of
its own under load while the broker, the database and every API and worker process are
killed with SIGKILL and started again, its SMS provider taking every send and losing
some answers; afterwards nothing acknowledged is lost, no SMS is missing or doubled,
every history verifies and holds what was confirmed, and analytics counts what intake
holds. Then the deliberate fault, on the same system: a sender that trusts the provider
to recognise a resend, against one that does not, and the oracle counts the doubles."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chaos.harness import SHORT, TRUSTING, down, report, run
from tests.chaos.oracle import UNEXPECTED

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module", autouse=True)
def chaos_system() -> Iterator[None]:
    """The runs leave the system up for the next to reuse; it stops after the last."""
    yield
    down()


def test_kill_9_in_turn_loses_no_complaint_and_doubles_no_sms() -> None:
    counts = run(SHORT, keep=True)
    print(report(SHORT, counts))
    assert not counts.integrity, report(SHORT, counts)
    assert counts.acknowledged > 0, "the load never got a complaint through"
    assert counts.ok, report(SHORT, counts)


@pytest.mark.timeout(300)
def test_a_sender_that_skips_the_lookup_doubles_sms_and_the_oracle_counts_them() -> None:
    counts = run(TRUSTING, keep=True, reuse=True)
    print(report(TRUSTING, counts))
    assert not counts.integrity, report(TRUSTING, counts)
    assert counts.sms_extra > 0, report(TRUSTING, counts)
    # Doubles, not strangers: what went out more than once is what the record expects.
    assert counts.sms[UNEXPECTED].received == 0
    assert sum(t.received - t.expected for t in counts.sms.values()) == counts.sms_extra
    assert not counts.ok
