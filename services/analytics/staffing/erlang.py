"""How many agents a half-hour's calls need: Erlang C, and Erlang A where callers hang up.

Pure functions, no I/O. Traffic is in Erlangs: calls in the interval × handling time ÷
the interval's length (100 calls in 30 minutes at 180 s each: 10 Erlangs).

- **Erlang C** (M/M/N): calls arrive at random, wait as long as it takes, and are answered
  in turn by N agents; handling times are exponential. The probability of waiting is
  computed from the Erlang B recursion, B(0) = 1, B(n) = A·B(n−1) / (n + A·B(n−1)), and
  C = N·B / (N − A·(1 − B)): no factorial and no power of A, so a centre of 2,000
  Erlangs is computed as exactly as one of 2. Then the service level (answered within
  t seconds) is 1 − C·exp(−(N − A)·t / AHT), the average speed of answer C·AHT / (N − A)
  and the occupancy A / N. With N ≤ A the queue grows without end: nobody is answered
  within any time.
- **Erlang A** (M/M/N+M, Palm): as C, but each waiting caller hangs up after a patience
  that is exponential with the given mean. The queue is then always finite, and fewer
  agents are needed than Erlang C says, because some calls are lost rather than served.
  From the birth-death chain's stationary distribution (its part up to N again from the
  Erlang B recursion, its queue part as running products, in logarithms), for a caller
  finding m ahead: the wait until answered V is a sum of exponential stages with rates
  N·μ + j·θ (j = m … 0: an agent frees, or someone ahead hangs up), and the caller is
  answered within t when V ≤ t and their own patience outlasts V, whose probability is
  ∏ r_j / (r_j + θ) · P(V′ ≤ t), V′ the same stages at the rates r_j + θ (the exponential
  tilt of each stage); P(V′ ≤ t) by uniformisation of that pure-death chain. The service
  level counts the calls answered within t among all calls offered (a call abandoned
  after 5 s is not answered within 20 s); the average speed of answer is over the calls
  answered.

Agents needed: the smallest N whose service level reaches the target and whose occupancy
stays under the cap (people who never have a breath between calls do not last).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# A queue longer than this many callers is no longer a plan but an outage.
_MAX_QUEUE = 200_000
# The search for agents gives up far beyond any centre.
_MAX_AGENTS = 1_000_000


@dataclass(frozen=True)
class Performance:
    """What N agents achieve for the traffic offered."""

    agents: int
    traffic: float  # Erlangs offered
    wait_probability: float  # a call waits at all
    service_level: float  # answered within the target time, of all calls offered
    asa_seconds: float | None  # the answered calls' mean wait; None: the queue never clears
    occupancy: float  # the share of the agents' time spent handling calls
    abandon_probability: float | None = None  # Erlang A only: a caller hangs up waiting


def erlang_b(agents: int, traffic: float) -> float:
    """Blocking probability of `agents` lines offered `traffic` Erlangs (no queue)."""
    if agents < 0 or traffic < 0:
        raise ValueError("agents and traffic must not be negative")
    b = 1.0
    for n in range(1, agents + 1):
        b = traffic * b / (n + traffic * b)
    return b


def _c_from_b(agents: int, traffic: float, b: float) -> float:
    return agents * b / (agents - traffic * (1.0 - b))


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that a call waits: 1 when the agents cannot keep up (N ≤ A)."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    return _c_from_b(agents, traffic, erlang_b(agents, traffic))


def _check(handling_seconds: float, answer_seconds: float) -> None:
    if handling_seconds <= 0:
        raise ValueError("handling_seconds must be positive")
    if answer_seconds < 0:
        raise ValueError("answer_seconds must not be negative")


def _erlang_c_from_b(
    agents: int, traffic: float, b: float, handling_seconds: float, answer_seconds: float
) -> Performance:
    if traffic <= 0:
        return Performance(agents, 0.0, 0.0, 1.0, 0.0, 0.0)
    if agents <= traffic:
        return Performance(agents, traffic, 1.0, 0.0, None, 1.0)
    c = _c_from_b(agents, traffic, b)
    spare = agents - traffic
    return Performance(
        agents=agents,
        traffic=traffic,
        wait_probability=c,
        service_level=1.0 - c * math.exp(-spare * answer_seconds / handling_seconds),
        asa_seconds=c * handling_seconds / spare,
        occupancy=traffic / agents,
    )


def erlang_c_performance(
    agents: int, traffic: float, *, handling_seconds: float, answer_seconds: float
) -> Performance:
    _check(handling_seconds, answer_seconds)
    return _erlang_c_from_b(
        agents, traffic, erlang_b(agents, traffic), handling_seconds, answer_seconds
    )


def _logsumexp(values: np.ndarray) -> float:
    top = float(values.max())
    return top + math.log(float(np.exp(values - top).sum()))


def _within(rates: np.ndarray, theta: float, t: float) -> np.ndarray:
    """P(V′_m ≤ t) for every m: V′_m the sum of the stages rates[0..m] + θ, by
    uniformisation of the pure-death chain that runs through them."""
    stages = rates + theta  # the stage with j callers ahead, tilted
    if t <= 0:
        return np.zeros(len(stages))
    ceiling = float(stages.max())
    mean = ceiling * t
    steps = int(mean + 12 * math.sqrt(mean) + 30)
    move = stages / ceiling
    # reached[s]: absorbed within k jumps, starting with s stages to go (s = 0: done).
    reached = np.zeros(len(stages) + 1)
    reached[0] = 1.0
    log_k = np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, steps + 1)))))
    weights = np.exp(np.arange(steps + 1) * math.log(mean) - mean - log_k)
    total = weights[0] * reached
    for k in range(1, steps + 1):
        reached[1:] = move * reached[:-1] + (1.0 - move) * reached[1:]
        total += weights[k] * reached
    within: np.ndarray = np.minimum(total[1:], 1.0)
    return within


def erlang_a_performance(
    agents: int,
    traffic: float,
    *,
    handling_seconds: float,
    answer_seconds: float,
    patience_seconds: float,
) -> Performance:
    """Erlang A: as Erlang C, but a waiting caller hangs up after an exponential
    patience of mean `patience_seconds`."""
    _check(handling_seconds, answer_seconds)
    if patience_seconds <= 0:
        raise ValueError("patience_seconds must be positive")
    if traffic <= 0:
        return Performance(agents, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)
    if agents <= 0:
        return Performance(agents, traffic, 1.0, 0.0, None, 0.0, 1.0)
    mu = 1.0 / handling_seconds
    theta = 1.0 / patience_seconds
    arrivals = traffic * mu
    serving = agents * mu
    b = erlang_b(agents, traffic)
    # log q_m = log p(N + m) / p(N): m callers waiting.
    log_q = [0.0]
    log_total = 0.0  # of q_1 … q_m, as a log-sum
    total_known = False
    m = 0
    while True:
        m += 1
        if m > _MAX_QUEUE:
            raise ValueError("the queue does not settle: far too few agents for the traffic")
        step = math.log(arrivals / (serving + m * theta))
        log_q.append(log_q[-1] + step)
        if total_known:
            top = max(log_total, log_q[-1])
            log_total = top + math.log(math.exp(log_total - top) + math.exp(log_q[-1] - top))
        else:
            log_total, total_known = log_q[-1], True
        # Shrinking, and below what a double carries beside the total: done.
        if step < 0 and log_q[-1] < log_total - 40:
            break
    q = np.array(log_q)
    log_pn = -_logsumexp(np.array([-math.log(b), log_total]))
    waiting = np.exp(log_pn + q)  # p(N + m): a caller finds m waiting ahead
    wait_probability = float(waiting.sum())
    free = math.exp(log_pn) * (1.0 / b - 1.0)  # p(0) + … + p(N − 1)
    rates = serving + np.arange(len(q)) * theta  # the stage with j ahead: N·μ + j·θ
    tilt = np.cumprod(rates / (rates + theta))  # answered at all, with m ahead
    answered = free + float((waiting * tilt).sum())
    mean_wait_answered = np.cumsum(1.0 / (rates + theta))
    service_level = free + float((waiting * tilt * _within(rates, theta, answer_seconds)).sum())
    abandon = max(0.0, 1.0 - answered)
    return Performance(
        agents=agents,
        traffic=traffic,
        wait_probability=min(wait_probability, 1.0),
        service_level=min(max(service_level, 0.0), 1.0),
        asa_seconds=float((waiting * tilt * mean_wait_answered).sum()) / answered,
        occupancy=min(traffic * (1.0 - abandon) / agents, 1.0),
        abandon_probability=abandon,
    )


def performance(
    agents: int,
    traffic: float,
    *,
    handling_seconds: float,
    answer_seconds: float,
    patience_seconds: float | None = None,
) -> Performance:
    """Erlang A when a patience is given, else Erlang C."""
    if patience_seconds is None:
        return erlang_c_performance(
            agents, traffic, handling_seconds=handling_seconds, answer_seconds=answer_seconds
        )
    return erlang_a_performance(
        agents,
        traffic,
        handling_seconds=handling_seconds,
        answer_seconds=answer_seconds,
        patience_seconds=patience_seconds,
    )


def agents_needed(
    traffic: float,
    *,
    handling_seconds: float,
    answer_seconds: float,
    service_level: float,
    max_occupancy: float = 1.0,
    patience_seconds: float | None = None,
    max_abandon: float | None = None,
) -> Performance:
    """The fewest agents whose service level reaches `service_level` with an occupancy
    no higher than `max_occupancy` (and, in Erlang A, no more than `max_abandon` of the
    callers hanging up), and what they achieve. No traffic: no agents."""
    _check(handling_seconds, answer_seconds)
    if not 0 < service_level < 1:
        raise ValueError("service_level must be between 0 and 1")
    if not 0 < max_occupancy <= 1:
        raise ValueError("max_occupancy must be above 0 and at most 1")
    if max_abandon is not None and not 0 < max_abandon <= 1:
        raise ValueError("max_abandon must be above 0 and at most 1")
    if traffic < 0:
        raise ValueError("traffic must not be negative")
    if traffic == 0:
        return performance(
            0,
            0.0,
            handling_seconds=handling_seconds,
            answer_seconds=answer_seconds,
            patience_seconds=patience_seconds,
        )
    if patience_seconds is None:
        # Below A / cap the occupancy is too high whatever the service level; one step
        # of the recursion per agent added.
        agents = max(math.ceil(traffic / max_occupancy - 1e-9), math.floor(traffic) + 1)
        b = erlang_b(agents, traffic)
        while agents < _MAX_AGENTS:
            found = _erlang_c_from_b(agents, traffic, b, handling_seconds, answer_seconds)
            if found.service_level >= service_level and found.occupancy <= max_occupancy:
                return found
            agents += 1
            b = traffic * b / (agents + traffic * b)
        raise ValueError("no number of agents reaches that service level")

    def enough(agents: int) -> Performance | None:
        found = erlang_a_performance(
            agents,
            traffic,
            handling_seconds=handling_seconds,
            answer_seconds=answer_seconds,
            patience_seconds=patience_seconds,
        )
        ok = found.service_level >= service_level and found.occupancy <= max_occupancy
        if max_abandon is not None and (found.abandon_probability or 0.0) > max_abandon:
            ok = False
        return found if ok else None

    # Answered within t never exceeds the calls the agents carry: N ≥ SL·A. More agents
    # only raise the service level and lower the occupancy and the abandonment (at
    # 2,000 Erlangs and two minutes' patience, 80 % within 20 s is reached with 11 % of
    # the callers hanging up: hence the cap), so the answer is bracketed
    # by doubling steps, then halved.
    low = max(1, math.ceil(service_level * traffic - 1e-9))
    step = 1
    high = low
    best = enough(high)
    while best is None:
        low = high + 1
        high += step
        step *= 2
        if high > _MAX_AGENTS:
            raise ValueError("no number of agents reaches that service level")
        best = enough(high)
    while low < high:
        middle = (low + high) // 2
        tried = enough(middle)
        if tried is None:
            low = middle + 1
        else:
            high, best = middle, tried
    return best
