"""Categories, incidents and their append-only event history."""
from __future__ import annotations

from django.contrib.gis.db import models
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GistIndex
from django.db.models import F, Q

from grids.models import BoundaryGeneration, Grid, Person, Town, Village
from incidents import rules
from incidents.rules import Level


class Severity(models.IntegerChoices):
    MINOR = 1, "一般 minor"
    NORMAL = 2, "较重 normal"
    MAJOR = 3, "重大 major"
    CRITICAL = 4, "特别重大 critical"


class Category(models.Model):
    """A kind of matter, with who handles it and how fast (its SLA)."""

    code = models.SlugField(max_length=40, unique=True, help_text="also the Open311 service_code")
    name_zh = models.CharField(max_length=40)
    name_en = models.CharField(max_length=80)
    description = models.CharField(max_length=300, blank=True)
    responsible_role = models.CharField(max_length=16, choices=Person.Role.choices)
    level = models.PositiveSmallIntegerField(choices=Level.choices, default=Level.GRID)
    default_severity = models.PositiveSmallIntegerField(choices=Severity.choices, default=Severity.NORMAL)
    urgent = models.BooleanField(default=False, help_text="short clocks, e.g. straw burning")
    sla_accept_min = models.PositiveIntegerField(help_text="minutes from dispatch to acceptance")
    sla_handle_min = models.PositiveIntegerField(help_text="minutes from registration to handled")
    purposes = ArrayField(models.CharField(max_length=32, choices=Grid.Purpose.choices), default=list, blank=True,
                          help_text="dedicated grids of these purposes take this category")
    bureau = models.CharField(max_length=60, blank=True, help_text="functional bureau at the top level")
    active = models.BooleanField(default=True)
    requires_after_photo = models.BooleanField(
        default=False, help_text="处置后照片: an \"after\" photo must be attached before it is reported handled")
    # the handbook (CJ/T 315 style): when a matter is a case, and what closing it needs
    filing_conditions = models.TextField(blank=True, help_text="立案条件: shown to the operator before registering")
    closing_conditions = ArrayField(
        models.CharField(max_length=20, choices=[(k, v[0]) for k, v in rules.CLOSING_CHECKS.items()]),
        default=list, blank=True, help_text="结案条件: what must be there before it is closed")
    attributes = models.JSONField(default=list, blank=True,
                                  help_text="extra questions at intake (incidents.attributes: Open311 attributes)")

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "categories"
        constraints = [
            models.CheckConstraint(condition=Q(sla_accept_min__gt=0) & Q(sla_handle_min__gt=0), name="sla_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name_zh} {self.name_en}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from incidents.attributes import definition_errors

        errors = definition_errors(self.attributes)
        if errors:
            raise ValidationError({"attributes": errors})


class Incident(models.Model):
    """One matter reported from any source, located into a grid and handled in a closed loop."""

    class Source(models.TextChoices):
        HOTLINE_12345 = "hotline_12345", "12345热线 hotline"
        MAYOR_MAILBOX = "mayor_mailbox", "寄语市长 mayor's mailbox"
        PATROL = "patrol", "日常巡查 patrol"
        CAMERA = "camera", "高清探头 camera"
        CITIZEN = "citizen", "群众 citizen"
        HIGHER_LEVEL = "higher_level", "上级交办 higher-level assignment"

    State = rules.State

    class Triage(models.TextChoices):
        NONE = "", "located"
        OUTSIDE = "outside_town", "outside the town"
        UNRESOLVED_ADDRESS = "unresolved_address", "address not found"
        NO_LOCATION = "no_location", "no location given"

    source = models.CharField(max_length=16, choices=Source.choices)
    external_id = models.CharField(max_length=64, blank=True, help_text="the sender's own id (idempotency key)")
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="incidents")
    severity = models.PositiveSmallIntegerField(choices=Severity.choices)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    address = models.CharField(max_length=300, blank=True)
    reporter_name = models.CharField(max_length=64, blank=True)
    reporter_phone = models.CharField(max_length=32, blank=True)
    reporter_email = models.EmailField(max_length=254, blank=True,
                                       help_text="personal data: exposed exactly where reporter_phone is")
    attributes = models.JSONField(null=True, blank=True, help_text="answers to the category's questions, by code")
    media_url = models.URLField(max_length=1000, blank=True,
                                help_text="a link the reporter gave (Open311 media_url): kept as a link, never fetched")
    camera = models.ForeignKey("cameras.Camera", null=True, blank=True, on_delete=models.PROTECT, db_index=False)
    component = models.ForeignKey("components.Component", null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="incidents", db_index=False,
                                  help_text="the city component (部件) it is about, if any")
    submitted_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                     help_text="the client: the user or integration client that sent it (NULL: the "
                                               "platform itself); part of the idempotency key")
    location = models.PointField(srid=4326, null=True, blank=True)
    original_x = models.FloatField(null=True, blank=True)
    original_y = models.FloatField(null=True, blank=True)
    original_crs = models.CharField(max_length=20, blank=True)
    location_source = models.CharField(max_length=16, blank=True, help_text="coordinates | address | camera")
    location_note = models.CharField(max_length=200, blank=True)
    town = models.ForeignKey(Town, null=True, blank=True, on_delete=models.PROTECT)
    # No index of their own on generation, nearest_grid, grid, handling_grid and assignee: grid, handling
    # grid and assignee lead the composite indexes below, the other two are read only when a generation or
    # grid is deleted; every index costs each intake (a batch writes 10,000 rows at once). The rarely set
    # (camera, component, possible_duplicate_of, merged_into) have partial indexes of their rows only.
    generation = models.ForeignKey(BoundaryGeneration, null=True, blank=True, on_delete=models.PROTECT,
                                   db_index=False)
    village = models.ForeignKey(Village, null=True, blank=True, on_delete=models.PROTECT)
    grid = models.ForeignKey(Grid, null=True, blank=True, on_delete=models.PROTECT, related_name="incidents",
                             db_index=False,
                             help_text="the comprehensive grid the point was located in")
    handling_grid = models.ForeignKey(Grid, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                      db_index=False,
                                      help_text="the grid whose team handles it (a dedicated grid when it matches)")
    near_edge = models.BooleanField(default=False)
    nearest_grid = models.ForeignKey(Grid, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                     db_index=False)
    distance_m = models.FloatField(null=True, blank=True, help_text="metres to the nearest grid when outside")
    triage = models.CharField(max_length=20, choices=Triage.choices, blank=True, default="")

    state = models.CharField(max_length=20, choices=rules.State.choices, default=rules.State.REPORTED)
    level = models.PositiveSmallIntegerField(choices=Level.choices, default=Level.GRID)
    assignee = models.ForeignKey(Person, null=True, blank=True, on_delete=models.PROTECT, related_name="incidents",
                                 db_index=False)
    possible_duplicate_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT,
                                              related_name="possible_duplicates", db_index=False)
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged",
                                    db_index=False)

    created_at = models.DateTimeField(db_index=True)
    registered_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    handled_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    accept_due_at = models.DateTimeField(null=True, blank=True)
    handle_due_at = models.DateTimeField(null=True, blank=True)
    level_due_at = models.DateTimeField(null=True, blank=True,
                                        help_text="handling deadline at the current level (restarts on escalation)")
    escalate_at = models.DateTimeField(null=True, blank=True, help_text="when the sweep escalates it next")
    escalations = models.PositiveSmallIntegerField(default=0)
    reworks = models.PositiveSmallIntegerField(default=0)
    # The assessment's per-incident flags (incidents.rules.STANDARD_FIGURES): 退单 returns to the command
    # centre (a dispatch that was not accurate) and approved 延期 extensions. db_default: the bulk writers
    # (COPY of intake batches, history, the simulated city) leave them to the database.
    returns = models.PositiveSmallIntegerField(default=0, db_default=0,
                                               help_text="times returned to the command centre (退单)")
    extensions = models.PositiveSmallIntegerField(default=0, db_default=0,
                                                  help_text="approved extensions of the handling deadline (延期)")
    self_handled = models.BooleanField(default=False, db_default=False,
                                       help_text="自行处置: found on patrol and fixed on the spot by the finder")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Idempotency is per client: another client re-using (source, external_id) gets its own
            # incident and learns nothing. NULLS NOT DISTINCT: the platform's own (NULL client) keys
            # are unique too. The intake's probe (incidents.intake._existing) uses this index.
            models.UniqueConstraint(fields=["submitted_by", "source", "external_id"], condition=~Q(external_id=""),
                                    nulls_distinct=False, name="incident_client_idempotency_key"),
            models.CheckConstraint(condition=Q(state__in=rules.STATES), name="incident_state_known"),
            models.CheckConstraint(condition=Q(triage="") | Q(grid__isnull=True), name="triaged_has_no_grid"),
            models.CheckConstraint(condition=~Q(state="closed") | Q(closed_at__isnull=False),
                                   name="closed_has_closed_at"),
        ]
        indexes = [
            models.Index(fields=["state", "escalate_at"], name="incident_sweep_idx"),
            models.Index(fields=["grid", "state"], name="incident_grid_state_idx"),
            models.Index(fields=["assignee", "state"], name="incident_assignee_state_idx"),
            # with the two above, the scope's three columns (selectors.scope_q: grid, handling grid,
            # assignee) each with the state: a grid leader's open incidents are a BitmapOr of three small
            # scans (at 1M, the busiest grid's inbox 185 ms and 14,359 pages to 12 ms and 997 pages)
            models.Index(fields=["handling_grid", "state"], name="incident_handling_state_idx"),
            # The rollup readers' gaps (incidents.rollups.Window.edge_q): the incidents whose deadline,
            # closing or clock falls in a part-day at the edges of a period or since midnight.
            models.Index(fields=["handle_due_at"], name="incident_handle_due_idx"),
            models.Index(fields=["closed_at"], condition=Q(closed_at__isnull=False), name="incident_closed_at_idx"),
            models.Index(fields=["accept_due_at"], condition=Q(state=rules.State.DISPATCHED),
                         name="incident_accept_due_idx"),
            # the open incidents' points (a city's open ones are about 1 % of its incidents): the duplicate
            # search of every report (incidents.duplicates) and the live map ask only for open ones, and
            # the whole table's location index made them visit every incident ever reported near the point
            # (an expression, not fields=: GeoDjango's spatial index SQL for a geometry field drops the
            # condition, which made this a second whole-table index)
            GistIndex(F("location"), condition=Q(state__in=sorted(rules.OPEN)), name="incident_open_location_idx"),
            # few incidents name a component: a small index, for the recurring problems per component
            models.Index(fields=["component", "created_at"], condition=Q(component__isnull=False),
                         name="incident_component_idx"),
            # The foreign keys few incidents set, each indexed over the rows that set it: what reads them
            # (`camera = %s`, a deleted camera's or incident's check) is served the same, and an intake whose
            # report sets none of them writes none of these indexes (the whole-table indexes Django makes for
            # them were three of the twenty an intake wrote; at 1M, 0 %, 0 % and 0.05 % of rows set them).
            models.Index(fields=["camera"], condition=Q(camera__isnull=False), name="incident_camera_idx"),
            models.Index(fields=["possible_duplicate_of"], condition=Q(possible_duplicate_of__isnull=False),
                         name="incident_possible_dup_idx"),
            models.Index(fields=["merged_into"], condition=Q(merged_into__isnull=False), name="incident_merged_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    @property
    def reference(self) -> str:
        return f"INC-{self.pk:07d}" if self.pk else "INC-new"


class EventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("incident events are append-only")

    def delete(self):
        raise PermissionError("incident events are append-only")


class IncidentEvent(models.Model):
    """One step in an incident's life: append-only (the database refuses UPDATE and DELETE too)."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="events")
    action = models.CharField(max_length=24)
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, blank=True)
    level = models.PositiveSmallIntegerField(choices=Level.choices)
    actor = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor_label = models.CharField(max_length=64, help_text="who acted: a username, 'system' or a client")
    note = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(db_index=True)

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.incident_id} {self.action} {self.from_state}->{self.to_state}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("incident events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("incident events are append-only")


class ReturnVisit(models.Model):
    """回访: the operator asked the reporter about a closed incident (one row per visit; an incident
    reopened as rework and closed again is visited again). "Dissatisfied" reopened it."""

    class Outcome(models.TextChoices):
        SATISFIED = "satisfied", "满意 satisfied"
        BASICALLY_SATISFIED = "basically_satisfied", "基本满意 basically satisfied"
        DISSATISFIED = "dissatisfied", "不满意 dissatisfied"

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="return_visits")
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    comment = models.TextField(blank=True)
    visited_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    visited_by_label = models.CharField(max_length=64)
    visited_at = models.DateTimeField()

    class Meta:
        ordering = ["incident", "visited_at", "id"]
        indexes = [models.Index(fields=["incident", "visited_at"], name="return_visit_incident_idx")]
        constraints = [models.CheckConstraint(condition=Q(outcome__in=["satisfied", "basically_satisfied",
                                                                       "dissatisfied"]),
                                              name="return_visit_outcome_known")]

    def __str__(self) -> str:
        return f"{self.incident_id} visited: {self.outcome}"


class ExtensionRequest(models.Model):
    """延期: the handler asks for a later handling deadline; the level above approves or refuses it.
    At most one request of an incident waits for a decision (a partial unique index)."""

    class State(models.TextChoices):
        PENDING = "pending", "待审批 pending"
        APPROVED = "approved", "已批准 approved"
        REFUSED = "refused", "已驳回 refused"

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="extension_requests")
    requested_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    requested_by_label = models.CharField(max_length=64)
    requested_at = models.DateTimeField()
    reason = models.TextField()
    previous_due = models.DateTimeField(help_text="the handling deadline when it was requested")
    requested_due = models.DateTimeField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    decided_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_by_label = models.CharField(max_length=64, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)

    class Meta:
        ordering = ["incident", "requested_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["incident"], condition=Q(state="pending"),
                                    name="one_pending_extension"),
            models.CheckConstraint(condition=Q(state__in=["pending", "approved", "refused"]),
                                   name="extension_state_known"),
            models.CheckConstraint(condition=Q(state="pending") | Q(decided_at__isnull=False),
                                   name="extension_decided_has_decided_at"),
            models.CheckConstraint(condition=Q(requested_due__gt=models.F("previous_due")),
                                   name="extension_moves_later"),
        ]

    def __str__(self) -> str:
        return f"{self.incident_id} extension to {self.requested_due:%Y-%m-%d %H:%M} ({self.state})"


class SourceGrant(models.Model):
    """A source an integration client may post incidents for (e.g. the 12345 account: hotline_12345).

    Only integration clients need grants; which sources the other roles may post for is decided with
    these in ``incidents.grants.sources_allowed`` (one place)."""

    client = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="source_grants")
    source = models.CharField(max_length=16, choices=Incident.Source.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "source"], name="source_grant_once")]

    def __str__(self) -> str:
        return f"{self.client_id} may post {self.source}"


class IntakeKey(models.Model):
    """A batch's ``Idempotency-Key``: the same client re-sending the same key within its lifetime gets
    the first answer again and nothing new is stored; the same key with another body is refused.

    In PostgreSQL (not Redis) so that a key outlives a Redis restart; written in the batch's own
    transaction, so a key is never stored without its incidents, nor incidents without their key."""

    client = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    body_sha256 = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "key"], name="intake_key_once")]

    def __str__(self) -> str:
        return f"{self.client_id}:{self.key}"


# The rollup table is defined beside its triggers and rule (incidents.rollups); imported here so that
# Django registers it with the app's models.
from incidents.heat_ahead import HeatLate, HeatRun, HeatRunCell  # noqa: E402,F401  (the heatmaps kept ahead)
from incidents.rollups import Rollup  # noqa: E402,F401


def _evidence_storage():
    from django.core.files.storage import storages

    return storages["evidence"]


class PhotoStage(models.TextChoices):
    INTAKE = "intake", "上报 at intake"
    BEFORE = "before", "处置前 before handling"
    AFTER = "after", "处置后 after handling"
    VERIFY = "verify", "核查 at verification"


class Photo(models.Model):
    """A photo of an incident (incidents.evidence checks, strips and stores it): as visible as its incident.

    The file is re-encoded without metadata; the position its EXIF claimed is kept apart
    (``claimed_location``), with its distance from the incident and whether that is too far."""

    Stage = PhotoStage

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="photos")
    stage = models.CharField(max_length=8, choices=Stage.choices)
    file = models.FileField(storage=_evidence_storage, max_length=200)
    thumbnail = models.FileField(storage=_evidence_storage, max_length=200, blank=True,
                                 help_text="made in the background; empty until then")
    content_type = models.CharField(max_length=16)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size_bytes = models.PositiveIntegerField(help_text="of the stored (stripped) file")
    sha256 = models.CharField(max_length=64, help_text="of the stored file")
    claimed_location = models.PointField(srid=4326, null=True, blank=True,
                                         help_text="the GPS position the photo's EXIF claimed (personal data)")
    claimed_distance_m = models.FloatField(null=True, blank=True, help_text="metres from the incident's point")
    far_from_incident = models.BooleanField(default=False)
    note = models.CharField(max_length=200, blank=True)
    uploaded_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    uploaded_by_label = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["incident", "id"]
        indexes = [models.Index(fields=["incident", "stage"], name="photo_incident_stage_idx")]
        constraints = [models.CheckConstraint(condition=Q(stage__in=PhotoStage.values),
                                              name="photo_stage_known")]

    def __str__(self) -> str:
        return f"{self.incident_id} {self.stage} photo {self.pk}"


class ReplyTemplate(models.Model):
    """常用语: words a grid worker or an operator picks for a note instead of typing them, per category
    (none: every category), state (blank: any) and action (blank: any action that takes a note)."""

    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.CASCADE, related_name="replies")
    state = models.CharField(max_length=20, choices=rules.State.choices, blank=True)
    action = models.CharField(max_length=24, blank=True, help_text="e.g. status_note, report_handled, close")
    text = models.CharField(max_length=500)
    position = models.PositiveSmallIntegerField(default=0, help_text="lower first")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["category", "state"], name="reply_lookup_idx")]

    def __str__(self) -> str:
        return self.text[:40]

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.action and self.action not in rules.ENDPOINT_ACTIONS:
            raise ValidationError({"action": "not an action people take: choose from "
                                             + ", ".join(rules.ENDPOINT_ACTIONS)})


from incidents.viewers import IncidentViewer  # noqa: E402,F401  (its model, registered with the app)
