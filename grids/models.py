"""Towns, villages, boundary generations, grids, people and teams.

Geometry is stored in EPSG:4326 (the SRID is written literally, also in migrations);
metric work happens in EPSG:4549 through gis_core.
"""
from __future__ import annotations

from django.contrib.gis.db import models
from django.db.models import Q
from django.db.models.functions import Substr
from django.db.models.lookups import Exact

from grids.codes import CODE20_HELP, CODE20_PATTERN, validate_code20
from grids.querysets import GridQuerySet


class Town(models.Model):
    """A town (镇) or street office with its 9-digit statistical code."""

    code = models.CharField(max_length=9, unique=True)
    name = models.CharField(max_length=64)
    boundary = models.MultiPolygonField(srid=4326)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=r"^\d{9}$"), name="town_code_9_digits"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def county_code(self) -> str:
        return self.code[:6]


class Village(models.Model):
    """A village (村) or community (社区) with its 12-digit statistical code."""

    class Kind(models.TextChoices):
        COMMUNITY = "community", "社区 community"
        VILLAGE = "village", "村 village"

    town = models.ForeignKey(Town, on_delete=models.PROTECT, related_name="villages")
    code = models.CharField(max_length=12, unique=True)
    name = models.CharField(max_length=64)
    official_name = models.CharField(max_length=64, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    boundary = models.MultiPolygonField(srid=4326)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=r"^\d{12}$"), name="village_code_12_digits"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def segment(self) -> str:
        """Return the 3-digit village segment used in grid codes."""
        return self.code[-3:]


class BoundaryGeneration(models.Model):
    """A set of grids drawn together (as MapIt does); exactly one is active per town."""

    class Status(models.TextChoices):
        DRAFT = "draft", "draft"
        ACTIVE = "active", "active"
        RETIRED = "retired", "retired"

    town = models.ForeignKey(Town, on_delete=models.PROTECT, related_name="generations")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["town", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["town"], condition=Q(status="active"), name="one_active_generation_per_town"
            ),
            models.CheckConstraint(
                condition=~Q(status="active") | Q(activated_at__isnull=False),
                name="active_generation_has_activated_at",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.town.name} generation {self.pk} ({self.status})"


class Grid(models.Model):
    """A governance grid: comprehensive grids partition a village, dedicated grids may overlap them."""

    class Kind(models.TextChoices):
        COMPREHENSIVE = "comprehensive", "综合网格 comprehensive"
        DEDICATED = "dedicated", "专属网格 dedicated"

    class Purpose(models.TextChoices):
        INDUSTRIAL_PARK = "industrial_park", "工业园区 industrial park"
        SCHOOL = "school", "学校 school"
        MARKET = "market", "市场 market"
        RIVER = "river", "河道 river section"
        HOSPITAL = "hospital", "医院 hospital"
        SCENIC_AREA = "scenic_area", "景区 scenic area"
        CONSTRUCTION_SITE = "construction_site", "工地 construction site"
        TRANSPORT_HUB = "transport_hub", "交通枢纽 transport hub"

    generation = models.ForeignKey(BoundaryGeneration, on_delete=models.CASCADE, related_name="grids")
    village = models.ForeignKey(Village, on_delete=models.PROTECT, related_name="grids")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    code = models.CharField(max_length=15)
    code20 = models.CharField(max_length=20, blank=True, validators=[validate_code20],
                              help_text=f"{CODE20_HELP}; derived from the 15-digit code (grids.codes)")
    name = models.CharField(max_length=64)
    purpose = models.CharField(max_length=32, choices=Purpose.choices, blank=True)
    boundary = models.MultiPolygonField(srid=4326)
    # the last redraw of a draft's grid: who and when (a planner's stale edit is told who changed it since)
    edited_by = models.CharField(max_length=150, blank=True, db_default="", default="")
    edited_at = models.DateTimeField(null=True, blank=True)

    objects = GridQuerySet.as_manager()

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["generation", "code"], name="grid_code_unique_in_generation"),
            models.UniqueConstraint(fields=["generation", "code20"], condition=~Q(code20=""),
                                    name="grid_code20_unique_in_generation"),
            models.CheckConstraint(condition=Q(code__regex=r"^\d{15}$"), name="grid_code_15_digits"),
            models.CheckConstraint(
                condition=Q(code20="") | (Q(code20__regex=CODE20_PATTERN)
                                          & Exact(Substr("code20", 7, 12), Substr("code", 1, 12))),
                name="grid_code20_20_digits_of_its_area",
                violation_error_message="the 20-digit code (CJ/T 349) must hold the grid's county, town and village: "
                                        "its digits 7-18 are the 15-digit code's first 12"),
            models.CheckConstraint(
                condition=(Q(kind="comprehensive") & Q(purpose=""))
                | (Q(kind="dedicated") & ~Q(purpose="")),
                name="grid_purpose_iff_dedicated",
            ),
        ]
        indexes = [models.Index(fields=["generation", "kind"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Person(models.Model):
    """Someone who works in the grids: grid worker, cadre, police, enforcement officer, leader."""

    class Role(models.TextChoices):
        GRID_WORKER = "grid_worker", "专职网格员 full-time grid worker"
        CADRE = "cadre", "机关干部 office cadre"
        POLICE = "police", "民辅警 police / auxiliary"
        ENFORCEMENT = "enforcement", "综合执法队员 enforcement officer"
        TOWN_LEADER = "town_leader", "镇领导 town leader"

    external_id = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=64)
    phone = models.CharField(max_length=20, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices)
    user = models.OneToOneField(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="person",
        help_text="the login of this person, if they use the platform",
    )

    class Meta:
        ordering = ["external_id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_role_display()})"


class GridTeam(models.Model):
    """One grid, one leader, many members (一格一长多员)."""

    grid = models.OneToOneField(Grid, on_delete=models.CASCADE, related_name="team")
    leader = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="led_teams")

    def __str__(self) -> str:
        return f"team of {self.grid}"


class TeamMembership(models.Model):
    """A member's post in a grid team: one A holder and one B backup per role (AB岗)."""

    class Slot(models.TextChoices):
        A = "A", "A holder"
        B = "B", "B backup"

    team = models.ForeignKey(GridTeam, on_delete=models.CASCADE, related_name="memberships")
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(max_length=16, choices=Person.Role.choices)
    slot = models.CharField(max_length=1, choices=Slot.choices)
    on_duty = models.BooleanField(default=True)

    class Meta:
        ordering = ["team", "role", "slot"]
        constraints = [
            models.UniqueConstraint(fields=["team", "role", "slot"], name="one_holder_per_role_slot"),
        ]

    def __str__(self) -> str:
        return f"{self.person} {self.role}/{self.slot} in {self.team.grid.code}"


class VillageLeader(models.Model):
    """The town leader linked to a village or community (包村领导)."""

    village = models.OneToOneField(Village, on_delete=models.CASCADE, related_name="leader_link")
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="village_links")

    def __str__(self) -> str:
        return f"{self.person} -> {self.village}"

