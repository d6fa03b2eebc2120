from django.apps import AppConfig


class DispatchConfig(AppConfig):
    name = "dispatch"
    verbose_name = "Dispatch, escalation and SLA clocks"

    def ready(self) -> None:
        from dispatch import live  # noqa: F401  (connects the live-push receiver)
