from django.apps import AppConfig


class PatrolsConfig(AppConfig):
    name = "patrols"
    verbose_name = "patrols and tracks (巡查轨迹)"
