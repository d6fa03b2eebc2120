"""The planner's page and API."""
from django.urls import path

from planner import apis, views

urlpatterns = [
    path("planner/", views.planner_page, name="planner"),
    path("api/generations/", apis.GenerationsApi.as_view(), name="generations"),
    path("api/generations/<int:generation>/grids/<str:code>/boundary/", apis.GridBoundaryApi.as_view(),
         name="grid-boundary"),
    path("api/generations/<int:generation>/grids/", apis.GenerationGridsApi.as_view(), name="generation-grids"),
    path("api/generations/<int:generation>/preview/", apis.PreviewApi.as_view(), name="generation-preview"),
    path("api/generations/<int:generation>/export/", apis.ExportApi.as_view(), name="generation-export"),
    path("api/generations/<int:generation>/publish/", apis.PublishApi.as_view(), name="generation-publish"),
]
