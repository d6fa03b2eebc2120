"""The category handbook: 立案条件 shown before registering, 结案条件 checked at closing."""
from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from incidents.actions import incident_status_note
from incidents.lifecycle import incident_transition
from incidents.models import Category, Photo
from incidents.rules import CLOSING_CHECKS, TransitionRefused
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db


def attach(incident, stage: str) -> None:
    photo = Photo(incident=incident, stage=stage, content_type="image/jpeg", size_bytes=3, width=1, height=1,
                  sha256="0" * 64, uploaded_by_label="test", created_at=timezone.now())
    photo.file.save(f"{stage}.jpg", ContentFile(b"abc"), save=False)
    photo.save()


@pytest.fixture
def verified_roads(settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "evidence": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}}}
    Category.objects.filter(code="roads_facilities").update(closing_conditions=["after_photo", "handled_note"])
    incident = f.located("roads_facilities")
    return incident


def test_closing_waits_for_every_condition(verified_roads):
    incident, operator = verified_roads, f.operator()
    f.drive(incident, ["accept"], operator)
    incident_transition(incident_id=incident.pk, action="report_handled", actor=operator, note="")
    f.drive(incident, ["verify"], operator)
    both = "处置后照片 an after photo, 处置情况 a note of what was done"
    with pytest.raises(TransitionRefused, match=both) as refused:
        incident_transition(incident_id=incident.pk, action="close", actor=operator)
    assert refused.value.reason == "state"
    attach(incident, "after")
    with pytest.raises(TransitionRefused, match="needs 处置情况 a note of what was done before"):
        incident_transition(incident_id=incident.pk, action="close", actor=operator)
    incident_status_note(incident_id=incident.pk, actor=operator, note="已更换井盖 the cover was replaced")
    f.drive(incident, ["close"], operator)
    assert f.reload(incident).state == "closed"


def test_the_api_answers_409_and_the_page_reads_the_handbook(verified_roads):
    incident = verified_roads
    operator = f.api_client("operator")
    context = operator.get(f"/api/incidents/{incident.pk}/context/").json()
    assert context["handbook"]["closing_conditions"] == [CLOSING_CHECKS["after_photo"][0],
                                                         CLOSING_CHECKS["handled_note"][0]]
    assert "井盖" in context["handbook"]["filing_conditions"]
    f.drive(incident, ["accept", "report_handled", "verify"], f.operator())
    refused = operator.post(f"/api/incidents/{incident.pk}/close/", {"note": ""}, format="json")
    assert refused.status_code == 409 and "结案条件" in refused.json()["detail"]
    assert "close" not in operator.get(f"/api/incidents/{incident.pk}/context/").json()["allowed_actions"]
    listed = {c["code"]: c for c in operator.get("/api/categories/").json()}
    assert listed["roads_facilities"]["closing_conditions"] == ["after_photo", "handled_note"]
    assert listed["straw_burning"]["filing_conditions"]


def test_only_known_conditions():
    from django.core.exceptions import ValidationError

    category = Category.objects.get(code="other")
    category.closing_conditions = ["signature"]
    with pytest.raises(ValidationError):
        category.full_clean()
