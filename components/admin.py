from django.contrib import admin

from components.models import Component, ComponentType
from gis_core.admin import LocalGISModelAdmin


@admin.register(ComponentType)
class ComponentTypeAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "name_en", "parent"]
    search_fields = ["code", "name"]


@admin.register(Component)
class ComponentAdmin(LocalGISModelAdmin):
    list_display = ["code", "type", "name", "owner_dept", "state", "grid"]
    list_filter = ["state", "type"]
    search_fields = ["code", "name", "owner_dept"]
    readonly_fields = ["town", "village", "grid"]
