"""The incident rules, written once: the states and their groups, every action with the states it
starts from and the roles that may take it, and what "overdue" and "due to close" mean.

上报 reported -> 立案 registered -> 派遣 dispatched -> 处置 in progress -> 反馈 handled -> 核查 verified
-> 结案 closed; 返工 rework sends a handled incident back to in progress; cancelled, duplicate and out of
jurisdiction end it early. After closing, the operator's 回访 return visit asks the reporter: "dissatisfied"
reopens the incident as rework (closed -> in progress).

Nothing here imports a model (the one read, a merge target's state, goes through the incident's own
class): the lifecycle, the dispatch services, the actions,
the stats, the GeoJSON, the sweep, the assessment and the raw SQL all read these definitions, so a
count on one screen and the same count on another cannot disagree.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import models
from django.db.models import Q
from django.db.models.functions import Least
from django.utils import timezone

from core.actors import Role


class State(models.TextChoices):
    REPORTED = "reported", "上报 reported"
    REGISTERED = "registered", "立案 registered"
    DISPATCHED = "dispatched", "派遣 dispatched"
    IN_PROGRESS = "in_progress", "处置 in progress"
    HANDLED = "handled", "反馈 handled"
    VERIFIED = "verified", "核查 verified"
    CLOSED = "closed", "结案 closed"
    CANCELLED = "cancelled", "撤销 cancelled"
    DUPLICATE = "duplicate", "重复 duplicate"
    OUT_OF_JURISDICTION = "out_of_jurisdiction", "非本辖区 out of jurisdiction"


class Level(models.IntegerChoices):
    """Who handles a matter: small matters stay in the grid, big ones go to the village, then up."""

    GRID = 1, "网格 grid"
    VILLAGE = 2, "村居 village"
    TOWN = 3, "镇 town command centre"
    BUREAU = 4, "职能部门 functional bureau"


S = State
STATES: list[str] = State.values
# Still to be finished: every state before 结案 closed that no early end has stopped.
OPEN: frozenset[str] = frozenset({S.REPORTED, S.REGISTERED, S.DISPATCHED, S.IN_PROGRESS, S.HANDLED, S.VERIFIED})
# Finished or stopped: what Open311 calls "closed".
ENDED: frozenset[str] = frozenset(STATES) - OPEN
# The handling clocks run (registered until handled): these can be overdue and escalate.
CLOCK_RUNNING: frozenset[str] = frozenset({S.REGISTERED, S.DISPATCHED, S.IN_PROGRESS})
# Held by an assignee who has or is working on it: counts towards their load; can be reassigned.
ASSIGNED: frozenset[str] = frozenset({S.DISPATCHED, S.IN_PROGRESS})
# Ended without being handled: never counted in the figures.
NOT_COUNTED: frozenset[str] = frozenset({S.CANCELLED, S.DUPLICATE, S.OUT_OF_JURISDICTION})
# No incident is merged into one in these states.
MERGE_TARGET_REFUSED: frozenset[str] = frozenset({S.DUPLICATE, S.CANCELLED})


# --- overdue --------------------------------------------------------------------------------------
# An incident is overdue when one of its running clocks has passed its deadline: the handling clock
# while it is being handled, the acceptance clock while it waits to be accepted. One definition, three
# renderings below (a queryset filter, SQL, a Python test on a row); a test keeps them equal.
OVERDUE_CLOCKS: tuple[tuple[str, frozenset[str]], ...] = (
    ("handle_due_at", CLOCK_RUNNING),
    ("accept_due_at", frozenset({S.DISPATCHED})),
)


def overdue_q(now: datetime, prefix: str = "") -> Q:
    """Return the filter of incidents overdue at ``now`` (``prefix``: the path to the incident, e.g.
    ``"incident__"``)."""
    q = Q(pk__in=[])
    for column, states in OVERDUE_CLOCKS:
        q |= Q(**{f"{prefix}state__in": sorted(states), f"{prefix}{column}__lt": now})
    return q


def next_due() -> models.Expression:
    """Return, as a database expression, when the first running clock of ``OVERDUE_CLOCKS`` runs out
    (NULL: none runs): a team's inbox in this order has the overdue first (the longest overdue first:
    overdue is exactly "next_due < now"), then the deadlines to come, soonest first."""
    clocks = [models.Case(models.When(state__in=sorted(states), then=models.F(column)), default=None,
                          output_field=models.DateTimeField()) for column, states in OVERDUE_CLOCKS]
    return clocks[0] if len(clocks) == 1 else Least(*clocks)


def overdue_sql(alias: str) -> str:
    """Return the SQL condition "overdue at %(now)s" on the incident row ``alias`` (for raw SQL)."""
    terms = [f"({alias}.state IN ({', '.join(repr(str(s)) for s in sorted(states))})"
             f" AND {alias}.{column} < %(now)s)" for column, states in OVERDUE_CLOCKS]
    return "(" + " OR ".join(terms) + ")"


def is_overdue(row, now: datetime) -> bool:
    """Return whether an incident (a model instance, or a dict of its values) is overdue at ``now``."""
    get = row.get if isinstance(row, dict) else (lambda name: getattr(row, name))
    state = get("state")
    for column, states in OVERDUE_CLOCKS:
        due = get(column)
        if state in states and due is not None and due < now:
            return True
    return False


def for_the_browser() -> dict:
    """Return the rules the pages evaluate between two answers of the server (a clock runs out while
    nothing changes): the open states, the clock-running states and the overdue clocks, each in
    lifecycle order. The pages read them from here, never from a copy of their own."""
    ordered = lambda states: [s for s in STATES if s in states]  # noqa: E731
    return {"open": ordered(OPEN), "clock_running": ordered(CLOCK_RUNNING),
            "overdue_clocks": [[column, ordered(states)] for column, states in OVERDUE_CLOCKS],
            "public_notes": sorted(PUBLIC_NOTES)}


def escalation_time(*, state: str, level: int, level_due_at, handle_due_at, accept_due_at) -> datetime | None:
    """Return when the SLA sweep should next escalate an incident (None: it never will as it stands).

    The same clocks as ``OVERDUE_CLOCKS``, with the handling clock restarted at each level
    (``level_due_at``): an incident the sweep escalates is overdue, and one escalated stays overdue
    for the figures (``handle_due_at`` keeps the original deadline) without escalating again until
    its new level's period has run out.
    """
    if state not in CLOCK_RUNNING or level >= Level.BUREAU:
        return None
    dues = {"handle_due_at": level_due_at or handle_due_at, "accept_due_at": accept_due_at}
    times = [dues[column] for column, states in OVERDUE_CLOCKS if state in states and dues[column] is not None]
    return min(times) if times else None


def escalation_due_q(now: datetime) -> Q:
    """Return the filter of incidents the SLA sweep escalates at ``now`` (``escalate_at`` is kept by
    ``escalation_time`` on every change)."""
    return Q(state__in=sorted(CLOCK_RUNNING), escalate_at__lt=now, level__lt=Level.BUREAU)


# --- due to close, and the closure rate -----------------------------------------------------------
def month_bounds(moment: datetime | None = None) -> tuple[datetime, datetime]:
    """Return [first instant of the month, first instant of the next month) in local time."""
    local = timezone.localtime(moment or timezone.now())
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (start + timedelta(days=32)).replace(day=1)
    return start, following


def due_to_close_q(start: datetime, end: datetime, now: datetime) -> Q:
    """Return the filter of incidents due to close in [start, end) as seen at ``now``: the handling
    deadline fell in the period and has passed, or the incident was closed in the period (so that
    closed <= due). A period still running counts only what has fallen due by now, so the command
    centre's month and the assessment's month give one 结案率 on the same day."""
    return Q(handle_due_at__gte=start, handle_due_at__lt=min(end, now)) | closed_in_q(start, end)


def closed_in_q(start: datetime, end: datetime) -> Q:
    """Return the filter of incidents closed in [start, end)."""
    return Q(state=S.CLOSED, closed_at__gte=start, closed_at__lt=end)


def counted_q() -> Q:
    """Return the filter of incidents the figures count (not cancelled, duplicate or out of jurisdiction)."""
    return ~Q(state__in=sorted(NOT_COUNTED))


def rate(numerator: int, denominator: int) -> float | None:
    """Return a rate as a fraction, None when nothing was due."""
    return numerator / denominator if denominator else None


# --- the standard assessment (GB/T 30428.4 数字化城市管理信息系统 第4部分: 绩效评价) ----------------
# The counts of a period [start, end) seen at ``now``, each defined on the incidents (and their return
# visit events): incidents.analytics aggregates them on the incidents (the reference path) and from the
# rollups (incidents.rollups renders the same conditions in SQL); a test keeps the two equal.
#
# - accepted 受理数: reports received in the period, whatever became of them;
# - registered 立案数: of those, the ones registered (立案);
# - to_dispatch 应派遣数: of those, the registered ones not fixed on the spot (自行处置, ``self_handle``);
# - dispatched 派遣数: of those, the ones dispatched (an incident fixed on the spot never is);
# - dispatched_accurately 准确派遣数: of those, never returned to the command centre (退单, ``returns``);
# - received: reports received in the period that count (``NOT_COUNTED`` excluded);
# - closed 结案数 / due_to_close 应结案数 / closed_on_time 按期结案数: ``closed_in_q`` / ``due_to_close_q``;
# - closed_reworked 返工数: closed in the period after at least one 返工 (``REWORK_ACTIONS``);
# - closed_extended 延期数: closed in the period after at least one approved 延期 extension;
# - found_and_fixed 自行处置数: closed in the period by the ``self_handle`` of the grid worker who found
#   it on patrol (source ``FOUND_BY_THE_GRID``) and fixed it on the spot: counted here, not as a
#   dispatched case (it is in no 派遣 count; it is closed, on time, like any other);
# - visits 回访数 / satisfied 满意数: return visits made in the period, and those satisfied or basically
#   satisfied (``SATISFIED_OUTCOMES``);
# - reworks: 返工 events in the period; overdue_now: overdue at ``now`` whatever the period.
FOUND_BY_THE_GRID: tuple[str, ...] = ("patrol",)
SATISFIED_OUTCOMES: tuple[str, ...] = ("satisfied", "basically_satisfied")
VISIT_ACTION = "return_visit"


@dataclass(frozen=True)
class Rate:
    name: str
    label: str
    numerator: str
    denominator: str


# Each rate is numerator / denominator, None when the denominator is 0 (``rate``).
STANDARD_RATES: tuple[Rate, ...] = (
    Rate("registration_rate", "立案率", "registered", "accepted"),
    Rate("dispatch_rate", "派遣率", "dispatched", "to_dispatch"),
    Rate("accurate_dispatch_rate", "准确派遣率", "dispatched_accurately", "dispatched"),
    Rate("closure_rate", "结案率", "closed", "due_to_close"),
    Rate("on_time_rate", "按期结案率", "closed_on_time", "due_to_close"),
    Rate("rework_rate", "返工率", "closed_reworked", "closed"),
    Rate("extension_rate", "延期率", "closed_extended", "closed"),
    Rate("satisfaction_rate", "满意率", "satisfied", "visits"),
)
# The counts, in the order the report and the exports show them, with their names.
STANDARD_COUNTS: dict[str, str] = {
    "accepted": "受理数", "registered": "立案数", "to_dispatch": "应派遣数", "dispatched": "派遣数",
    "dispatched_accurately": "准确派遣数",
    "received": "有效上报数", "due_to_close": "应结案数", "closed": "结案数", "closed_on_time": "按期结案数",
    "closed_reworked": "返工结案数", "closed_extended": "延期结案数", "found_and_fixed": "自行处置数",
    "visits": "回访数", "satisfied": "满意数", "reworks": "返工次数", "overdue_now": "当前超期数",
}


def received_in_q(start: datetime, end: datetime) -> Q:
    """Return the filter of the reports received in [start, end) (the assessment's 受理 population)."""
    return Q(created_at__gte=start, created_at__lt=end)


def standard_figure_filters(start: datetime, end: datetime, now: datetime) -> dict[str, Q]:
    """Return each incident count of the standard assessment as a filter on the incidents."""
    received = received_in_q(start, end)
    registered = received & Q(registered_at__isnull=False)
    dispatched = received & Q(dispatched_at__isnull=False)
    closed = closed_in_q(start, end)
    return {
        "accepted": received,
        "registered": registered,
        "to_dispatch": registered & Q(self_handled=False),
        "dispatched": dispatched,
        "dispatched_accurately": dispatched & Q(returns=0),
        "received": received & counted_q(),
        "closed": closed,
        "due_to_close": due_to_close_q(start, end, now) & counted_q(),
        "closed_on_time": closed & Q(closed_at__lte=models.F("handle_due_at")),
        "closed_reworked": closed & Q(reworks__gt=0),
        "closed_extended": closed & Q(extensions__gt=0),
        "found_and_fixed": closed & Q(self_handled=True),
        "handling": closed & Q(registered_at__isnull=False),
        "overdue_now": overdue_q(now),
    }


def standard_rates(counts: dict) -> dict[str, float | None]:
    """Return every rate of ``STANDARD_RATES`` from a row of counts."""
    return {r.name: rate(counts.get(r.numerator) or 0, counts.get(r.denominator) or 0) for r in STANDARD_RATES}


# --- actions: who may do what, in which state -----------------------------------------------------
class TransitionRefused(Exception):
    """The action is not allowed now (wrong state) or not to this actor (wrong role)."""

    def __init__(self, message: str, *, reason: str):
        super().__init__(message)
        self.reason = reason  # "state" | "role"


@dataclass(frozen=True)
class Action:
    """One thing that can be done to an incident.

    ``sources``: the states it may start from; ``roles``: who may take it; ``target``: the state it
    leads to (None: the state stays); ``guard``: a further condition on the incident, returning why
    it is refused (None when allowed); ``words``: how a refusal names it.
    """

    name: str
    sources: frozenset[str]
    roles: frozenset[Role]
    target: str | None = None
    guard: Callable[[object], str | None] | None = field(default=None, compare=False)
    words: str = ""


def _below_top(incident) -> str | None:
    return "the incident is already at the top level" if incident.level >= Level.BUREAU else None


def _above_grid(incident) -> str | None:
    return "the incident is already at grid level" if incident.level <= Level.GRID else None


def _below_town(incident) -> str | None:
    return "the incident is already with the command centre" if incident.level >= Level.TOWN else None


def _not_visited_since_closed(incident) -> str | None:
    """One return visit per closing: after a reopen and a second closing another is due."""
    if incident.return_visits.filter(visited_at__gte=incident.closed_at).exists():
        return "a return visit is already recorded since the incident was closed"
    return None


def _no_pending_extension(incident) -> str | None:
    if incident.extension_requests.filter(state="pending").exists():
        return "an extension request is already waiting for a decision"
    return None


def _pending_extension(incident) -> str | None:
    if not incident.extension_requests.filter(state="pending").exists():
        return "no extension request is waiting for a decision"
    return None


# 延期: how far one extension may move the handling deadline.
EXTENSION_MAX = timedelta(days=30)


def extension_refusal(handle_due_at: datetime | None, requested_due: datetime, now: datetime) -> str | None:
    """Return why the handling deadline cannot move to ``requested_due`` (None: it can): it must be
    in the future and later than the current one, by at most ``EXTENSION_MAX``."""
    if handle_due_at is None:
        return "the incident has no handling deadline to extend"
    if requested_due <= max(handle_due_at, now):
        return ("must be later than the current deadline "
                f"{timezone.localtime(handle_due_at):%Y-%m-%d %H:%M} and than now")
    if requested_due > handle_due_at + EXTENSION_MAX:
        return f"at most {EXTENSION_MAX.days} days after the current deadline"
    return None


def own_extension_refusal(requested_by_id: int | None, user_id: int | None, label: str) -> str | None:
    """Return why an actor may not decide a request (None: they may): nobody decides their own."""
    if requested_by_id is not None and requested_by_id == user_id:
        return f"{label} may not decide their own extension request"
    return None


def merge_target_refusal(state: str | None) -> str | None:
    """Return why an incident in ``state`` cannot take a duplicate (None: it can)."""
    return f"cannot merge into an incident that is {state}" if state in MERGE_TARGET_REFUSED else None


def _after_photo_if_required(incident) -> str | None:
    """处置后照片: a category that requires it is reported handled only with an "after" photo attached."""
    if not incident.category.requires_after_photo or incident.photos.filter(stage="after").exists():
        return None
    return f"attach an \"after\" photo first: {incident.category.name_en} requires one to be reported handled"


# 结案条件: what a category may require before an incident of it is closed (Category.closing_conditions),
# each with its words and its test on the incident.
CLOSING_CHECKS: dict[str, tuple[str, Callable[[object], bool]]] = {
    "after_photo": ("处置后照片 an after photo", lambda i: i.photos.filter(stage="after").exists()),
    "verify_photo": ("核查照片 a verification photo", lambda i: i.photos.filter(stage="verify").exists()),
    # said when reporting it handled, or in a status note since (a verified incident cannot go back)
    "handled_note": ("处置情况 a note of what was done",
                     lambda i: i.events.filter(action__in=["report_handled", "status_note"]).exclude(note="").exists()),
}


def _closing_conditions_met(incident) -> str | None:
    """结案条件: the category's closing conditions, each met (None), or what is missing."""
    missing = [CLOSING_CHECKS[c][0] for c in incident.category.closing_conditions
               if c in CLOSING_CHECKS and not CLOSING_CHECKS[c][1](incident)]
    if not missing:
        return None
    return f"结案条件 not met: {incident.category.name_en} needs {', '.join(missing)} before it is closed"


def _found_by_the_grid(incident) -> str | None:
    if incident.source not in FOUND_BY_THE_GRID:
        return "only a problem found on patrol is fixed on the spot (自行处置); others are dispatched"
    return None


def _flagged_duplicate(incident) -> str | None:
    if incident.possible_duplicate_of_id is None:
        return "the incident is not flagged as a possible duplicate"
    # the target's state as stored now (not a related object cached on the instance)
    target = type(incident)._default_manager.filter(pk=incident.possible_duplicate_of_id)
    return merge_target_refusal(target.values_list("state", flat=True).first())


def reassign_refusal(roles: set[Role], *, to_handling_team: bool, label: str) -> str | None:
    """Return why an actor holding ``roles`` may not give the incident to a person (None: they may):
    an operator chooses anyone in the town; anyone else who may reassign (a grid leader) only the
    people of the incident's handling grid's team, its leader and members; escalation is the way up.
    ``to_handling_team``: whether the person is one of those people."""
    if Role.OPERATOR in roles or to_handling_team:
        return None
    return (f"{label} may reassign this incident only to the people of its handling grid's team; "
            "escalate it to go further")


R = Role
TEAM = frozenset({R.ASSIGNEE, R.GRID_LEADER, R.GRID_MEMBER, R.VILLAGE_LEADER})
CHECKERS = frozenset({R.OPERATOR, R.GRID_LEADER, R.VILLAGE_LEADER})
INTAKE = frozenset({R.SYSTEM, R.OPERATOR})
# 延期: who decides a handler's extension request, the level above the grid's team: the command centre
# and the village's leader (包村领导).
EXTENSION_DECIDERS = frozenset({R.OPERATOR, R.VILLAGE_LEADER})
# 退单: who may send a dispatched incident back to the command centre (sent to the wrong grid): the
# person it was dispatched to, and the leader of the grid it was sent to.
RETURNERS = frozenset({R.ASSIGNEE, R.GRID_LEADER})
BEFORE_HANDLING = frozenset({S.REPORTED, S.REGISTERED, S.DISPATCHED})


def _a(name, sources, roles, target=None, guard=None, words="") -> Action:
    return Action(name, frozenset(sources), frozenset(roles), target, guard, words or name)


# The lifecycle: each changes the state.
TRANSITIONS: dict[str, Action] = {a.name: a for a in [
    _a("register", {S.REPORTED}, INTAKE, S.REGISTERED),
    _a("dispatch", {S.REGISTERED}, INTAKE, S.DISPATCHED),
    _a("accept", {S.DISPATCHED}, TEAM | {R.OPERATOR}, S.IN_PROGRESS),
    _a("report_handled", {S.IN_PROGRESS}, TEAM | {R.OPERATOR}, S.HANDLED, guard=_after_photo_if_required),
    _a("verify", {S.HANDLED}, CHECKERS, S.VERIFIED),
    _a("rework", {S.HANDLED}, CHECKERS, S.IN_PROGRESS),
    _a("close", {S.VERIFIED}, {R.OPERATOR}, S.CLOSED, guard=_closing_conditions_met),
    _a("cancel", BEFORE_HANDLING | {S.IN_PROGRESS}, {R.OPERATOR}, S.CANCELLED),
    _a("mark_duplicate", BEFORE_HANDLING, {R.OPERATOR}, S.DUPLICATE),
    _a("out_of_jurisdiction", {S.REPORTED, S.REGISTERED}, {R.OPERATOR}, S.OUT_OF_JURISDICTION),
    # 回访不满意: a dissatisfied return visit reopens a closed incident as rework (taken through
    # return_visit, never on its own endpoint)
    _a("reopen", {S.CLOSED}, INTAKE, S.IN_PROGRESS),
    # 自行处置: the grid worker who found it on patrol fixed it on the spot, with an after photo; it is
    # closed at once, never dispatched (taken at intake, dispatch.on_the_spot, never on its own endpoint)
    _a("self_handle", {S.REGISTERED}, {R.ASSIGNEE}, S.CLOSED, guard=_found_by_the_grid,
       words="close as fixed on the spot"),
]}
# Dispatch and triage: the state stays.
OTHER_ACTIONS: dict[str, Action] = {a.name: a for a in [
    _a("reassign", ASSIGNED, {R.OPERATOR, R.GRID_LEADER}),
    _a("escalate", CLOCK_RUNNING, {R.SYSTEM, R.OPERATOR, R.GRID_LEADER, R.ASSIGNEE, R.VILLAGE_LEADER},
       guard=_below_top),
    _a("hand_back", ASSIGNED, {R.OPERATOR, R.VILLAGE_LEADER}, guard=_above_grid, words="hand back"),
    # merging into the incident it was flagged a possible duplicate of: mark_duplicate's rule, and more
    _a("merge", BEFORE_HANDLING, {R.OPERATOR}, guard=_flagged_duplicate),
    # placing a triaged incident by hand
    _a("relocate", {S.REPORTED}, {R.OPERATOR}),
    # evidence photos (incidents.evidence): before / after the fix by its team or the operator, and by
    # whoever checks it; at intake a photo comes with the report itself (no action of its own)
    _a("photo_before", ASSIGNED, TEAM | {R.OPERATOR}, words="attach a before photo to"),
    _a("photo_after", {S.IN_PROGRESS, S.HANDLED}, TEAM | {R.OPERATOR}, words="attach an after photo to"),
    _a("photo_verify", {S.HANDLED, S.VERIFIED}, CHECKERS, words="attach a verification photo to"),
    # a note for the reporter and the source system (办理进度): what is being done, in words they read
    _a("status_note", OPEN, TEAM | {R.OPERATOR}, words="add a status note to"),
    # 回访: the operator asks the reporter about a closed incident (dissatisfied: reopen, above)
    _a("return_visit", {S.CLOSED}, {R.OPERATOR}, guard=_not_visited_since_closed,
       words="record a return visit on"),
    # 延期: the handler asks for a later handling deadline; the level above decides
    _a("request_extension", ASSIGNED, TEAM, guard=_no_pending_extension, words="request an extension for"),
    _a("decide_extension", ASSIGNED, EXTENSION_DECIDERS, guard=_pending_extension,
       words="decide the extension request of"),
    # 退单: sent to the wrong grid, the incident goes back to the command centre to be reassigned
    _a("return_to_centre", {S.DISPATCHED}, RETURNERS, guard=_below_town, words="return to the command centre"),
]}
# The actions taken on a closed incident (回访 and the reopening it may bring): every other action
# starts from an open state.
AFTER_CLOSING: frozenset[str] = frozenset({"return_visit", "reopen"})
# 返工: the actions that send an incident back to be handled again, each one rework (``reworks`` and
# the assessment's 返工 figures, from its events): the checker's rework, and the reopening after a
# dissatisfied return visit.
REWORK_ACTIONS: tuple[str, ...] = ("rework", "reopen")
# The photo stages people attach through POST /api/incidents/{id}/photos/, each by its action above.
PHOTO_ACTIONS = {"before": "photo_before", "after": "photo_after", "verify": "photo_verify"}
ACTIONS: dict[str, Action] = {**TRANSITIONS, **OTHER_ACTIONS}

# What the source system and the citizen are told (the outbox to the source's webhook, Open311
# status_notes and service request updates): each change of state they can see, and status notes. The
# note of these actions is public; the routing inside the town (reassign, escalate, hand back), the
# internal check (verify) and the photos are not.
PUBLIC_ACTIONS: frozenset[str] = frozenset({
    "register", "dispatch", "accept", "report_handled", "rework", "close", "cancel", "mark_duplicate",
    "out_of_jurisdiction", "status_note", "reopen", "self_handle",
})
# The public changes whose note is written for the reporter (the pages say so where it is typed); the
# notes of the others are the town's own words (a dispatch's routing reason, a rework's finding).
PUBLIC_NOTES: frozenset[str] = frozenset({
    "status_note", "report_handled", "close", "cancel", "mark_duplicate", "out_of_jurisdiction",
    "reopen",  # the reporter's own words of what is not fixed (回访)
    "self_handle",  # what the worker did on the spot
})

# The data of the events an import of past incidents writes (incidents.history): history is counted in
# the figures by its own dates, and never told to anyone (no outbox row, no notification).
HISTORY_EVENT_DATA: dict = {"history": True}


def is_public(action: str, data: dict | None) -> bool:
    """Return whether an event is told to the source and the reporter (the outbox trigger and the
    Open311 updates render the same test in SQL)."""
    return action in PUBLIC_ACTIONS and not HISTORY_EVENT_DATA.items() <= (data or {}).items()


def public_note(action: str, note: str) -> str:
    """Return what the reporter may read of an event's note ("" when the note is the town's own)."""
    return note if action in PUBLIC_NOTES else ""

# The transitions people take through POST /api/incidents/{id}/{action}/ (register and dispatch are
# the system's at intake, mark_duplicate is taken through merge and reopen through return_visit).
LIFECYCLE_ACTIONS = ["accept", "report_handled", "verify", "rework", "close", "cancel", "out_of_jurisdiction"]
# Every action an endpoint takes, in the order the pages show them.
ENDPOINT_ACTIONS = [*LIFECYCLE_ACTIONS, "reassign", "escalate", "hand_back", "merge", "relocate", "status_note",
                    "return_to_centre", "request_extension", "decide_extension", "return_visit"]


def check(incident, name: str, *, roles: set[Role], label: str) -> Action:
    """Return the action ``name`` if an actor called ``label`` holding ``roles`` towards the incident
    may take it now; raise TransitionRefused otherwise (the state first, then the role, then the
    action's own condition)."""
    action = ACTIONS.get(name)
    if action is None:
        raise TransitionRefused(f"unknown action {name!r}", reason="state")
    if incident.state not in action.sources:
        raise TransitionRefused(f"cannot {action.words} an incident that is {incident.state}", reason="state")
    if not roles & action.roles:
        raise TransitionRefused(f"{label} may not {action.words} this incident", reason="role")
    refusal = action.guard(incident) if action.guard is not None else None
    if refusal:
        raise TransitionRefused(refusal, reason="state")
    return action
