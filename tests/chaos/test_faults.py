"""The short form of the fault-injection run (`make chaos` is the long one): a system of
its own under load while the broker and every API and worker process are killed with
SIGKILL and started again; afterwards nothing acknowledged is lost, no SMS is doubled,
every history verifies and analytics counts what intake holds."""

from __future__ import annotations

import pytest

from tests.chaos.harness import SHORT, report, run

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(1200)]


def test_kill_9_in_turn_loses_no_complaint_and_doubles_no_sms() -> None:
    counts = run(SHORT)
    print(report(SHORT, counts))
    assert counts.acknowledged > 0, "the load never got a complaint through"
    assert counts.ok, report(SHORT, counts)
