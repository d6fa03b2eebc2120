"""Open311 GeoReport v2 endpoints (JSON only), so an existing 311 client can post and read incidents.

Mounted at ``/open311/v2/``:
- ``GET services.json``: one service per active category (service_code = category code);
- ``GET services/{service_code}.json``: its definition (the category's questions as attributes,
  ``incidents.attributes``; ``attribute[code]`` answers them when posting);
- ``POST requests.json``: report a service request (form-encoded or JSON), mapped onto ``intake``;
- ``GET requests.json`` (service_request_id, service_code, start_date, end_date, status) and
  ``GET requests/{id}.json``: the requests the caller may see (``incidents_visible_to``); anything
  else answers 404, never revealing that it exists. status_notes is the latest public note (a status
  note, the reason of a close or a cancel), else the state; media_url the sender's link, else the
  app's link to the report's own photo;
- ``GET servicerequestupdates.json`` (FixMyStreet's extension; start_date, end_date, service_request_id):
  the public updates of those requests, with FixMyStreet's extended statuses (fixed, in_progress, ...).

Authentication: ``api_key`` (an API token) in the query string, or in a form-encoded POST body of at
most ``settings.OPEN311_FORM_KEY_MAX_BYTES``; an ``Authorization: Token ...`` header; or a session.
The key is checked before the body is parsed: a request without a valid key is refused (403) without
its body being read, however large (a key inside a larger body, or inside a JSON body, is not looked
for). Posting needs the "integration" or "operator" group and a grant for the request's source
(``incidents.grants``). A bad or missing key answers 403. Every error uses the spec's shape:
``[{"code": 400, "description": ...}]``.

Extensions: ``external_id`` (the client's own id, the idempotency key together with the client and
``source``: a re-send answers 200 with the stored request; another client's same id is its own request)
and ``source`` (default "citizen"). ``email`` is stored as the reporter's email (personal data, shown
where the reporter's phone is: not in these answers), ``media_url`` as a link (never fetched);
``device_id``, ``account_id``, ``address_id`` and ``jurisdiction_id`` are accepted and ignored (a
request with only an address_id has no location and is refused). Other formats than ``.json`` answer 400.
"""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import Http404
from django.urls import re_path, reverse
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback

from core.actors import Actor, Role
from core.api import Public, validated_query
from core.authentication import ActorTokenAuthentication
from core.parsers import JSONParser
from incidents import open311_serializers as o
from incidents import rules
from incidents.attributes import open311_definition
from incidents.grants import refusal, sources_allowed
from incidents.intake import intake
from incidents.models import Category, Incident, IncidentEvent, Photo, PhotoStage
from incidents.selectors import incidents_visible_to

POST_ROLES = {Role.INTEGRATION, Role.OPERATOR}
MAX_RESULTS = 1000
DEFAULT_WINDOW = timedelta(days=90)
UPDATES_WINDOW = timedelta(days=1)


class UnsupportedFormat(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "format not supported, use .json"


FORM = "application/x-www-form-urlencoded"


def _small_form(request) -> bool:
    """Whether the body is form-encoded and declared no larger than OPEN311_FORM_KEY_MAX_BYTES (so
    looking for an api_key in it parses a few kilobytes at most)."""
    if request.content_type.split(";")[0].strip().lower() != FORM:
        return False
    try:
        length = int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return False
    return 0 <= length <= settings.OPEN311_FORM_KEY_MAX_BYTES


class ApiKeyAuthentication(ActorTokenAuthentication):
    """Authenticate by the Open311 ``api_key`` (an API token): from the query string, or from a small
    form-encoded POST body; checked before anything else reads the body (Open311's alone; core.logging
    scrubs it from every log line)."""

    def authenticate(self, request):
        key = request.query_params.get("api_key")
        if not key and request.method == "POST" and _small_form(request):
            key = request.data.get("api_key")
        if not key:
            return None
        return self.authenticate_credentials(str(key))

    def authenticate_header(self, request):
        return None  # no challenge: a bad key answers 403, as the spec's clients expect


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Describe the api_key in the OpenAPI schema."""

    target_class = ApiKeyAuthentication
    name = "open311ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "query", "name": "api_key"}


FORMAT = OpenApiParameter("fmt", str, OpenApiParameter.PATH, enum=["json"], description="the format: json only")


class JsonOnly(BaseContentNegotiation):
    """Always answer JSON, whatever the Accept header says (the format is in the URL)."""

    def select_parser(self, request, parsers):
        for parser in parsers:
            if request.content_type.split(";")[0].strip() == parser.media_type:
                return parser
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def error_list(code: int, detail) -> list[dict]:
    """Return the spec's error shape: one {"code", "description"} per message."""
    if isinstance(detail, dict):
        messages = [m if field in ("non_field_errors", "detail") else f"{field}: {m}"
                    for field, value in detail.items() for m in _messages(value)]
    else:
        messages = _messages(detail)
    return [{"code": code, "description": str(m)} for m in messages]


def _messages(value) -> list[str]:
    if isinstance(value, dict):
        return [f"{k}: {m}" for k, v in value.items() for m in _messages(v)]
    if isinstance(value, list):
        return [m for v in value for m in _messages(v)]
    return [str(value)]


class Open311View(APIView):
    """Base: JSON only, api_key/token/session authentication, errors in the Open311 shape."""

    authentication_classes = [ApiKeyAuthentication, ActorTokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]  # without a key: 403, the specification's answer
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser, FormParser, MultiPartParser]
    content_negotiation_class = JsonOnly

    def initial(self, request, *args, **kwargs):
        if kwargs.get("fmt", "").lower() != "json":
            raise UnsupportedFormat()
        super().initial(request, *args, **kwargs)

    def handle_exception(self, exc):
        if isinstance(exc, Http404):
            exc = exceptions.NotFound()
        elif isinstance(exc, DjangoPermissionDenied):
            exc = exceptions.PermissionDenied()
        if not isinstance(exc, exceptions.APIException):
            return super().handle_exception(exc)
        code = exc.status_code
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            code = status.HTTP_403_FORBIDDEN
        set_rollback()
        response = Response(error_list(code, exc.detail), status=code)
        if getattr(exc, "wait", None):  # a throttled request: when to try again
            response["Retry-After"] = str(int(exc.wait))
        return response

    def actor(self) -> Actor:
        """Return the authenticated caller; 403 when there is none (before the body is read)."""
        if not self.request.user or not self.request.user.is_authenticated:
            raise exceptions.NotAuthenticated("a valid api_key is required")
        return Actor.of(self.request.user)


class ServiceList(Open311View):
    """Every active category as a service (public: clients discover the services before holding a key)."""

    permission_classes = [Public]

    @extend_schema(operation_id="open311_services", parameters=[FORMAT],
                   responses=o.Open311ServiceSerializer(many=True),
                   summary="Open311: the services (categories)")
    def get(self, request, fmt: str):
        return Response([o.service_body(c) for c in Category.objects.filter(active=True).order_by("code")])


class ServiceDefinition(Open311View):
    """A service's definition (it has no extra attributes; public, as the list)."""

    permission_classes = [Public]

    @extend_schema(operation_id="open311_service", parameters=[FORMAT],
                   responses=o.Open311ServiceDefinitionSerializer,
                   summary="Open311: one service's definition")
    def get(self, request, service_code: str, fmt: str):
        category = Category.objects.filter(code=service_code, active=True).first()
        if category is None:
            raise exceptions.NotFound(f"service_code {service_code!r} not found")
        return Response({"service_code": service_code, "attributes": open311_definition(category.attributes)})


class RequestList(Open311View):
    """GET: the caller's service requests, newest first; POST: report one through the intake."""

    @extend_schema(operation_id="open311_requests_list", parameters=[FORMAT, o.Open311RequestQuery],
                   responses=o.Open311RequestSerializer(many=True),
                   summary="Open311: the service requests the caller may see")
    def get(self, request, fmt: str):
        query = validated_query(o.Open311RequestQuery, request)
        rows = visible_requests(self.actor()).filter(filters_q(query))
        return Response([o.request_body(i, media_url(request, i)) for i in rows[:MAX_RESULTS]])

    @extend_schema(operation_id="open311_requests_create", parameters=[FORMAT], request=o.Open311RequestInput,
                   responses={201: o.Open311CreatedSerializer(many=True), 200: o.Open311CreatedSerializer(many=True)},
                   summary="Open311: report a service request")
    def post(self, request, fmt: str):
        actor = self.actor()
        if not actor.global_roles() & POST_ROLES:
            raise exceptions.PermissionDenied("this api_key may not post service requests")
        data = o.Open311RequestInput(data=request.data)
        data.is_valid(raise_exception=True)
        item = data.to_item()
        message = refusal(item.source, sources_allowed(actor))
        if message:
            raise exceptions.PermissionDenied({"source": [message]})
        outcome = intake([item], actor=actor)[0]  # the key is the client's own: a re-send is its request
        incident = visible_requests(actor).get(pk=outcome.incident.pk)
        body = [{"service_request_id": str(incident.pk), "service_notice": o.service_notice(incident),
                 "account_id": None}]
        return Response(body, status=status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK)


class RequestDetail(Open311View):
    """One service request the caller may see (a list of one, as the spec has it)."""

    @extend_schema(operation_id="open311_request", parameters=[FORMAT],
                   responses=o.Open311RequestSerializer(many=True),
                   summary="Open311: one service request")
    def get(self, request, request_id: str, fmt: str):
        actor = self.actor()
        valid_id = request_id.isascii() and request_id.isdigit() and len(request_id) < 19
        incident = visible_requests(actor).filter(pk=int(request_id)).first() if valid_id else None
        if incident is None:
            raise exceptions.NotFound(f"service_request_id {request_id!r} not found")
        return Response([o.request_body(incident, media_url(request, incident))])


class RequestUpdates(Open311View):
    """FixMyStreet's Open311 extension: the public updates (status changes and status notes) of the
    requests the caller may see, made in [start_date, end_date] (default: the last day), oldest first."""

    @extend_schema(operation_id="open311_request_updates", parameters=[FORMAT, o.Open311UpdatesQuery],
                   responses=o.Open311UpdateSerializer(many=True),
                   summary="Open311 (FixMyStreet extension): service request updates")
    def get(self, request, fmt: str):
        query = validated_query(o.Open311UpdatesQuery, request)
        end = query.get("end_date") or timezone.now()
        start = query.get("start_date") or end - UPDATES_WINDOW
        events = public_updates(self.actor()).filter(created_at__gte=start, created_at__lte=end)
        if query.get("service_request_id"):
            events = events.filter(incident_id__in=query["service_request_id"])
        return Response([o.update_body(e) for e in events.order_by("created_at", "id")[:MAX_RESULTS]])


def public_updates(actor: Actor) -> QuerySet[IncidentEvent]:
    """Return the public events (``rules.PUBLIC_ACTIONS``) of the incidents the actor may see, not the
    events of imported history."""
    return IncidentEvent.objects.filter(
        incident__in=incidents_visible_to(actor).values("pk"), action__in=sorted(rules.PUBLIC_ACTIONS),
    ).exclude(data__contains=rules.HISTORY_EVENT_DATA)


def visible_requests(actor: Actor) -> QuerySet[Incident]:
    """Return the incidents the actor may see, newest first, with what the response needs: the latest
    public note (status_notes) and the report's own first photo (media_url when the sender gave none)."""
    notes = public_updates(actor).filter(incident_id=OuterRef("pk"), action__in=sorted(rules.PUBLIC_NOTES)).exclude(
        note="").order_by("-id")
    photos = Photo.objects.filter(incident_id=OuterRef("pk"), stage=PhotoStage.INTAKE).order_by("id")
    return incidents_visible_to(actor).select_related(
        "category", "grid", "handling_grid", "village", "town").annotate(
        public_note=Subquery(notes.values("note")[:1]), intake_photo_id=Subquery(photos.values("pk")[:1]),
    ).order_by("-created_at", "-id")


def media_url(request, incident: Incident) -> str | None:
    """Return the link to the report's own photo (served through the app, scoped like the incident)."""
    photo_id = getattr(incident, "intake_photo_id", None)
    return request.build_absolute_uri(reverse("photo-file", args=[photo_id])) if photo_id else None


def filters_q(f: dict) -> Q:
    """Return the filter for the validated query (the 90-day default window when no ids are given)."""
    if f.get("service_request_id"):
        return Q(pk__in=f["service_request_id"])
    q = Q()
    if f.get("service_code"):
        q &= Q(category__code__in=f["service_code"])
    if f.get("status") and len(f["status"]) == 1:
        closed = Q(state__in=sorted(rules.ENDED))
        q &= closed if "closed" in f["status"] else ~closed
    start, end = f.get("start_date"), f.get("end_date")
    if start is None:
        start = (end or timezone.now()) - DEFAULT_WINDOW
    q &= Q(created_at__gte=start)
    if end is not None:
        q &= Q(created_at__lte=end)
    return q


FMT = r"\.(?P<fmt>[A-Za-z0-9]{1,10})$"
urlpatterns = [
    re_path(r"^services" + FMT, ServiceList.as_view(), name="open311-services"),
    re_path(r"^services/(?P<service_code>[^/.]{1,40})" + FMT, ServiceDefinition.as_view(), name="open311-service"),
    re_path(r"^requests" + FMT, RequestList.as_view(), name="open311-requests"),
    re_path(r"^requests/(?P<request_id>[^/.]{1,40})" + FMT, RequestDetail.as_view(), name="open311-request"),
    re_path(r"^servicerequestupdates" + FMT, RequestUpdates.as_view(), name="open311-updates"),
]
