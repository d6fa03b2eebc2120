"""Thumbnails on a real Celery worker (Redis broker, the test database, the same evidence folder): an
attached photo's thumbnail is queued after the commit and made by the worker; running the task twice more
leaves the one thumbnail."""
from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from incidents import evidence
from incidents.models import Photo
from incidents.tasks import make_thumbnail
from tests.dispatch.test_sweep import TIMEOUT_S, wait_until, workers  # noqa: F401 - the fixture
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shared_folder(settings, tmp_path):
    """The evidence folder of this test process and of the worker (MEDIA_ROOT/evidence)."""
    settings.STORAGES = {**settings.STORAGES, "evidence": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path / "media" / "evidence")}}}
    return tmp_path / "media"


def test_the_thumbnail_is_made_by_a_worker_after_the_commit(workers, shared_folder, settings):  # noqa: F811
    settings.EVIDENCE_TASK_QUEUE = workers.queue
    proc = workers.start(MEDIA_ROOT=str(shared_folder))
    incident = f.located("other")
    out = io.BytesIO()
    Image.new("RGB", (1200, 900), (90, 90, 200)).save(out, format="JPEG")
    checked = evidence.check_photos([SimpleUploadedFile("a.jpg", out.getvalue())])
    photo = evidence.attach_photos(incident_id=incident.pk, actor=f.operator(), photos=checked, stage="intake")[0]
    wait_until(lambda: Photo.objects.get(pk=photo.pk).thumbnail.name, "the worker's thumbnail", proc, workers)
    made = Photo.objects.get(pk=photo.pk).thumbnail.name
    assert (shared_folder / "evidence" / made).is_file()
    # twice more: nothing changes, no second file is left behind
    results = [make_thumbnail.apply_async([photo.pk], queue=workers.queue) for _ in range(2)]
    assert [r.get(timeout=TIMEOUT_S) for r in results] == [False, False]
    assert Photo.objects.get(pk=photo.pk).thumbnail.name == made
    assert len(list((shared_folder / "evidence").rglob("thumb-*"))) == 1
