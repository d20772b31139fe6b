"""The root-cause taxonomy and the SLA stages, with the labels reports print."""

from __future__ import annotations

from typing import NamedTuple


class Label(NamedTuple):
    id: str
    zh: str
    en: str


# The same ids as the escalation service's ROOT_CAUSES: its events carry them.
ROOT_CAUSES: tuple[Label, ...] = (
    Label("process", "流程", "Process"),
    Label("business", "业务", "Business / product"),
    Label("service", "服务", "Service"),
    Label("system", "系统", "System"),
    Label("management", "管理", "Management"),
    Label("external", "外部", "External"),
)
ROOT_CAUSE_IDS: tuple[str, ...] = tuple(label.id for label in ROOT_CAUSES)
ROOT_CAUSE_LABELS: dict[str, Label] = {label.id: label for label in ROOT_CAUSES}

# The stages a complaint's time is measured in. `handling` is the duty manager's time
# between acknowledging a complaint and resolving or dispatching it (the escalation
# service's `resolution` deadline while the complaint is still at the duty desk), kept
# apart so a department's resolution time is its own.
STAGES: tuple[Label, ...] = (
    Label("acknowledgement", "值班确认", "Acknowledgement"),
    Label("handling", "值班处置", "Duty desk handling"),
    Label("acceptance", "部门签收", "Department acceptance"),
    Label("resolution", "部门办理", "Department resolution"),
    Label("follow_up", "回访", "Customer follow-up"),
)
STAGE_IDS: tuple[str, ...] = tuple(label.id for label in STAGES)
STAGE_LABELS: dict[str, Label] = {label.id: label for label in STAGES}
