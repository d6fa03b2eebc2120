from django.apps import AppConfig


class GridopsConfig(AppConfig):
    name = "gridops"
    verbose_name = "Platform"
