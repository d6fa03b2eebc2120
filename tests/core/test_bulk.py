"""The intake's bulk writer (COPY with ids from the sequence) and its fallback after a lost key race."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone

from core import bulk
from dispatch.models import Assignment
from incidents import intake as intake_module
from incidents.models import Incident, IncidentEvent
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db

AWKWARD = "tab\there, new\nline, back\\slash, \\N, carriage\rreturn, 中文 ，全角"


def _fields(obj, *, skip: set[str]) -> dict:
    return {fl.attname: getattr(obj, fl.attname) for fl in type(obj)._meta.concrete_fields if fl.attname not in skip}


def test_copy_stores_exactly_what_save_stores():
    """Every column type the intake writes (text with COPY's special characters, choices, floats,
    booleans, nulls, times, JSON, a point) comes back as the ORM stores it."""
    now = timezone.now()
    cat, home = f.category("other"), f.grid()
    values = dict(source="patrol", external_id="bulk-1", category=cat, severity=3, title=AWKWARD,
                  description=AWKWARD * 3, address="\\", location=Point(119.3501234, 32.5809876, srid=4326),
                  original_x=119.35012345678, original_y=-0.0, original_crs="GCJ02", grid=home,
                  village_id=home.village_id, near_edge=True, distance_m=None, created_at=now,
                  handle_due_at=now + timedelta(minutes=90))
    saved = Incident(**values)
    saved.save()
    copied = Incident(**{**values, "external_id": "bulk-2"})
    copied.pk = bulk.allocate_ids(Incident, 1)[0]
    assert bulk.copy_objects(Incident, [copied], with_pk=True) == 1
    a, b = Incident.objects.get(pk=saved.pk), Incident.objects.get(pk=copied.pk)
    skip = {"id", "external_id", "updated_at", "location"}
    assert _fields(a, skip=skip) == _fields(b, skip=skip)
    assert (a.location.x, a.location.y, a.location.srid) == (b.location.x, b.location.y, b.location.srid)
    assert b.updated_at is not None  # auto_now is set as save() sets it

    event = IncidentEvent(incident_id=b.pk, action="report", to_state="reported", level=1, actor_label=AWKWARD,
                          note=AWKWARD, data={"note": AWKWARD, "nested": [1, 2.5, None, True]}, created_at=now)
    assert bulk.copy_objects(IncidentEvent, [event], with_pk=False) == 1
    stored = IncidentEvent.objects.get(incident_id=b.pk)
    assert (stored.actor_label, stored.note, stored.data) == (AWKWARD, AWKWARD, event.data)


def test_allocated_ids_are_fresh_and_increasing():
    ids = bulk.allocate_ids(Incident, 5)
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert not Incident.objects.filter(pk__in=ids).exists()
    assert bulk.allocate_ids(Incident, 0) == []


@pytest.mark.parametrize("extra", [0, intake_module.SMALL_BATCH])
def test_a_lost_key_race_stores_the_rest_and_drops_a_flag_on_the_loser(monkeypatch, extra):
    """The key was stored by a concurrent re-send: a few incidents go in with INSERT ... ON
    CONFLICT DO NOTHING at once; a batch is probed first (here the probe runs before the winner's
    commit), then COPY fails on the unique index and the batch goes again through that INSERT. The
    re-sent item answers with the stored incident; the item first flagged as a possible duplicate
    of the one that lost keeps no flag pointing at a row that was never stored; everything else is
    stored."""
    at = f.interior_point(f.grid())
    winner = f.report("other", at=f.offset_m(*at, 400), source="hotline_12345", external_id="race-1")
    real_existing, calls = intake_module._existing, []

    def checked_too_early(client_id, keys):  # the first check ran before the winner's commit
        calls.append(keys)
        return {} if len(calls) == 1 else real_existing(client_id, keys)

    if extra:  # a batch is probed first: make the probe miss the key; a few items are not probed
        monkeypatch.setattr(intake_module, "_existing", checked_too_early)
    loser = f.item("other", at=at, source="hotline_12345", external_id="race-1")
    follower = f.item("other", at=f.offset_m(*at, 10), source="patrol", external_id="race-2")
    others = [f.item("neighbour_dispute", at=f.offset_m(*at, 60 * (k % 8), 60 * (k // 8))) for k in range(extra)]
    outcomes = f.report_many([loser, follower, *others])
    assert outcomes[0].incident.pk == winner.pk and not outcomes[0].created
    assert all(o.created for o in outcomes[1:])
    assert outcomes[1].incident.possible_duplicate_of_id is None
    stored = f.reload(outcomes[1].incident)
    assert stored.possible_duplicate_of_id is None and stored.state == Incident.State.DISPATCHED
    assert f.actions_of(stored) == ["report", "register", "dispatch"]
    assert Incident.objects.filter(source="hotline_12345", external_id="race-1").get().pk == winner.pk
    assert Assignment.objects.filter(incident=winner).count() == 1  # nothing of the loser was stored
    expected = sum(1 if o.incident.triage else 3 for o in outcomes[1:])  # triaged: reported only
    assert IncidentEvent.objects.filter(incident_id__in=[o.incident.pk for o in outcomes[1:]]).count() == expected


def _state_of(obj) -> dict:
    """An instance as a save would see it: its attributes (no _state), the cached related objects."""
    values = {k: v for k, v in obj.__dict__.items() if k != "_state"}
    return {**values, "adding": obj._state.adding, "db": obj._state.db, "cached": dict(obj._state.fields_cache)}


def test_unsaved_builds_what_the_model_constructor_builds():
    """Every model intake builds, with plain values, related objects by name, ``pk``, a geometry and
    callable defaults (a fresh dict per event, not a shared one)."""
    from dispatch.models import Notification
    from grids.models import Person

    now, cat, home = timezone.now(), f.category("straw_burning"), f.grid()
    cases = [
        (Incident, dict(source="patrol", category=cat, severity=2, title="t", grid=home, village_id=home.village_id,
                        location=Point(119.35, 32.58, srid=4326), created_at=now, near_edge=True)),
        (IncidentEvent, dict(incident_id=7, action="report", to_state="reported", level=1, actor_label="x",
                             created_at=now)),
        (Assignment, dict(incident_id=7, level=1, grid_id=home.pk, person_id=None, role="grid_worker", slot="A",
                          assigned_at=now)),
        (Notification, dict(person_id=3, incident_id=7, kind=Notification.Kind.INFORMED, message="m",
                            created_at=now)),
        (Person, dict(pk=42, external_id="P0042", name="名", role="grid_worker")),
    ]
    for model, values in cases:
        fast, slow = bulk.unsaved(model, **values), model(**values)
        assert type(fast) is model
        assert _state_of(fast) == _state_of(slow), model
    a, b = bulk.unsaved(IncidentEvent, **cases[1][1]), bulk.unsaved(IncidentEvent, **cases[1][1])
    assert a.data == {} and a.data is not b.data
    assert bulk.unsaved(Incident, category=cat).category_id == cat.pk
    with pytest.raises(TypeError, match="no_such_field"):
        bulk.unsaved(Incident, no_such_field=1)


def test_unsaved_defers_to_the_constructor_when_init_signals_listen():
    from django.db.models.signals import post_init

    seen = []

    def listener(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(listener, sender=IncidentEvent)
    try:
        event = bulk.unsaved(IncidentEvent, action="report", level=1, created_at=timezone.now())
    finally:
        post_init.disconnect(listener, sender=IncidentEvent)
    assert seen == [event]


def test_a_location_set_as_hex_ewkb_is_copied_as_given_and_read_as_a_point():
    """Intake sets the locations of a batch as hex EWKB made in one shapely call: COPY and the
    INSERT path write that text, and the incident reads it as a GEOS point."""
    import shapely

    now, cat = timezone.now(), f.category("other")
    ewkb = shapely.to_wkb(shapely.set_srid(shapely.points([119.3512], [32.5834]), 4326), hex=True,
                          include_srid=True)[0]
    assert ewkb == Point(119.3512, 32.5834, srid=4326).hexewkb.decode()
    copied = bulk.unsaved(Incident, source="patrol", category=cat, severity=2, title="t", created_at=now,
                          location=ewkb)
    inserted = bulk.unsaved(Incident, source="patrol", category=cat, severity=2, title="t", created_at=now,
                            location=ewkb)
    copied.pk, inserted.pk = bulk.allocate_ids(Incident, 2)
    bulk.copy_objects(Incident, [copied], with_pk=True)
    bulk.execute([bulk.insert_statement(Incident, [inserted], with_pk=True)])
    for stored in Incident.objects.filter(pk__in=[copied.pk, inserted.pk]):
        assert (stored.location.x, stored.location.y, stored.location.srid) == (119.3512, 32.5834, 4326)
    assert copied.location.srid == 4326 and copied.location.x == 119.3512  # read back as a point in memory
