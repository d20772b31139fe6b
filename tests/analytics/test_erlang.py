"""How many agents a half-hour needs: Erlang C against worked examples that call centres
learn it from, and Erlang A (callers who hang up) against an independent implementation
and the limits it must reach.

Every published figure below is also recomputed here from the textbook formula itself,
in exact fractions with factorials (`textbook_c`), so a figure copied wrongly would fail
as surely as a wrong implementation.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from services.analytics.staffing.erlang import (
    agents_needed,
    erlang_a_performance,
    erlang_b,
    erlang_c,
    erlang_c_performance,
)


def textbook_c(agents: int, traffic: int) -> float:
    """C(N, A) = (A^N/N! · N/(N−A)) / (Σ_{k<N} A^k/k! + A^N/N! · N/(N−A)), exactly."""
    a = Fraction(traffic)
    top = a**agents / math.factorial(agents) * Fraction(agents) / (agents - a)
    return float(top / (sum(a**k / math.factorial(k) for k in range(agents)) + top))


# Call Centre Helper, "Erlang C Formula – Made Simple With an Easy Worked Example"
# (callcentrehelper.com): 100 calls in 30 minutes, 180 s handling time, 80 % to be
# answered within 20 s, so A = 100 × 180 / 1800 = 10 Erlangs. Agents: probability of
# waiting, service level. The same example is pyworkforce's Erlang C test
# (github.com/rodrigo-arenas/pyworkforce, queuing/tests/test_erlang.py): 14 agents,
# service level 0.888, occupancy 0.714, waiting 0.174, 20 with 30 % shrinkage; with
# occupancy capped at 70 %: 15 agents, 0.941, 0.667, 0.102.
TEN_ERLANGS = [
    (11, 0.6821, 0.3896),
    (12, 0.4494, 0.6402),
    (13, 0.2853, 0.7956),
    (14, 0.1741, 0.8884),
]


@pytest.mark.parametrize(("agents", "waits", "within_20s"), TEN_ERLANGS)
def test_ten_erlangs_of_calls_wait_and_are_answered_as_the_worked_example_says(
    agents: int, waits: float, within_20s: float
) -> None:
    found = erlang_c_performance(agents, 10.0, handling_seconds=180, answer_seconds=20)
    assert round(textbook_c(agents, 10), 4) == waits
    assert round(found.wait_probability, 4) == waits
    assert round(found.service_level, 4) == within_20s
    assert found.occupancy == pytest.approx(10 / agents)


def test_eighty_percent_within_twenty_seconds_takes_fourteen_agents_and_twenty_on_the_rota() -> (
    None
):
    found = agents_needed(10.0, handling_seconds=180, answer_seconds=20, service_level=0.8)
    assert found.agents == 14
    assert (round(found.service_level, 3), round(found.occupancy, 3)) == (0.888, 0.714)
    assert round(found.wait_probability, 3) == 0.174
    assert round(found.asa_seconds or 0, 1) == 7.8  # 0.1741 × 180 / (14 − 10)
    assert math.ceil(found.agents / (1 - 0.3)) == 20  # 30 % shrinkage
    # Thirteen reach only 79.6 %: the answer is the smallest that does.
    assert (
        erlang_c_performance(13, 10.0, handling_seconds=180, answer_seconds=20).service_level < 0.8
    )


def test_an_occupancy_cap_adds_an_agent_beyond_what_the_service_level_needs() -> None:
    found = agents_needed(
        10.0, handling_seconds=180, answer_seconds=20, service_level=0.8, max_occupancy=0.7
    )
    assert found.agents == 15
    assert (round(found.service_level, 3), round(found.occupancy, 3)) == (0.941, 0.667)
    assert round(found.wait_probability, 3) == 0.102


def test_the_westbay_example_of_360_calls_a_half_hour() -> None:
    """Westbay Engineers, "The Erlang-C formula" (erlang.com): 360 calls per half hour of
    4 minutes each, 55 agents, a 15-second target: A = 48 Erlangs, occupancy 0.873,
    probability of waiting 0.239, average speed of answer 8.2 s, 84.6 % within 15 s."""
    found = erlang_c_performance(55, 48.0, handling_seconds=240, answer_seconds=15)
    assert round(textbook_c(55, 48), 3) == 0.239
    assert round(found.wait_probability, 3) == 0.239
    assert round(found.occupancy, 3) == 0.873
    assert round(found.asa_seconds or 0, 1) == 8.2
    assert round(found.service_level, 3) == 0.846


def _log_poisson(k: int, a: float) -> float:
    return k * math.log(a) - a - math.lgamma(k + 1)


def test_two_thousand_erlangs_are_computed_without_overflow() -> None:
    """A^N / N! overflows a double from A = 171; the recursion never forms it. Checked
    against B = P(X = N) / P(X ≤ N) for X ~ Poisson(A), summed in logarithms."""
    traffic, agents = 2000.0, 2040
    logs = [_log_poisson(k, traffic) for k in range(agents + 1)]
    top = max(logs)
    b = math.exp(logs[-1] - top) / sum(math.exp(v - top) for v in logs)
    assert erlang_b(agents, traffic) == pytest.approx(b, rel=1e-9)
    assert erlang_c(agents, traffic) == pytest.approx(
        agents * b / (agents - traffic * (1 - b)), rel=1e-9
    )
    found = agents_needed(2000.0, handling_seconds=300, answer_seconds=20, service_level=0.8)
    assert (
        found.service_level
        >= 0.8
        > erlang_c_performance(
            found.agents - 1, 2000.0, handling_seconds=300, answer_seconds=20
        ).service_level
    )
    assert 2000 < found.agents < 2100


def test_agents_who_cannot_keep_up_answer_nobody_in_time() -> None:
    found = erlang_c_performance(10, 10.0, handling_seconds=180, answer_seconds=20)
    assert (found.wait_probability, found.service_level, found.asa_seconds) == (1.0, 0.0, None)
    quiet = agents_needed(0.0, handling_seconds=180, answer_seconds=20, service_level=0.8)
    assert (quiet.agents, quiet.service_level) == (0, 1.0)
    # A trickle of calls at night still needs someone at the phone.
    assert (
        agents_needed(0.05, handling_seconds=180, answer_seconds=20, service_level=0.8).agents == 1
    )


# --- Erlang A ---------------------------------------------------------------------------


def test_callers_who_hang_up_match_an_independent_erlang_a() -> None:
    """pyworkforce's Erlang A (github.com/rodrigo-arenas/pyworkforce,
    queuing/tests/test_abandonment.py) computes the same queue another way (each queue
    position's chance of being answered in time by uniformising the chain with
    abandonment as an absorbing state). Its figures for 100 calls in 30 minutes,
    3 minutes each, 5 minutes' patience and 14 agents: waiting 0.14526, abandoning
    0.013984, occupancy 0.704297, answered within 20 s 0.916792."""
    found = erlang_a_performance(
        14, 10.0, handling_seconds=180, answer_seconds=20, patience_seconds=300
    )
    assert round(found.wait_probability, 5) == 0.14526
    assert round(found.abandon_probability or 0, 6) == 0.013984
    assert round(found.occupancy, 6) == 0.704297
    assert round(found.service_level, 6) == 0.916792
    # Fewer answered late than in Erlang C, because some who would wait long hang up.
    c = erlang_c_performance(14, 10.0, handling_seconds=180, answer_seconds=20)
    assert found.wait_probability < c.wait_probability
    assert (found.asa_seconds or 0) < (c.asa_seconds or 0)


@pytest.mark.parametrize("agents", [11, 14, 20])
def test_infinitely_patient_callers_are_erlang_c(agents: int) -> None:
    a = erlang_a_performance(
        agents, 10.0, handling_seconds=180, answer_seconds=20, patience_seconds=1e9
    )
    c = erlang_c_performance(agents, 10.0, handling_seconds=180, answer_seconds=20)
    assert a.wait_probability == pytest.approx(c.wait_probability, abs=1e-6)
    assert a.service_level == pytest.approx(c.service_level, abs=1e-6)
    assert a.asa_seconds == pytest.approx(c.asa_seconds, rel=1e-4)
    assert (a.abandon_probability or 0) < 1e-6


def test_callers_as_patient_as_a_call_is_long_see_an_endless_switchboard() -> None:
    """With patience equal to the handling time every caller leaves the system at the
    same rate, waiting or not: the number present is Poisson(A), as with unlimited
    agents, so a call waits with probability P(Poisson(10) ≥ N)."""
    for agents in (8, 12, 16):
        found = erlang_a_performance(
            agents, 10.0, handling_seconds=180, answer_seconds=20, patience_seconds=180
        )
        below = sum(math.exp(_log_poisson(k, 10.0)) for k in range(agents))
        assert found.wait_probability == pytest.approx(1 - below, abs=1e-9)


def test_abandonment_lets_fewer_agents_meet_the_target_unless_it_is_capped() -> None:
    c = agents_needed(50.0, handling_seconds=300, answer_seconds=20, service_level=0.8)
    a = agents_needed(
        50.0, handling_seconds=300, answer_seconds=20, service_level=0.8, patience_seconds=120
    )
    capped = agents_needed(
        50.0,
        handling_seconds=300,
        answer_seconds=20,
        service_level=0.8,
        patience_seconds=120,
        max_abandon=0.02,
    )
    assert a.agents < c.agents
    assert (a.abandon_probability or 0) > 0.02
    assert capped.agents > a.agents and (capped.abandon_probability or 0) <= 0.02
    # The search is the smallest: one agent fewer misses.
    fewer = erlang_a_performance(
        a.agents - 1, 50.0, handling_seconds=300, answer_seconds=20, patience_seconds=120
    )
    assert fewer.service_level < 0.8 <= a.service_level


def test_impossible_targets_are_refused() -> None:
    with pytest.raises(ValueError, match="service_level"):
        agents_needed(10.0, handling_seconds=180, answer_seconds=20, service_level=1.0)
    with pytest.raises(ValueError, match="handling_seconds"):
        agents_needed(10.0, handling_seconds=0, answer_seconds=20, service_level=0.8)
