from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Shared plumbing (database, API, actors)"

    def ready(self):
        from core import schema  # noqa: F401  (registers the OpenAPI extension of GeoJSON features)
        from core.logging import install

        install()  # no api_key in the servers' access logs
