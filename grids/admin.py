from django.contrib import admin

from core.versions import VersionedAdmin
from gis_core.admin import LocalGISModelAdmin
from grids.models import BoundaryGeneration, Grid, GridTeam, Person, TeamMembership, Town, Village, VillageLeader


@admin.register(Town)
class TownAdmin(LocalGISModelAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


@admin.register(Village)
class VillageAdmin(LocalGISModelAdmin):
    list_display = ["code", "name", "kind", "town"]
    list_filter = ["kind", "town"]
    search_fields = ["code", "name"]


@admin.register(BoundaryGeneration)
class BoundaryGenerationAdmin(admin.ModelAdmin):
    list_display = ["pk", "town", "status", "description", "created_at", "activated_at"]
    list_filter = ["status", "town"]
    readonly_fields = ["status", "activated_at", "retired_at"]


@admin.register(Grid)
class GridAdmin(LocalGISModelAdmin):
    list_display = ["code", "name", "kind", "purpose", "village", "generation"]
    list_filter = ["kind", "purpose", "generation__status", "village"]
    search_fields = ["code", "name"]


class MembershipInline(admin.TabularInline):
    model = TeamMembership
    extra = 0
    autocomplete_fields = ["person"]


@admin.register(GridTeam)
class GridTeamAdmin(VersionedAdmin, admin.ModelAdmin):
    """A team and its posts; saving writes the team's row even when only a post changed, so its version
    (core.versions) covers the posts too."""

    list_display = ["grid", "leader"]
    search_fields = ["grid__code", "grid__name", "leader__name"]
    autocomplete_fields = ["grid", "leader"]
    inlines = [MembershipInline]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        GridTeam.objects.filter(pk=form.instance.pk).update(leader=form.instance.leader)  # a new row version


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ["external_id", "name", "role", "phone"]
    list_filter = ["role"]
    search_fields = ["external_id", "name", "phone"]


@admin.register(VillageLeader)
class VillageLeaderAdmin(admin.ModelAdmin):
    list_display = ["village", "person"]
    autocomplete_fields = ["person"]
