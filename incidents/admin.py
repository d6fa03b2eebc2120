from django.contrib import admin
from django.db import models

from core.versions import VersionedAdmin
from gis_core.admin import LocalGISModelAdmin
from incidents.models import (
    Category,
    ExtensionRequest,
    Incident,
    IncidentEvent,
    ReplyTemplate,
    ReturnVisit,
    SourceGrant,
)


@admin.register(Category)
class CategoryAdmin(VersionedAdmin, admin.ModelAdmin):
    list_display = ["code", "name_zh", "name_en", "responsible_role", "level", "urgent", "sla_accept_min",
                    "sla_handle_min", "active"]
    list_filter = ["responsible_role", "level", "urgent", "active"]
    search_fields = ["code", "name_zh", "name_en"]


class EventInline(admin.TabularInline):
    """The timeline, read-only: events are append-only."""

    model = IncidentEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "action", "from_state", "to_state", "level", "actor_label", "note"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Incident)
class IncidentAdmin(LocalGISModelAdmin):
    """Read-only here: incidents change through intake and the lifecycle actions, which record events."""

    list_display = ["id", "title", "category", "source", "state", "level", "triage", "grid", "assignee", "created_at"]
    list_filter = ["state", "level", "source", "category", "triage"]
    search_fields = ["title", "external_id", "address"]
    date_hierarchy = "created_at"
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # media_url; Django 6's default already
    inlines = [EventInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SourceGrant)
class SourceGrantAdmin(admin.ModelAdmin):
    """The sources each integration client may post for (incidents.grants)."""

    list_display = ["client", "source"]
    list_filter = ["source"]
    search_fields = ["client__username"]


@admin.register(ReplyTemplate)
class ReplyTemplateAdmin(admin.ModelAdmin):
    """常用语: edited here by the command centre; the pages offer them in the action forms."""

    list_display = ["text", "category", "state", "action", "position", "active"]
    list_filter = ["active", "action", "state", "category"]
    list_editable = ["position", "active"]
    search_fields = ["text"]
class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by their actions (which lock the incident and record events): shown, never edited."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ReturnVisit)
class ReturnVisitAdmin(ReadOnlyAdmin):
    list_display = ["incident", "outcome", "visited_by_label", "visited_at"]
    list_filter = ["outcome"]


@admin.register(ExtensionRequest)
class ExtensionRequestAdmin(ReadOnlyAdmin):
    list_display = ["incident", "state", "requested_by_label", "previous_due", "requested_due", "decided_by_label"]
    list_filter = ["state"]
