from django.apps import AppConfig


class DispatchConfig(AppConfig):
    name = "dispatch"
    verbose_name = "Dispatch, escalation and SLA clocks"

    def ready(self) -> None:
        # connect the receivers: live push, socket rights, the outbox's and the SMS's kicks, the inbox's 延期
        from dispatch import inbox, live, outbox, rights, sms  # noqa: F401
