from django.apps import AppConfig


class CamerasConfig(AppConfig):
    name = "cameras"
    verbose_name = "HD cameras"

    def ready(self) -> None:
        from cameras import services  # noqa: F401  (connects cameras_follow_generation)
