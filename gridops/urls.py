from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from cameras.apis import CameraViewSet
from gridops import views
from grids.apis import GridViewSet, LocateApi, TownViewSet, VillageViewSet
from incidents.apis import IncidentViewSet

router = DefaultRouter()
router.register("towns", TownViewSet, basename="town")
router.register("villages", VillageViewSet, basename="village")
router.register("grids", GridViewSet, basename="grid")
router.register("cameras", CameraViewSet, basename="camera")
router.register("incidents", IncidentViewSet, basename="incident")

urlpatterns = [
    path("", views.map_page, name="map"),
    path("api/locate", LocateApi.as_view(), name="locate"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/", include(router.urls)),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
]
