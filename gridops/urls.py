from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from cameras.apis import CameraViewSet
from dispatch.apis import IncidentDispatchViewSet
from gridops.api_views import CategoryApi, MeApi
from grids.apis import GridViewSet, LocateApi, TownViewSet, VillageViewSet
from incidents.analytics_apis import AssessmentApi, HeatmapApi, TrendApi
from incidents.apis import IncidentViewSet
from planner.apis import (
    ExportApi,
    GenerationGridsApi,
    GenerationsApi,
    GridBoundaryApi,
    PreviewApi,
    PublishApi,
)

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
    path("api/generations/", GenerationsApi.as_view(), name="generations"),
    path("api/generations/<int:generation>/grids/<str:code>/boundary/", GridBoundaryApi.as_view(),
         name="grid-boundary"),
    path("api/generations/<int:generation>/grids/", GenerationGridsApi.as_view(), name="generation-grids"),
    path("api/generations/<int:generation>/preview/", PreviewApi.as_view(), name="generation-preview"),
    path("api/generations/<int:generation>/export/", ExportApi.as_view(), name="generation-export"),
    path("api/generations/<int:generation>/publish/", PublishApi.as_view(), name="generation-publish"),
    path("api/", include(router.urls)),
    path("open311/v2/", include("incidents.open311")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
]
