"""City components (城市部件, GB/T 30428.2): the standard's classes and the components themselves, each a
point with its standard code, type, owner department and state, located into town, village and grid."""
from __future__ import annotations

from django.contrib.gis.db import models
from django.db.models import F, Q
from django.db.models.functions import Substr
from django.db.models.lookups import Exact

from components.codes import CODE_HELP, CODE_PATTERN, TYPE_PATTERN, validate_component_code


class ComponentType(models.Model):
    """A class of GB/T 30428.2: a major class (大类, 2 digits) or a minor class (小类, 4 digits, the first
    two its major class's)."""

    code = models.CharField(max_length=4, unique=True)
    name = models.CharField(max_length=64)
    name_en = models.CharField(max_length=64, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children",
                               to_field="code", db_column="parent_code")

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=TYPE_PATTERN), name="component_type_code_2_or_4_digits"),
            models.CheckConstraint(
                condition=(Q(code__regex=r"^\d{2}$") & Q(parent__isnull=True))
                | (Q(code__regex=r"^\d{4}$") & Exact(Substr("code", 1, 2), F("parent_id"))),
                name="component_type_minor_under_its_major"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def is_minor(self) -> bool:
        return len(self.code) == 4


class Component(models.Model):
    """One component: a manhole cover, a street lamp, a bin, a sign, a hydrant ..."""

    class State(models.TextChoices):
        INTACT = "intact", "完好 intact"
        DAMAGED = "damaged", "破损 damaged"
        MISSING = "missing", "丢失 missing"
        OCCUPIED = "occupied", "占用 occupied"

    code = models.CharField(max_length=16, unique=True, validators=[validate_component_code], help_text=CODE_HELP)
    # to_field: the column holds the type code, so the database checks it against the component code
    type = models.ForeignKey(ComponentType, on_delete=models.PROTECT, related_name="components", to_field="code",
                             db_column="type_code", limit_choices_to={"parent__isnull": False})
    name = models.CharField(max_length=64, blank=True)
    owner_dept = models.CharField(max_length=64, blank=True, help_text="the owner department (权属单位)")
    state = models.CharField(max_length=8, choices=State.choices, default=State.INTACT)
    location = models.PointField(srid=4326)
    town = models.ForeignKey("grids.Town", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    village = models.ForeignKey("grids.Village", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    grid = models.ForeignKey("grids.Grid", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="components", help_text="the comprehensive grid it stands in")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=CODE_PATTERN), name="component_code_16_digits",
                                   violation_error_message=f"not a component code: {CODE_HELP}"),
            models.CheckConstraint(condition=Exact(Substr("code", 7, 4), F("type_id")),
                                   name="component_code_names_its_type",
                                   violation_error_message="digits 7-10 of the component code are its type's code"),
        ]
        indexes = [models.Index(fields=["type", "state"])]

    def __str__(self) -> str:
        return f"{self.type.name if self.type_id else ''} {self.code}".strip()
