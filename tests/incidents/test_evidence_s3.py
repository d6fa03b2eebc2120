"""Evidence photos in an S3-compatible bucket (django-storages' S3 backend), against a real S3 server from
PyPI: moto's standalone server, started here on a free port. The same API: stored stripped in the bucket,
served through the app, scoped, thumbnails written beside."""
from __future__ import annotations

import io
import subprocess
import time

import boto3
import pytest
from botocore.config import Config
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from incidents import tasks
from incidents.models import Photo
from tests.incidents import factories as f
from tests.incidents.test_evidence import jpeg
from tests.servers import VENV_BIN, free_port

pytestmark = pytest.mark.django_db
BUCKET = "gridops-evidence-test"


@pytest.fixture
def bucket(settings, tmp_path):
    port = free_port()
    log = open(tmp_path / "moto.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen([str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                          region_name="us-east-1", config=Config(retries={"max_attempts": 1}))
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client.create_bucket(Bucket=BUCKET)
                break
            except Exception:  # noqa: BLE001 - not listening yet
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        settings.STORAGES = {**settings.STORAGES, "evidence": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
            "bucket_name": BUCKET, "endpoint_url": endpoint, "region_name": "us-east-1", "access_key": "test",
            "secret_key": "test", "location": "evidence", "default_acl": "private", "file_overwrite": False}}}
        yield client
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def test_photos_go_to_the_bucket_stripped_and_come_back_only_through_the_app(bucket):
    assert type(storages["evidence"]).__name__ == "S3Storage"
    incident = f.located("other")
    f.drive(incident, ["accept"], f.operator())
    leader = f.api_client(person=f.team_of(incident.handling_grid).leader)
    other = f.api_client(person=f.unrelated_leader(incident))
    at = (incident.location.x, incident.location.y)
    response = leader.post(f"/api/incidents/{incident.pk}/photos/",
                           {"stage": "after", "photos": [SimpleUploadedFile("a.jpg", jpeg(at))]}, format="multipart")
    assert response.status_code == 201, response.json()
    photo = Photo.objects.get(pk=response.json()[0]["id"])
    stored = bucket.get_object(Bucket=BUCKET, Key=f"evidence/{photo.file.name}")["Body"].read()
    assert b"TestPhone" not in stored and not Image.open(io.BytesIO(stored)).getexif()
    assert photo.claimed_location is not None and photo.far_from_incident is False
    served = leader.get(f"/api/photos/{photo.pk}/file/")
    assert served.status_code == 200 and b"".join(served.streaming_content) == stored
    assert other.get(f"/api/photos/{photo.pk}/file/").status_code == 404

    assert tasks.make_thumbnail(photo.pk) is True and tasks.make_thumbnail(photo.pk) is False
    thumb_key = f"evidence/{Photo.objects.get(pk=photo.pk).thumbnail.name}"
    assert bucket.head_object(Bucket=BUCKET, Key=thumb_key)["ContentLength"] > 0
    assert other.get(f"/api/photos/{photo.pk}/thumbnail/").status_code == 404
    assert leader.get(f"/api/photos/{photo.pk}/thumbnail/").status_code == 200
    keys = [o["Key"] for o in bucket.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert sorted(keys) == sorted([f"evidence/{photo.file.name}", thumb_key])
