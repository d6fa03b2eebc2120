"""The pages; each user's home is chosen in web.pages."""
from django.urls import path

from web import views

urlpatterns = [
    path("", views.home, name="home"),
    path("map/", views.map_page, name="map"),
    path("command/", views.command_page, name="command"),
    path("my/", views.my_page, name="my"),
    path("my/sw.js", views.phone_worker, name="phone-worker"),
    path("my/manifest.webmanifest", views.phone_manifest, name="phone-manifest"),
    path("review/", views.review_page, name="review"),
    path("review/report/", views.report_page, name="report"),
]
