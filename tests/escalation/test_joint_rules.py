"""Joint handling (主办/协办) judged by the lifecycle alone: a dispatch names assisting
departments beside the lead; each accepts and contributes its part, or declines it; the
lead replies for all only once every part is in, unless the desk releases one."""

from __future__ import annotations

import pytest

from services.escalation.lifecycle import (
    Actor,
    ComplaintState,
    Forbidden,
    GuardFailed,
    InvalidCommand,
    LifecycleConfig,
)
from shared.vocabulary import AssistStatus, State
from tests.escalation.test_lifecycle import (
    BILLING_CLERK,
    DUTY_MANAGER,
    NETWORK_CLERK,
    RESOLUTION,
    SYSTEM,
    act,
    with_duty_manager,
)

ROADS_CLERK = Actor("R05", "department", "roads")
ORDER = {"department_id": "billing", "instructions": "主办：核对账单；网络部、道路办协办"}


def joint() -> ComplaintState:
    decision = act(with_duty_manager(), "dispatch", DUTY_MANAGER, **ORDER,
                   assisting=["network", "roads"])  # fmt: skip
    assert decision.payload["assisting"] == ["network", "roads"]
    return act(decision.new, "accept", BILLING_CLERK).new


def statuses(complaint: ComplaintState) -> dict[str, str]:
    return {part.department_id: part.status.value for part in complaint.assists}


def test_a_dispatch_names_the_lead_and_its_helpers_each_with_a_part_to_accept() -> None:
    complaint = joint()
    assert complaint.department_id == "billing"
    assert statuses(complaint) == {"network": "dispatched", "roads": "dispatched"}
    accepted = act(complaint, "accept-assist", NETWORK_CLERK)
    assert accepted.event_type == "complaint.assist_accepted"
    assert accepted.payload["assist_department_id"] == "network"
    assert statuses(accepted.new)["network"] == "accepted"
    assert accepted.new.state == State.IN_PROGRESS  # the lead's state is the complaint's


def test_the_lead_replies_for_all_only_once_every_part_is_in() -> None:
    complaint = act(joint(), "contribute", NETWORK_CLERK, contribution="线路于3日修复").new
    with pytest.raises(GuardFailed) as refused:
        act(complaint, "reply", BILLING_CLERK, **RESOLUTION)
    assert refused.value.missing == ["assist:roads"]
    assert "waiting for roads" in str(refused.value)
    declined = act(complaint, "decline-assist", ROADS_CLERK, reason="非道路设施问题").new
    assert statuses(declined) == {"network": "contributed", "roads": "declined"}
    replied = act(declined, "reply", BILLING_CLERK, **RESOLUTION)
    assert replied.new.state == State.REPLIED


def test_the_desk_releases_a_late_part_and_urges_only_a_part_still_owed() -> None:
    complaint = act(joint(), "contribute", NETWORK_CLERK, contribution="已修复").new
    urged = act(complaint, "urge-assist", SYSTEM, department_id="roads", reason="overdue")
    assert urged.event_type == "complaint.urged"
    assert urged.payload["assist_department_id"] == "roads"
    assert urged.new.urge_count == complaint.urge_count  # the lead was not urged
    with pytest.raises(GuardFailed, match="network is contributed: nothing is due"):
        act(complaint, "urge-assist", DUTY_MANAGER, department_id="network", reason="?")
    released = act(complaint, "release-assist", DUTY_MANAGER, department_id="roads",
                   reason="道路办人手不足，由主办部门直接答复").new  # fmt: skip
    assert statuses(released)["roads"] == AssistStatus.RELEASED
    assert act(released, "reply", BILLING_CLERK, **RESOLUTION).new.state == State.REPLIED
    with pytest.raises(InvalidCommand) as unknown:
        act(complaint, "release-assist", DUTY_MANAGER, department_id="legal", reason="?")
    assert unknown.value.field == "department_id"


def test_only_a_helper_acts_on_a_part_and_only_on_its_own() -> None:
    complaint = joint()
    with pytest.raises(Forbidden, match="does not assist"):
        act(complaint, "contribute", BILLING_CLERK, contribution="主办自己写")
    with pytest.raises(Forbidden):
        act(complaint, "accept-assist", DUTY_MANAGER)
    contributed = act(complaint, "contribute", NETWORK_CLERK, contribution="已修复").new
    assert statuses(contributed) == {"network": "contributed", "roads": "dispatched"}
    with pytest.raises(GuardFailed, match="part of network is contributed"):
        act(contributed, "decline-assist", NETWORK_CLERK, reason="改主意")


def test_a_lead_cannot_assist_itself_and_a_return_undoes_the_joint_case() -> None:
    with pytest.raises(InvalidCommand) as refused:
        act(with_duty_manager(), "dispatch", DUTY_MANAGER, **ORDER, assisting=["billing"])
    assert refused.value.field == "assisting"
    with pytest.raises(InvalidCommand):
        act(with_duty_manager(), "dispatch", DUTY_MANAGER, **ORDER, assisting=7)
    back = act(joint(), "return", BILLING_CLERK, reason_code="not_ours", reason="不归账务部").new
    assert statuses(back) == {"network": "released", "roads": "released"}
    assert back.outstanding_assists() == []


def test_a_transfer_to_a_helper_makes_it_the_lead_and_ends_its_part() -> None:
    rules = LifecycleConfig(allow_transfer=True)
    moved = act(joint(), "transfer", BILLING_CLERK, config=rules, department_id="network",
                reason="主要是线路问题").new  # fmt: skip
    assert moved.department_id == "network"
    assert statuses(moved) == {"network": "released", "roads": "dispatched"}
