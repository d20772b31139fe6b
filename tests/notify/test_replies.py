"""What a reply means, read against the message it answers."""

from __future__ import annotations

import pytest

from services.notify.replies import intent, read


@pytest.mark.parametrize("text", ["1", "OK", "ok", "收到", " 收到。", "１", "Ok!"])
def test_a_duty_manager_acknowledges_with_1_ok_or_shoudao(text: str) -> None:
    assert intent(text, "ack") == "ack"


@pytest.mark.parametrize(("text", "meaning"), [("1", "satisfied"), ("2", "unsatisfied")])
def test_a_customer_answers_the_satisfaction_question_with_1_or_2(text: str, meaning: str) -> None:
    assert intent(text, "feedback") == meaning


def test_ok_is_not_a_verdict_and_2_is_not_an_acknowledgement() -> None:
    assert intent("OK", "feedback") == "message"
    assert intent("2", "ack") == "message"
    assert intent("1", None) == "message"


@pytest.mark.parametrize("text", ["退订", "TD", "td", "T", "STOP", "Stop", "unsubscribe"])
def test_opt_out_words_mean_opt_out_whatever_they_answer(text: str) -> None:
    for answers in (None, "ack", "feedback"):
        assert intent(text, answers) == "opt_out"  # type: ignore[arg-type]


def test_start_resubscribes() -> None:
    assert intent("START", None) == "opt_in"
    assert intent("unstop", "feedback") == "opt_in"


def test_anything_else_is_a_message() -> None:
    assert intent("钱还没退回来，请再查一下", "feedback") == "message"
    assert intent("stop charging me twice", "feedback") == "message"


def test_a_reply_may_name_the_complaint_it_means() -> None:
    reading = read("1 TS20261122-000123")
    assert reading.word == "1"
    assert reading.reference == "TS20261122-000123"
    assert intent("收到 TS20261122-000123", "ack") == "ack"
