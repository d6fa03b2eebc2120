from django.apps import AppConfig


class DispatchConfig(AppConfig):
    name = "dispatch"
    verbose_name = "Dispatch, escalation and SLA clocks"

    def ready(self) -> None:
        from dispatch import live, rights  # noqa: F401  (connect the live-push and socket-rights receivers)
