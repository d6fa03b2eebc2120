from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from cameras.apis import CameraViewSet
from components.apis import ComponentViewSet
from core.health import HealthApi
from dispatch.apis import InboxApi, InboxReadApi, IncidentDispatchViewSet
from grids.apis import GridViewSet, LocateApi, TownViewSet, VillageViewSet
from incidents.analytics_apis import AssessmentApi, AssessmentExportApi, HeatmapApi, TrendApi
from incidents.apis import CategoryApi, IncidentViewSet
from incidents.component_apis import ComponentHotspotsApi
from incidents.evidence_apis import IncidentPhotosApi, PhotoFileApi, PhotoThumbnailApi
from patrols.apis import PatrolDayApi, PatrolEndApi, PatrolPointsApi, PatrolsApi, PatrolTrackApi
from web.apis import MeApi

router = DefaultRouter()
router.register("towns", TownViewSet, basename="town")
router.register("villages", VillageViewSet, basename="village")
router.register("grids", GridViewSet, basename="grid")
router.register("cameras", CameraViewSet, basename="camera")
router.register("components", ComponentViewSet, basename="component")
router.register("incidents", IncidentViewSet, basename="incident")
router.register("incidents", IncidentDispatchViewSet, basename="incident-dispatch")

# The endpoints that answer without a login or a token, all of them (issue 11): the login pages, the
# health check, and Open311's service discovery (its GeoReport v2 clients read the services before
# they hold a key). Every other URL answers an anonymous caller 401 (API: "WWW-Authenticate: Token"),
# a redirect to the login (pages), or 403 on Open311 (its specification's answer to a missing
# api_key); tests/security/test_auth.py walks every URL pattern to check it. Pages are closed by
# django.contrib.auth's LoginRequiredMiddleware, the API by DRF's default IsAuthenticated; a public
# API view uses core.api.Public, a public page django.contrib.auth.decorators.login_not_required.
PUBLIC_URL_NAMES = frozenset({"login", "admin:login", "healthz", "open311-services", "open311-service"})

# Django's own errors answer JSON under /api/ (core.api), HTML elsewhere.
handler400 = "core.api.bad_request"
handler403 = "core.api.permission_denied"
handler404 = "core.api.page_not_found"
handler500 = "core.api.server_error"

# django.contrib.auth.urls without the password reset views (public, and no mail is configured)
account_urls = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
]

urlpatterns = [
    path("healthz", HealthApi.as_view(), name="healthz"),
    path("", include("web.urls")),
    path("api/me/", MeApi.as_view(), name="me"),
    path("api/inbox/", InboxApi.as_view(), name="inbox"),
    path("api/inbox/read/", InboxReadApi.as_view(), name="inbox-read"),
    path("api/categories/", CategoryApi.as_view(), name="categories"),
    path("api/locate", LocateApi.as_view(), name="locate"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/assessment/", AssessmentApi.as_view(), name="assessment"),
    path("api/assessment/xlsx/", AssessmentExportApi.as_view(file_type="xlsx"), name="assessment-xlsx"),
    path("api/assessment/csv/", AssessmentExportApi.as_view(file_type="csv"), name="assessment-csv"),
    path("api/review/heatmap/", HeatmapApi.as_view(), name="heatmap"),
    path("api/patrols/", PatrolsApi.as_view(), name="patrols"),
    path("api/patrols/day/", PatrolDayApi.as_view(), name="patrol-day"),
    path("api/patrols/<int:id>/end/", PatrolEndApi.as_view(), name="patrol-end"),
    path("api/patrols/<int:id>/points/", PatrolPointsApi.as_view(), name="patrol-points"),
    path("api/patrols/<int:id>/track/", PatrolTrackApi.as_view(), name="patrol-track"),
    path("api/review/trend/", TrendApi.as_view(), name="trend"),
    path("api/components/hotspots/", ComponentHotspotsApi.as_view(), name="component-hotspots"),
    path("", include("planner.urls")),
    path("api/incidents/<int:id>/photos/", IncidentPhotosApi.as_view(), name="incident-photos"),
    path("api/photos/<int:id>/file/", PhotoFileApi.as_view(), name="photo-file"),
    path("api/photos/<int:id>/thumbnail/", PhotoThumbnailApi.as_view(), name="photo-thumbnail"),
    path("api/", include(router.urls)),
    path("open311/v2/", include("incidents.open311")),
    path("accounts/", include(account_urls)),
    path("admin/", admin.site.urls),
]
