from django.contrib import admin

from dispatch.models import Assignment, Notification


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["incident", "level", "person", "role", "slot", "unit", "active", "assigned_at"]
    list_filter = ["level", "active", "role", "slot"]
    raw_id_fields = ["incident", "person", "grid"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # reassign through the dispatch actions, which record why


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["person", "incident", "kind", "created_at", "read_at"]
    list_filter = ["kind"]
    raw_id_fields = ["incident", "person"]
