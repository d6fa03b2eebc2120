from django.contrib import admin

from cameras.models import Camera
from gis_core.admin import LocalGISModelAdmin


@admin.register(Camera)
class CameraAdmin(LocalGISModelAdmin):
    list_display = ["code", "name", "status", "bearing_deg", "fov_deg", "range_m", "grid"]
    list_filter = ["status"]
    search_fields = ["code", "name"]
    readonly_fields = ["grid"]
