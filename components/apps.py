from django.apps import AppConfig


class ComponentsConfig(AppConfig):
    name = "components"
    verbose_name = "城市部件 city components"

    def ready(self) -> None:
        from components import services  # noqa: F401  (connects components_follow_generation)
