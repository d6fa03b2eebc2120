from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from cameras.apis import CameraViewSet
from dispatch.apis import IncidentDispatchViewSet
from grids.apis import GridViewSet, LocateApi, TownViewSet, VillageViewSet
from incidents.analytics_apis import AssessmentApi, HeatmapApi, TrendApi
from incidents.apis import CategoryApi, IncidentViewSet
from web.apis import MeApi

router = DefaultRouter()
router.register("towns", TownViewSet, basename="town")
router.register("villages", VillageViewSet, basename="village")
router.register("grids", GridViewSet, basename="grid")
router.register("cameras", CameraViewSet, basename="camera")
router.register("incidents", IncidentViewSet, basename="incident")
router.register("incidents", IncidentDispatchViewSet, basename="incident-dispatch")

urlpatterns = [
    path("", include("web.urls")),
    path("api/me/", MeApi.as_view(), name="me"),
    path("api/categories/", CategoryApi.as_view(), name="categories"),
    path("api/locate", LocateApi.as_view(), name="locate"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/assessment/", AssessmentApi.as_view(), name="assessment"),
    path("api/review/heatmap/", HeatmapApi.as_view(), name="heatmap"),
    path("api/review/trend/", TrendApi.as_view(), name="trend"),
    path("", include("planner.urls")),
    path("api/", include(router.urls)),
    path("open311/v2/", include("incidents.open311")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
]
