"""Evidence photos over the API: list and attach per incident, the file and thumbnail through the app.

Every answer is scoped by the one rule (``incidents.selectors`` through ``evidence.photos_visible_to``):
a photo of an incident the caller may not see is a 404, whether its id was listed or guessed. No
web server serves the files; they are streamed from the evidence storage (local folder or bucket).
"""
from __future__ import annotations

from django.core.files.storage import storages
from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from core.actors import Actor
from core.api import validated_body, validated_query
from core.pagination import KEYSET_PARAM, KEYSET_START
from incidents import evidence, on_the_spot
from incidents.models import Photo
from incidents.rules import PHOTO_ACTIONS, TransitionRefused
from incidents.selectors import incidents_visible_to
from incidents.serializers import IntakeSerializer

PAGE_SIZE = 50
IMAGE_POLICY = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


class PhotoSerializer(serializers.ModelSerializer):
    """A photo as its incident's viewers see it (the claimed position is as visible as the incident)."""

    claimed_lon = serializers.SerializerMethodField()
    claimed_lat = serializers.SerializerMethodField()
    file_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField(help_text="null until the thumbnail is made")

    class Meta:
        model = Photo
        fields = ["id", "incident", "stage", "content_type", "width", "height", "size_bytes", "claimed_lon",
                  "claimed_lat", "claimed_distance_m", "far_from_incident", "note", "uploaded_by_label",
                  "created_at", "file_url", "thumbnail_url"]

    def get_claimed_lon(self, photo) -> float | None:
        return round(photo.claimed_location.x, 6) if photo.claimed_location else None

    def get_claimed_lat(self, photo) -> float | None:
        return round(photo.claimed_location.y, 6) if photo.claimed_location else None

    def get_file_url(self, photo) -> str:
        return reverse("photo-file", args=[photo.pk])

    def get_thumbnail_url(self, photo) -> str | None:
        return reverse("photo-thumbnail", args=[photo.pk]) if photo.thumbnail else None


class PhotoPageSerializer(serializers.Serializer):
    next = serializers.CharField(allow_null=True, help_text="the next page (older photos); null at the end")
    results = PhotoSerializer(many=True)


class PhotoListQuery(serializers.Serializer):
    before = serializers.IntegerField(min_value=1, max_value=KEYSET_START, required=False,
                                      help_text="the id of the last photo of the previous page")


class PhotoUploadSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(choices=sorted(PHOTO_ACTIONS), help_text="处置前 before, 处置后 after, 核查 verify")
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    photos = serializers.ListField(child=serializers.FileField(), min_length=1,
                                   help_text="JPEG, PNG or HEIC, checked by content; EXIF is removed")


class IntakeWithPhotosSerializer(IntakeSerializer):
    """A report sent as multipart/form-data: its fields, and photos taken at the scene."""

    photos = serializers.ListField(child=serializers.FileField(), required=False,
                                   help_text="JPEG, PNG or HEIC, checked by content; EXIF is removed")
    self_handled = serializers.BooleanField(required=False, default=False,
                                            help_text="自行处置: the grid worker reporting it (source patrol) fixed "
                                                      "it on the spot; it is closed at once, never dispatched")
    after_photos = serializers.ListField(child=serializers.FileField(), required=False,
                                         help_text="with self_handled (required then): the fix, after")


def intake_form(request) -> tuple[dict, list, list]:
    """Return a report's fields, its photo files and its after photos (自行处置, ``after_photos``): a
    multipart body's text fields as a plain dict (what JSON would have sent), a JSON body as it is."""
    if not request.content_type.startswith("multipart/"):
        return request.data, [], []
    files = ("photos", on_the_spot.PHOTOS_FIELD)
    return ({k: request.data.get(k) for k in request.data if k not in files}, request.FILES.getlist("photos"),
            request.FILES.getlist(on_the_spot.PHOTOS_FIELD))


def rejected(exc: evidence.PhotoRejected) -> Response:
    """A refused photo: 413 too large (the one error shape's ``detail``), else 400 naming ``photos``."""
    body = {"detail": str(exc)} if exc.status == 413 else {"photos": [str(exc)]}
    return Response(body, status=exc.status)


class IncidentPhotosApi(APIView):
    """The photos of one incident: GET lists them (newest first, by key), POST attaches more."""

    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser]

    def visible_incident(self, pk: int) -> int:
        if not incidents_visible_to(Actor.of(self.request.user)).filter(pk=pk).exists():
            raise exceptions.NotFound()
        return pk

    @extend_schema(operation_id="incidents_photos_list", responses=PhotoPageSerializer, parameters=[PhotoListQuery])
    def get(self, request, id: int):
        incident_id = self.visible_incident(id)
        before = validated_query(PhotoListQuery, request).get(KEYSET_PARAM) or KEYSET_START
        rows = list(Photo.objects.filter(incident_id=incident_id, pk__lt=before).order_by("-pk")[:PAGE_SIZE + 1])
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        nxt = replace_query_param(request.build_absolute_uri(), KEYSET_PARAM, rows[-1].pk) if more else None
        return Response({"next": nxt, "results": PhotoSerializer(rows, many=True).data})

    @extend_schema(operation_id="incidents_photos_create", request={"multipart/form-data": PhotoUploadSerializer},
                   responses={201: PhotoSerializer(many=True)})
    def post(self, request, id: int):
        """Attach photos at a stage: before / after by the incident's team or the operator while it is
        handled, verify by whoever checks it. Refused: 400 (not an image, too many pixels), 413 (too large),
        403 (not yours to attach), 409 (not in this state)."""
        incident_id = self.visible_incident(id)
        body = validated_body(PhotoUploadSerializer, request)
        try:
            checked = evidence.check_photos(body["photos"])
            rows = evidence.attach_photos(incident_id=incident_id, actor=Actor.of(request.user), photos=checked,
                                          stage=body["stage"], note=body["note"])
        except evidence.PhotoRejected as exc:
            return rejected(exc)
        except TransitionRefused as exc:
            return Response({"detail": str(exc)}, status=403 if exc.reason == "role" else 409)
        return Response(PhotoSerializer(rows, many=True).data, status=201)


class _PhotoFile(APIView):
    permission_classes = [IsAuthenticated]
    field = "file"

    @extend_schema(responses={(200, "image/jpeg"): OpenApiTypes.BINARY, (200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request, id: int):
        photo = evidence.photos_visible_to(Actor.of(request.user)).filter(pk=id).first()
        stored = getattr(photo, self.field) if photo is not None else None
        if not stored:
            raise exceptions.NotFound()
        kind = photo.content_type if self.field == "file" else "image/jpeg"
        try:  # the storage of the settings now (a field's storage is fixed when the model is loaded)
            content = storages["evidence"].open(stored.name, "rb")
        except FileNotFoundError:
            raise exceptions.NotFound("the stored file is missing") from None
        response = FileResponse(content, content_type=kind)
        response["Cache-Control"] = "private, max-age=3600"
        # A policy of its own, as sites serving user files do (GitHub's raw files send the same): nothing
        # runs or loads (sandbox, default-src 'none'); the browser's own image viewer may style itself.
        response["Content-Security-Policy"] = IMAGE_POLICY
        suffix = "" if self.field == "file" else "-thumb"
        response["Content-Disposition"] = f'inline; filename="photo-{photo.pk}{suffix}"'
        return response


class PhotoFileApi(_PhotoFile):
    """The photo itself (stripped of metadata), to those who may see its incident."""


class PhotoThumbnailApi(_PhotoFile):
    """The photo's thumbnail; 404 until the background task has made it."""

    field = "thumbnail"
