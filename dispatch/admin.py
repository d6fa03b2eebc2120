from django.contrib import admin

from dispatch.models import Assignment, Notification, OutboxMessage, SmsMessage, Webhook, new_webhook_secret
from dispatch.outbox import redeliver


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


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    """A source system's receiver: where its incidents' public changes go (dispatch.outbox)."""

    list_display = ["client", "url", "active", "events", "created_at"]
    list_filter = ["active"]
    raw_id_fields = ["client"]
    actions = ["rotate_secret"]

    @admin.action(description="Rotate the HMAC secret (tell the client the new one)")
    def rotate_secret(self, request, queryset):
        for webhook in queryset:
            webhook.secret = new_webhook_secret()
            webhook.save(update_fields=["secret"])
        self.message_user(request, f"{queryset.count()} secret(s) rotated")


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    """What was sent to the source systems and how it went; dead letters are sent again from here."""

    list_display = ["id", "incident", "action", "webhook", "state", "attempts", "last_status", "next_attempt_at",
                    "delivered_at"]
    list_filter = ["state", "action", "webhook"]
    raw_id_fields = ["incident", "event", "webhook"]
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]
    actions = ["redeliver_selected"]

    def has_add_permission(self, request) -> bool:
        return False  # written by the database, in the transaction of the change

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Send again from the first try")
    def redeliver_selected(self, request, queryset):
        self.message_user(request, f"{redeliver(queryset)} message(s) queued again")


@admin.register(SmsMessage)
class SmsMessageAdmin(admin.ModelAdmin):
    """Every text message to the people dispatched and how it went (the phone: personal data, admins only)."""

    list_display = ["id", "incident", "person", "kind", "urgent", "state", "attempts", "sent_at", "last_error"]
    list_filter = ["state", "kind", "urgent"]
    raw_id_fields = ["incident", "person", "notification"]
    readonly_fields = [f.name for f in SmsMessage._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False  # written by the database with the notification

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
