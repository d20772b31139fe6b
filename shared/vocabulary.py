"""Every word the services share, in one place: lifecycle states and actions, roles,
channels, severities, natures, feedback, closure reasons, root causes, return reasons,
SLA stages, SMS intents and event types, each with its Chinese and English label.

The services import these and nothing else spells them: the lifecycle table, the event
contracts, intake's and notify's validation, analytics' reports, the SMS templates'
labels and the API's documentation all read the same members. A word added here is known
everywhere; a word misspelt anywhere is a NameError, not a silent mismatch.

Members are `str` subclasses (StrEnum), so they compare equal to the plain strings that
arrive in JSON, Kafka events and database rows, and they serialise as those strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Self, TypeVar


class Word(StrEnum):
    """A shared word with its labels: `Severity.URGENT.zh == "特急"`."""

    zh: str
    en: str

    def __new__(cls, value: str, zh: str = "", en: str = "") -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.zh = zh or value
        member.en = en or value.replace("_", " ")
        return member

    def label(self, language: str) -> str:
        """The label in `language` (zh…, en…); Chinese is the default."""
        return self.en if language.lower().startswith("en") else self.zh

    @classmethod
    def of(cls, raw: object) -> Self | None:
        """The member `raw` spells (surrounding spaces ignored), or None."""
        if isinstance(raw, str):
            try:
                return cls(raw.strip())
            except ValueError:
                return None
        return None


W = TypeVar("W", bound=Word)


def values(words: type[W]) -> tuple[str, ...]:
    """The plain strings of a word list, in declaration order."""
    return tuple(word.value for word in words)


# --- the lifecycle -------------------------------------------------------------------


class State(Word):
    RECEIVED = "received", "已受理", "Received"
    WITH_DUTY_MANAGER = "with_duty_manager", "值班经理处理中", "With the duty manager"
    DISPATCHED = "dispatched", "已派单", "Dispatched"
    IN_PROGRESS = "in_progress", "办理中", "In progress"
    REPLIED = "replied", "已答复", "Replied"
    CLOSED = "closed", "已办结", "Closed"


OPEN_STATES = frozenset(State) - {State.CLOSED}


class Action(Word):
    ASSIGN = "assign", "分派值班经理", "Assign"
    HAND_OVER = "hand-over", "交接班", "Hand over"
    ACKNOWLEDGE = "acknowledge", "确认", "Acknowledge"
    DISPATCH = "dispatch", "派单", "Dispatch"
    RESOLVE = "resolve", "直接办结答复", "Resolve directly"
    ACCEPT = "accept", "签收", "Accept"
    RETURN = "return", "退单", "Return"
    # Where the centre allows it: the holding department sends it straight on to another
    # department, without the round trip through the duty desk a return takes.
    TRANSFER = "transfer", "转办", "Transfer to another department"
    REQUEST_EXTENSION = "request-extension", "申请延期", "Request more time"
    DECIDE_EXTENSION = "decide-extension", "审批延期", "Decide on more time"
    # 挂起: the clock stops while the holder waits on the customer or a third party. A
    # department asks and the duty desk decides; the desk pauses its own directly.
    REQUEST_PAUSE = "request-pause", "申请挂起", "Ask to pause the clock"
    DECIDE_PAUSE = "decide-pause", "审批挂起", "Decide on pausing the clock"
    PAUSE = "pause", "挂起", "Pause the clock"
    RESUME = "resume", "恢复计时", "Resume the clock"
    REPLY = "reply", "答复", "Reply"
    VERIFY_LOSS = "verify-loss", "核实损失", "Verify the loss"
    # The duty desk's recorded decision on a compensation claim whose loss is not (or
    # cannot be) verified: it may then close without a payout.
    DECLINE_COMPENSATION = "decline-compensation", "不予赔偿", "Decide no compensation is due"
    FEEDBACK = "feedback", "回访结果", "Customer feedback"
    CLOSE = "close", "办结", "Close"
    REOPEN = "reopen", "重办", "Reopen"
    URGE = "urge", "催办", "Urge"
    ESCALATE = "escalate", "升级", "Escalate"
    REASSIGN = "reassign", "改派", "Reassign"
    # 重复件并案: a duplicate closes into its master complaint; its caller hears the
    # master's outcome.
    MERGE = "merge", "重复件并案", "Merge into the master complaint"
    # 主办/协办: a dispatch may name assisting departments beside the lead; each takes its
    # part and contributes it, and the lead replies for all once every part is in.
    ACCEPT_ASSIST = "accept-assist", "协办签收", "Accept the assisting part"
    CONTRIBUTE = "contribute", "提交协办意见", "Contribute the assisting part"
    DECLINE_ASSIST = "decline-assist", "协办退回", "Decline the assisting part"
    RELEASE_ASSIST = "release-assist", "撤回协办", "Release an assisting department"
    URGE_ASSIST = "urge-assist", "协办督办", "Urge an assisting department"
    # 当场解答: the agent answered the caller on the line (from the knowledge base, say) and
    # the caller confirmed it settles the matter; closed before anyone dispatched it.
    RESOLVE_AT_FIRST_CONTACT = (
        "resolve-at-first-contact",
        "当场解答办结",
        "Answered at first contact",
    )
    # System only: an imported complaint enters the lifecycle as it stood in the old system.
    IMPORT = "import", "导入历史件", "Import"
    # Within a department: one of its clerks comes to own a complaint in its queue, taken
    # by themselves, given by the head or the desk, or by the department's rota (its
    # `ClerkAssignment`); or gives it back to the queue.
    TAKE = "take", "领取", "Take from the queue"
    ASSIGN_CLERK = "assign-clerk", "分派经办人", "Assign to a clerk"
    RELEASE = "release", "退回部门待领取", "Release to the queue"

    @property
    def api_name(self) -> str:
        """The one spelling, in URLs, allowed-action lists, events and histories."""
        return self.value


class Role(Word):
    """Who acts. Staff roles are carried by tokens; `system` (timers, the worker that
    assigns) and `customer` (their SMS) act too, but no token carries them."""

    AGENT = "agent", "话务员", "Agent"
    DUTY_MANAGER = "duty_manager", "值班经理", "Duty manager"
    SUPERVISOR = "supervisor", "中心主管", "Supervisor"
    DEPARTMENT = "department", "部门经办人", "Department clerk"
    QA = "qa", "质检", "QA"
    ADMIN = "admin", "管理员", "Administrator"
    VIEWER = "viewer", "甲方查看", "Viewer"
    SYSTEM = "system", "系统", "System"
    CUSTOMER = "customer", "客户", "Customer"


STAFF_ROLES: tuple[Role, ...] = (
    Role.AGENT,
    Role.DUTY_MANAGER,
    Role.SUPERVISOR,
    Role.DEPARTMENT,
    Role.QA,
    Role.ADMIN,
    Role.VIEWER,
)


class ClosureReason(Word):
    SATISFIED = "satisfied", "客户满意", "Customer satisfied"
    UNREACHED = "unreached", "回访未果", "Customer not reached"
    ANONYMOUS = "anonymous", "匿名件，无法回访", "Anonymous: no follow-up possible"
    CONVEYED = "conveyed", "表扬已转达", "Compliment conveyed"
    IMPORTED = "imported", "历史办结", "Closed before import"
    MERGED = "merged", "重复件已并案", "Merged into its master complaint"
    FIRST_CONTACT = "first_contact", "当场解答", "Answered at first contact"


class ClosureBlock(Word):
    """Why a complaint the customer is satisfied with cannot close yet (escalation names
    it in the event's details as `closure_blocked_by`, notify words it)."""

    LOSS_NOT_VERIFIED = (
        "loss_not_verified",
        "需先核实损失并登记赔偿金额",
        "the loss must be verified and the amount recorded first",
    )


class RootCause(Word):
    PROCESS = "process", "流程", "Process"
    BUSINESS = "business", "业务", "Business / product"
    SERVICE = "service", "服务", "Service"
    SYSTEM = "system", "系统", "System"
    MANAGEMENT = "management", "管理", "Management"
    EXTERNAL = "external", "外部", "External"


class ReturnReason(Word):
    NOT_OURS = "not_ours", "非本部门职责", "Not our responsibility"
    INSUFFICIENT_INFO = "insufficient_info", "信息不全", "Insufficient information"
    DUPLICATE = "duplicate", "重复件", "Duplicate"
    OTHER = "other", "其他", "Other"


class ExtensionDecision(Word):
    APPROVE = "approve", "已批准", "approved"
    DENY = "deny", "未批准", "denied"


class AssistStatus(Word):
    """Where an assisting department's part of a joint complaint (协办) stands."""

    DISPATCHED = "dispatched", "待协办签收", "Waiting for acceptance"
    ACCEPTED = "accepted", "协办中", "Being worked on"
    CONTRIBUTED = "contributed", "已提交协办意见", "Contributed"
    DECLINED = "declined", "协办退回", "Declined"
    RELEASED = "released", "已撤回", "Released by the desk"


# The parts the lead still waits for before it may reply for all.
ASSIST_OUTSTANDING = frozenset({AssistStatus.DISPATCHED, AssistStatus.ACCEPTED})


class PauseFor(Word):
    """Whom a paused complaint waits on: the only grounds for stopping its clock."""

    CUSTOMER = "customer", "等待客户", "Waiting on the customer"
    THIRD_PARTY = "third_party", "等待第三方", "Waiting on a third party"


class Stage(Word):
    """The stages a complaint's time is measured in, each with its SLA clock.
    `handling` is the duty manager's time between acknowledging a complaint and resolving
    or dispatching it (escalation's `resolution` deadline while the complaint is still at
    the duty desk), which analytics keeps apart so a department's resolution is its own."""

    ACKNOWLEDGEMENT = "acknowledgement", "值班确认", "Acknowledgement"
    HANDLING = "handling", "值班处置", "Duty desk handling"
    ACCEPTANCE = "acceptance", "部门签收", "Department acceptance"
    RESOLUTION = "resolution", "部门办理", "Department resolution"
    FOLLOW_UP = "follow_up", "回访", "Customer follow-up"


# The SLA stage whose clock starts when a complaint enters a state (escalation sets the
# deadline, analytics measures the time spent).
STAGE_ON_ENTRY: Mapping[State, Stage] = MappingProxyType(
    {
        State.WITH_DUTY_MANAGER: Stage.ACKNOWLEDGEMENT,
        State.DISPATCHED: Stage.ACCEPTANCE,
        State.IN_PROGRESS: Stage.RESOLUTION,
        State.REPLIED: Stage.FOLLOW_UP,
    }
)
# The stages escalation keeps a deadline for (handling runs on the resolution clock).
SLA_STAGES: tuple[Stage, ...] = tuple(STAGE_ON_ENTRY.values())


class Awaiting(Word):
    """What a complaint in someone's queue waits for them to decide or do."""

    ACKNOWLEDGE = "acknowledge", "待确认", "Acknowledge it"
    ROUTE = "route", "待派单或直接答复", "Dispatch it or answer it directly"
    RETURNED = "returned", "被退单：重新派单或直接答复", "Returned: dispatch it again or answer it"
    REOPENED = "reopened", "重办：再次派单或答复", "Reopened: dispatch it or answer it again"
    EXTENSION = "extension", "延期申请待审批", "Decide on the request for more time"
    PAUSE = "pause", "挂起申请待审批", "Decide on the request to pause the clock"
    ASSIST = "assist", "待协办：签收并提交协办意见", "Assist: accept and contribute your part"
    ASSISTS = "assists", "待协办部门提交意见", "Waiting for the assisting departments' parts"
    PAUSED = "paused", "挂起中：计时暂停", "Paused: the clock is stopped"
    ACCEPT = "accept", "待签收或退单", "Accept it or return it"
    ANSWER = "answer", "待答复", "Answer it"
    SETTLE_COMPENSATION = (
        "settle_compensation",
        "待核实损失或决定不予赔偿",
        "Verify the loss or decide that no compensation is due",
    )
    CLOSE = "close", "可办结", "Close it"
    FOLLOW_UP = "follow_up", "待客户回访结果", "Waiting for the customer's verdict"


class ClerkAssignment(Word):
    """How a department's complaints find their clerk, a setting of each department:
    clerks take them from the queue (领取), or the department's rota gives each complaint
    as it arrives to the next clerk in turn, or to the one with the fewest open."""

    QUEUE = "queue", "自行领取", "Clerks take from the queue"
    ROUND_ROBIN = "round_robin", "轮流分配", "In turn"
    LEAST_LOADED = "least_loaded", "在办最少者优先", "Fewest open first"


# --- a complaint as registered --------------------------------------------------------


class Channel(Word):
    PHONE = "phone", "电话", "Phone"
    WEB = "web", "网站", "Web"
    SMS = "sms", "短信", "SMS"
    WECHAT = "wechat", "微信", "WeChat"
    EMAIL = "email", "邮件", "Email"
    WALK_IN = "walk_in", "来访", "Walk-in"


class Severity(Word):
    URGENT = "urgent", "特急", "urgent"
    # 加急, not 紧急: an SMS marks what needs attention at once 【紧急】, and a severity
    # must not read like that marker (12345 hotlines grade 特急件 / 加急件 / 一般件).
    HIGH = "high", "加急", "high"
    NORMAL = "normal", "一般", "normal"
    LOW = "low", "较低", "low"


class Nature(Word):
    GENUINE = "genuine", "真实问题", "Genuine problem"
    RECOGNITION = "recognition", "表扬认可", "Recognition"
    COMPENSATION = "compensation", "索赔", "Compensation claim"


class FeedbackResult(Word):
    SATISFIED = "satisfied", "满意", "Satisfied"
    UNSATISFIED = "unsatisfied", "不满意", "Not satisfied"
    UNREACHABLE = "unreachable", "未联系上", "Not reached"


class FeedbackSource(Word):
    PHONE = "phone", "电话回访", "Phone"
    WEB = "web", "网站", "Web"
    SMS = "sms", "短信", "SMS"


class NoteSource(Word):
    AGENT = "agent", "话务员", "Agent"
    CUSTOMER_SMS = "customer_sms", "客户短信", "Customer's SMS"
    WEB = "web", "网站", "Web"
    IMPORT = "import", "历史导入", "Import"


class AttachmentSource(Word):
    """Where a photo or document on a complaint came from."""

    AGENT = "agent", "热线坐席", "The centre"
    DEPARTMENT = "department", "部门答复", "The department's reply"
    WEB = "web", "网站表单", "Web form"
    MMS = "mms", "彩信", "MMS"


class Record(Word):
    """What a complaint's history keeps beside the lifecycle's actions: facts about the
    complaint that change nothing of its state or its deadlines."""

    ATTACHMENT = "attachment", "附件", "Attachment"


# --- search and likely duplicates ----------------------------------------------------


class SearchField(Word):
    """Which text of a complaint a search found its words in."""

    DESCRIPTION = "description", "投诉内容", "Complaint"
    LOCATION = "location", "事发地点", "Place"
    NOTE = "note", "补充说明", "Note"
    RESOLUTION = "resolution", "答复", "Reply"


class DuplicateReason(Word):
    """Why a complaint being registered may repeat an earlier one (重复件)."""

    SAME_CALLER = "same_caller", "同一来电人", "Same caller"
    SAME_PLACE = "same_place", "同一地点", "Same place"
    SIMILAR_TEXT = "similar_text", "内容相似", "Similar text"


# --- the knowledge base -------------------------------------------------------------


class ArticleStatus(Word):
    """Where an article of the knowledge base stands: agents read approved ones only."""

    DRAFT = "draft", "草稿", "Draft"
    SUBMITTED = "submitted", "待审核", "Waiting for approval"
    APPROVED = "approved", "已发布", "Approved"
    RETIRED = "retired", "已停用", "Retired"


class ArticleStep(Word):
    """What moves an article from one status to the next."""

    SUBMIT = "submit", "提交审核", "Submit for approval"
    APPROVE = "approve", "审核发布", "Approve"
    RETURN = "return", "退回修改", "Return for changes"
    RETIRE = "retire", "停用", "Retire"
    REVISE = "revise", "修订", "Revise"


# --- SMS ----------------------------------------------------------------------------


class Audience(Word):
    """Whom an SMS about a lifecycle change is for."""

    DUTY_MANAGER = "duty_manager", "值班经理", "Duty manager"
    SUPERVISOR = "supervisor", "中心主管", "Supervisor"
    DEPARTMENT = "department", "业务部门", "Department"
    DEPARTMENT_HEAD = "department_head", "部门负责人", "Department head"
    CUSTOMER = "customer", "客户", "Customer"
    # The caller of a complaint merged into this one: told its outcome, never surveyed.
    DUPLICATE_CALLER = "duplicate_caller", "重复件来电人", "Caller of a merged duplicate"
    # A department that assists on a joint complaint (协办), beside the lead.
    ASSISTING_DEPARTMENT = "assisting_department", "协办部门", "Assisting department"


class SmsIntent(Word):
    """What an SMS someone sent us means, read against the message it answers.
    `opt_in` stays inside notify: nothing downstream acts on it."""

    ACK = "ack", "确认", "Acknowledgement"
    SATISFIED = "satisfied", "满意", "Satisfied"
    UNSATISFIED = "unsatisfied", "不满意", "Not satisfied"
    OPT_OUT = "opt_out", "退订", "Opt-out"
    OPT_IN = "opt_in", "恢复订阅", "Opt-in"
    MESSAGE = "message", "客户留言", "Message"


# --- event types ---------------------------------------------------------------------


class EventName(StrEnum):
    """Every event type on the topics; `shared.contracts` registers each with its payload."""

    # intake
    COMPLAINT_RECEIVED = "complaint.received"
    FEEDBACK_RECEIVED = "complaint.feedback_received"
    NOTE_ADDED = "complaint.note_added"
    # A caller called again about an open complaint; escalation urges its holder.
    URGE_REQUESTED = "complaint.urge_requested"
    # A photo or document was attached; escalation lists it in the complaint's history.
    ATTACHMENT_ADDED = "complaint.attachment_added"
    # An article of the knowledge base agents read from now, or no longer (retired, or
    # revised into a draft): analytics finds the hot issues no article answers.
    ARTICLE_APPROVED = "knowledge.article_approved"
    ARTICLE_WITHDRAWN = "knowledge.article_withdrawn"
    # escalation: one per lifecycle outcome
    ASSIGNED = "complaint.assigned"
    HANDED_OVER = "complaint.handed_over"
    ACKNOWLEDGED = "complaint.acknowledged"
    DISPATCHED = "complaint.dispatched"
    ACCEPTED = "complaint.accepted"
    RETURNED = "complaint.returned"
    TRANSFERRED = "complaint.transferred"
    EXTENSION_REQUESTED = "complaint.extension_requested"
    EXTENSION_DECIDED = "complaint.extension_decided"
    PAUSE_REQUESTED = "complaint.pause_requested"
    PAUSE_DECIDED = "complaint.pause_decided"
    PAUSED = "complaint.paused"
    RESUMED = "complaint.resumed"
    MERGED = "complaint.merged"
    ASSIST_ACCEPTED = "complaint.assist_accepted"
    ASSIST_CONTRIBUTED = "complaint.assist_contributed"
    ASSIST_DECLINED = "complaint.assist_declined"
    ASSIST_RELEASED = "complaint.assist_released"
    REPLIED = "complaint.replied"
    LOSS_VERIFIED = "complaint.loss_verified"
    COMPENSATION_DECLINED = "complaint.compensation_declined"
    FOLLOW_UP_FAILED = "complaint.follow_up_failed"
    FEEDBACK_RECORDED = "complaint.feedback_recorded"
    URGED = "complaint.urged"
    ESCALATED = "complaint.escalated"
    REOPENED = "complaint.reopened"
    CLOSED = "complaint.closed"
    DUTY_HANDED_OVER = "duty.handed_over"
    # A clerk of the holding department came to own the complaint, or gave it back.
    CLERK_ASSIGNED = "complaint.clerk_assigned"
    CLERK_RELEASED = "complaint.clerk_released"
    # notify
    SMS_SENT = "sms.sent"
    SMS_DELIVERED = "sms.delivered"
    SMS_FAILED = "sms.failed"
    SMS_INBOUND = "sms.inbound"
    # analytics
    ROOT_CAUSE_REVISED = "analytics.root_cause_revised"
    # Many callers reported one problem at one place within a day: the desk should know.
    HOT_ISSUE_DETECTED = "analytics.hot_issue_detected"


# The events escalation publishes for accepted lifecycle actions, all with one payload:
# every `complaint.*` event but those intake publishes.
INTAKE_EVENTS = frozenset(
    {
        EventName.COMPLAINT_RECEIVED,
        EventName.FEEDBACK_RECEIVED,
        EventName.NOTE_ADDED,
        EventName.URGE_REQUESTED,
        EventName.ATTACHMENT_ADDED,
        EventName.ARTICLE_APPROVED,
        EventName.ARTICLE_WITHDRAWN,
    }
)
LIFECYCLE_EVENTS: tuple[EventName, ...] = tuple(
    name for name in EventName if name.startswith("complaint.") and name not in INTAKE_EVENTS
)
