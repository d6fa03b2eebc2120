"""Reads on incidents. Scoping (who may see which incident) is decided here, once; every list,
detail, action, map layer, export, count and live message goes through ``incidents_visible_to``."""
from __future__ import annotations

import csv
from collections.abc import Collection, Iterator
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.db.models import BooleanField, Count, Exists, F, Max, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.expressions import RawSQL
from django.utils import timezone

from cameras.models import Camera
from core import db
from core.actors import Actor, Role
from core.routing_db import read_connection
from grids import privacy
from grids.models import Grid, GridTeam, Person, TeamMembership, Village, VillageLeader
from grids.selectors import team_of_grid
from incidents import rollups, rules
from incidents.models import Category, ExtensionRequest, Incident, IncidentEvent, ReplyTemplate, ReturnVisit

SEE_ALL = {Role.OPERATOR, Role.TOWN_LEADER, Role.PLANNER, Role.SYSTEM}


def roles_on(actor: Actor, incident) -> set[Role]:
    """Return every role the actor holds towards this incident."""
    roles = actor.global_roles() - {Role.GRID_LEADER, Role.GRID_MEMBER}
    person = actor.person_id
    if person is None:
        return roles
    if incident.assignee_id == person:
        roles.add(Role.ASSIGNEE)
    grid_id = incident.handling_grid_id
    if grid_id is not None:
        if GridTeam.objects.filter(grid_id=grid_id, leader_id=person).exists():
            roles.add(Role.GRID_LEADER)
        if TeamMembership.objects.filter(team__grid_id=grid_id, person_id=person).exists():
            roles.add(Role.GRID_MEMBER)
    if incident.village_id and VillageLeader.objects.filter(village_id=incident.village_id, person_id=person).exists():
        roles.add(Role.VILLAGE_LEADER)
    return roles


def scope_q(actor: Actor) -> Q | None:
    """Return the filter of incidents the actor may see (None: all of them)."""
    roles = actor.global_roles()
    if roles & SEE_ALL:
        return None
    q = Q(pk__in=[])
    if Role.INTEGRATION in roles and actor.user is not None:
        q |= Q(submitted_by=actor.user)
    if actor.person_id is not None:
        person = actor.person_id
        grid_ids, village_ids = _scope_places(actor)
        q |= (Q(grid_id__in=grid_ids) | Q(handling_grid_id__in=grid_ids) | Q(assignee_id=person)
              | Q(village_id__in=village_ids))
    return q


def _places_of(person: int) -> tuple[list[int], list[int]]:
    """Return the grids whose teams the person is on (leader or member) and the villages they lead, in
    one query. Read now, as lists (a handful of ids), so that the scope's filter names them: each arm of
    its OR is then an index scan of its own column (a bitmap OR on the incidents and on the rollup
    rows), where sub-selects would make the planner read every row of the period and test it."""
    teams = GridTeam.objects.filter(Q(leader_id=person) | Q(memberships__person_id=person))
    rows = teams.annotate(kind=Value("g")).values_list("kind", "grid_id").union(
        VillageLeader.objects.filter(person_id=person).annotate(kind=Value("v")).values_list("kind", "village_id"))
    grid_ids = sorted({pk for kind, pk in rows if kind == "g"})
    return grid_ids, sorted({pk for kind, pk in rows if kind == "v"})


def _scope_places(actor: Actor) -> tuple[list[int], list[int]]:
    """``_places_of`` the actor's person, read once per actor: an actor lives for one request (``Actor.of``
    keeps it on the request's user), so a change of team posts counts from the next request."""
    cached = actor.__dict__.get("_scope_places")
    if cached is None or cached[0] != actor.person_id:
        cached = (actor.person_id, _places_of(actor.person_id))
        object.__setattr__(actor, "_scope_places", cached)  # a frozen dataclass: a memo, not state
    return cached[1]


def actor_keys(actor: Actor) -> set[str]:
    """Return the live-channel keys the actor listens on; the same rule as ``scope_q``.

    An incident is visible to an actor exactly when ``incident_keys(incident)`` and
    ``actor_keys(actor)`` share a key (a test checks this against ``scope_q`` for every incident).
    """
    roles = actor.global_roles()
    if roles & SEE_ALL:
        return {"all"}
    keys: set[str] = set()
    if Role.INTEGRATION in roles and actor.user is not None:
        keys.add(f"client.{actor.user.pk}")
    if actor.person_id is not None:
        person = actor.person_id
        grid_ids, village_ids = _places_of(person)
        keys |= {f"grid.{g}" for g in grid_ids} | {f"village.{v}" for v in village_ids} | {f"person.{person}"}
    return keys


def incident_keys(incident: Incident) -> set[str]:
    """Return the live-channel keys an incident's changes are sent on."""
    keys = {"all"}
    if incident.submitted_by_id:
        keys.add(f"client.{incident.submitted_by_id}")
    for grid_id in {incident.grid_id, incident.handling_grid_id} - {None}:
        keys.add(f"grid.{grid_id}")
    if incident.assignee_id:
        keys.add(f"person.{incident.assignee_id}")
    if incident.village_id:
        keys.add(f"village.{incident.village_id}")
    return keys


def scoped(actor: Actor, qs: QuerySet) -> QuerySet:
    """Return the rows of ``qs`` the actor may see: incidents, or rollup rows (``incidents.rollups``),
    whose dimensions carry the incident's column names, so ``scope_q`` filters both alike (nothing
    for an anonymous user)."""
    if actor.user is None and not actor.is_system:
        return qs.none()
    q = scope_q(actor)
    return qs if q is None else qs.filter(q)


def incidents_visible_to(actor: Actor) -> QuerySet[Incident]:
    """Return the incidents the actor may see (nothing for an anonymous user)."""
    return scoped(actor, Incident.objects.all())


def active_categories(codes: Collection[str]) -> list[Category]:
    """Return the active categories of these codes (every intake request validates against those it names).

    A prepared raw query: the ORM's compilation cost more than the query itself on this path; and only
    the categories named, not every one (a city has many, each a model with its questions to build).
    """
    if not codes:
        return []
    fields = [f for f in Category._meta.concrete_fields]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cursor:
        db.execute(cursor, "gridops_active_categories",
                   f"SELECT {columns} FROM incidents_category WHERE active = %(active)s AND code = ANY(%(codes)s)",
                   {"active": True, "codes": sorted(codes)})
        names = [f.attname for f in fields]
        # the fields that convert what the database gives (the JSON ones: the questions) convert it here
        convert = [(n, f) for n, f in enumerate(fields) if hasattr(f, "from_db_value")]
        rows = []
        for row in cursor.fetchall():
            row = list(row)
            for n, f in convert:
                row[n] = f.from_db_value(row[n], None, connection)
            rows.append(Category.from_db(connection.alias, names, row))
        return rows


def with_overdue(qs: QuerySet[Incident], now: datetime | None = None) -> QuerySet[Incident]:
    """Filter to incidents overdue at ``now`` (``rules.overdue_q``)."""
    return qs.filter(rules.overdue_q(now or timezone.now()))


def incident_list(*, actor: Actor, filters: dict) -> QuerySet[Incident]:
    """Return visible incidents filtered by the API's validated query."""
    qs = incidents_visible_to(actor).select_related(
        "category", "grid", "village", "assignee", "handling_grid")
    simple = {"state": "state__in", "category": "category__code__in", "source": "source__in",
              "grid": "grid__code", "village": "village__code", "created_after": "created_at__gte",
              "created_before": "created_at__lt", "changed_since": "updated_at__gt"}
    for key, lookup in simple.items():
        if filters.get(key):
            qs = qs.filter(**{lookup: filters[key]})
    if filters.get("changed_after"):
        qs = changed_after(qs, filters["changed_after"])
    if filters.get("before"):
        qs = qs.filter(pk__lt=filters["before"]).order_by("-id")
    if filters.get("order") == "due":
        qs = qs.alias(next_due=rules.next_due()).order_by(
            F("next_due").asc(nulls_last=True), "-created_at", "-id")
    if filters.get("triage") is not None:
        qs = qs.exclude(triage="") if filters["triage"] else qs.filter(triage="")
    if filters.get("overdue"):
        qs = with_overdue(qs)
    if filters.get("visit") == "due":
        qs = visit_due(qs)
    return qs


def visit_due(qs: QuerySet[Incident]) -> QuerySet[Incident]:
    """Filter to the closed incidents due a return visit (回访): none recorded since they closed (one
    reopened by a visit and closed again is due another)."""
    visited = ReturnVisit.objects.filter(incident=OuterRef("pk"), visited_at__gte=OuterRef("closed_at"))
    return qs.filter(state=rules.State.CLOSED).filter(~Exists(visited))


def changes_cursor() -> str:
    """Return the cursor of a read about to be made: the database's current snapshot (xmin:xmax:xips).

    Take it before the read, on the connection the read uses (``read_connection``: a replica's when
    the view accepts a stale answer): whatever the read then sees beyond it is merely sent again next
    time, and nothing the read's server has not applied yet is inside it. A physical standby shares
    the primary's transaction ids, so a cursor of one server filters the other's rows correctly: a
    catch-up on a server that is further behind than the cursor merely sees those rows on a later one.
    """
    with read_connection().cursor() as cursor:
        cursor.execute("SELECT pg_current_snapshot()::text")
        return cursor.fetchone()[0]


def incident_version(incident_id: int, *, lock: bool = False) -> str | None:
    """Return the version of an incident: the id of the last transaction that wrote its row
    (``changed_xid``, set by the database on every write: migration 0005), as text; None when there
    is no such incident. ``lock``: FOR UPDATE, the caller's transaction then holds the row (the check
    of an If-Match and the change it guards see the same version). Read on the primary."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT changed_xid::text FROM incidents_incident WHERE id = %s"
                       + (" FOR UPDATE" if lock else ""), [incident_id])
        row = cursor.fetchone()
    return row[0] if row else None


def last_change(incident_id: int) -> dict | None:
    """Return who changed the incident last, how and when (its newest event), for a page that finds its
    copy stale; None when it has no event."""
    event = (IncidentEvent.objects.filter(incident_id=incident_id).order_by("-created_at", "-id")
             .values("action", "actor_label", "created_at").first())
    return None if event is None else {"action": event["action"], "by": event["actor_label"],
                                       "at": event["created_at"]}


def changed_after(qs: QuerySet[Incident], cursor: str) -> QuerySet[Incident]:
    """Filter to incidents written by a transaction that the snapshot ``cursor`` does not see: every
    change committed since that cursor's read, however early its transaction wrote (migration 0005).
    Every transaction below the snapshot's xmin is visible to it, so the index on changed_xid
    narrows the rows first."""
    column = f'{connection.ops.quote_name(Incident._meta.db_table)}."changed_xid"'
    return qs.filter(RawSQL(f"({column} >= pg_snapshot_xmin(%s::pg_snapshot) "
                            f"AND NOT pg_visible_in_snapshot({column}, %s::pg_snapshot))",
                            [cursor, cursor], output_field=BooleanField()))


STATS_FIELDS = ["today", "open", "overdue", "triage", "closed_month", "due_month"]


def _stats_counts(now: datetime, suffix: str = "") -> dict:
    """Return the command centre's counts at ``now`` as aggregate expressions (the ordinary path)."""
    now = timezone.localtime(now)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month, month_end = rules.month_bounds(now)
    counted = rules.counted_q()
    return {
        f"today{suffix}": Count("id", filter=Q(created_at__gte=day)),
        f"open{suffix}": Count("id", filter=Q(state__in=sorted(rules.OPEN))),
        f"overdue{suffix}": Count("id", filter=rules.overdue_q(now)),
        f"triage{suffix}": Count("id", filter=rollups.triage_q()),
        f"closed_month{suffix}": Count("id", filter=counted & rules.closed_in_q(month, month_end)),
        f"due_month{suffix}": Count("id", filter=counted & rules.due_to_close_q(month, month_end, now)),
    }


def _stats_figures(qs: QuerySet[Incident], now: datetime) -> dict:
    """Return the command centre's counts over ``qs`` at ``now`` (one aggregate query)."""
    return qs.aggregate(**_stats_counts(now))


def _with_rate(figures: dict) -> dict:
    figures["closure_rate_month"] = rules.rate(figures["closed_month"], figures["due_month"])
    return figures


def incident_stats_direct(*, actor: Actor, now: datetime | None = None) -> dict:
    """Return ``incident_stats`` aggregated on the incidents themselves (the reference path)."""
    return _with_rate(_stats_figures(incidents_visible_to(actor), now or timezone.now()))


def incident_stats(*, actor: Actor, now: datetime | None = None) -> dict:
    """Return the command centre's counts over the visible incidents, read from the rollups; the
    month's closure rate is the assessment's for this month so far (``rules.due_to_close_q``).

    The rollups answer at today's midnight t0; the incidents whose clock or handling deadline fell
    between t0 and now are counted again by the ordinary path, at now and at t0, and the
    difference added (``rollups.Window``)."""
    now = timezone.localtime(now or timezone.now())
    window = rollups.Window.of(now, now, now)
    today = window.today
    month, month_end = (rollups.local_day(m) for m in rules.month_bounds(now))
    due_end = min(month_end, today)
    K, lean = rollups.Kind, rollups.lean_offset(scope_q(actor))
    received, closed, due = [K.RECEIVED + lean, K.RECEIVED_UNCOUNTED + lean], K.CLOSED + lean, K.DUE + lean
    in_month = Q(day__gte=month, day__lt=month_end)
    rows = rollups.Rollup.objects.filter(Q(kind__in=[K.OPEN + lean, K.TRIAGE + lean])
                                         | Q(kind__in=[*received, closed, due], day__gte=min(month, today)))
    r = scoped(actor, rows).aggregate(
        today=Sum("n", filter=Q(kind__in=received, day__gte=today)),
        open=Sum("n", filter=Q(kind=K.OPEN + lean)),
        overdue=Sum("n", filter=Q(kind=K.OPEN + lean, day__lt=today)),
        triage=Sum("n", filter=Q(kind=K.TRIAGE + lean)),
        closed_month=Sum("n", filter=Q(kind=closed) & in_month),
        due=Sum("n", filter=Q(kind=due, day__gte=month, day__lt=due_end)),
        closed_due=Sum("n", filter=Q(kind=closed, day2__gte=month, day2__lt=due_end) & in_month),
    )
    r = {k: v or 0 for k, v in r.items()}
    r["due_month"] = r.pop("due") + r["closed_month"] - r.pop("closed_due")
    edge = incidents_visible_to(actor).filter(window.edge_q(columns=("handle_due_at",)))
    both = edge.aggregate(**_stats_counts(now, "_exact"), **_stats_counts(window.t0, "_rounded"))
    return _with_rate({k: r[k] + both[f"{k}_exact"] - both[f"{k}_rounded"] for k in STATS_FIELDS})


# open_counts: by -> (the field path of the area's code, of its name)
AREAS = {"grid": ("grid__code", "grid__name"), "village": ("village__code", "village__name"),
         "town": ("town__code", "town__name")}


def _open_rows(rows: list[dict]) -> list[dict]:
    areas: dict = {}
    for row in rows:
        area = areas.setdefault(row["code"], {"code": row["code"], "name": row["name"], "open": 0, "categories": {}})
        area["name"] = area["name"] or row["name"]
        area["open"] += row["n"]
        area["categories"][row["category"]] = area["categories"].get(row["category"], 0) + row["n"]
    return sorted(areas.values(), key=lambda a: (a["code"] is None, a["code"] or ""))


def open_counts(actor: Actor, by: str = "grid") -> list[dict]:
    """Return the open incidents (``rules.OPEN``) the actor may see per area and per category, read
    from the rollups: ``[{"code", "name", "open", "categories": {category code: n}}]`` by area code
    (``by``: "grid", the comprehensive grid located in; "village"; "town"), the area-less last
    (code None: triage, out of town)."""
    code, name = AREAS[by]
    rows = (scoped(actor, rollups.Rollup.objects.filter(kind=rollups.Kind.OPEN))
            .values(code=F(code), category_code=F("category__code"))
            .annotate(name=Max(name), n=Sum("n")).order_by())
    return _open_rows([{**r, "category": r["category_code"]} for r in rows])


def open_counts_direct(actor: Actor, by: str = "grid") -> list[dict]:
    """Return ``open_counts`` aggregated on the incidents themselves (the reference path)."""
    code, name = AREAS[by]
    rows = (incidents_visible_to(actor).filter(state__in=sorted(rules.OPEN))
            .values(code=F(code), category_code=F("category__code"))
            .annotate(name=Max(name), n=Count("id")).order_by())
    return _open_rows([{**r, "category": r["category_code"]} for r in rows])


# open_aggregates: by -> (the field path of the area's code, of its name), from an incident
AGGREGATE_AREAS = {"grid": ("grid__code", "grid__name"), "village": ("village__code", "village__name"),
                   "town": ("village__town__code", "village__town__name")}


def open_aggregates(actor: Actor, by: str = "grid", *, categories: list[str] | None = None) -> list[dict]:
    """Return the open incidents (``rules.OPEN``) the actor may see, counted per area:
    ``[{"code", "name", "open"}]`` by area code (``by``: "grid", the comprehensive grid located in;
    "village"; "town"), the area-less last (code None: triage, out of town); ``categories``: only
    these category codes.

    Read from the rollups' OPEN rows (``incidents.rollups``: one per open incident's key, kept as incidents
    change), scoped by the same rule as the incidents: summed per grid id, the grid-less per village,
    then per area through the grids' and villages' own rows. Counting the incidents by the (grid,
    state) index scanned every incident's entry (204 ms at a million incidents, ten times that at
    ten); ``open_aggregates_direct`` is the same answer by a join on the incidents (a test keeps them
    equal).
    """
    qs = scoped(actor, rollups.Rollup.objects.filter(kind=rollups.Kind.OPEN))
    if categories:
        qs = qs.filter(category__code__in=categories)
    per_grid = dict(qs.values_list("grid_id").annotate(n=Sum("n")).order_by())
    gridless = per_grid.pop(None, 0)
    per_village = dict(qs.filter(grid_id__isnull=True).values_list("village_id").annotate(n=Sum("n"))
                       .order_by()) if gridless else {}
    areas: dict = {}

    def add(code, name, n) -> None:
        area = areas.setdefault(code, {"code": code, "name": name, "open": 0})
        area["open"] += n
        if name is not None and (area["name"] is None or name > area["name"]):
            area["name"] = name  # the direct path's Max(name) over the grids of one code

    code, name = AGGREGATE_AREAS[by]
    if by == "grid":
        for row in Grid.objects.filter(pk__in=per_grid).values("pk", "code", "name"):
            add(row["code"], row["name"], per_grid[row["pk"]])
        if gridless:
            add(None, None, gridless)
    else:
        path = (code.removeprefix("village__"), name.removeprefix("village__")) if by == "town" else ("code", "name")
        grid_villages = list(Grid.objects.filter(pk__in=per_grid).values_list("pk", "village_id"))
        villages = {row["pk"]: row for row in Village.objects.filter(
            pk__in={*per_village, *(village_id for _, village_id in grid_villages)}
        ).values("pk", code_of=F(path[0]), name_of=F(path[1]))}
        for grid_id, village_id in grid_villages:
            add(villages[village_id]["code_of"], villages[village_id]["name_of"], per_grid[grid_id])
        for village_id, n in per_village.items():
            row = villages.get(village_id)
            add(row and row["code_of"], row and row["name_of"], n)
    return sorted((a for a in areas.values() if a["open"]), key=lambda a: (a["code"] is None, a["code"] or ""))


def open_aggregates_direct(actor: Actor, by: str = "grid", *, categories: list[str] | None = None) -> list[dict]:
    """Return ``open_aggregates`` by one aggregate joined to the areas (the reference path)."""
    code, name = AGGREGATE_AREAS[by]
    qs = incidents_visible_to(actor).filter(state__in=sorted(rules.OPEN))
    if categories:
        qs = qs.filter(category__code__in=categories)
    rows = qs.values(code=F(code)).annotate(name=Max(name), open=Count("id")).order_by()
    return sorted(({"code": r["code"], "name": r["name"], "open": r["open"]} for r in rows),
                  key=lambda a: (a["code"] is None, a["code"] or ""))


def incident_context(incident: Incident, actor: Actor) -> dict:
    """Return the side panel of an incident for ``actor``: the handling grid's team (phones at the
    actor's level, ``grids.privacy``; none for integration clients), the reporter (the same levels,
    ``reporter_visibility``), the cameras whose view sector covers the incident, the component (部件) it is
    about, the allowed actions and the people the actor may reassign it to."""
    roles = roles_on(actor, incident)
    team = None
    if incident.handling_grid_id and privacy.names_visible(actor):
        team = privacy.team_dict(team_of_grid(grid=incident.handling_grid),
                                 privacy.phone_visibility(actor, incident.handling_grid))
    cameras = []
    if incident.location is not None:
        cameras = [{"code": c.code, "name": c.name, "status": c.status}
                   for c in Camera.objects.filter(sector__covers=incident.location).order_by("code")]
    component = incident.component if incident.component_id else None
    actions = allowed_actions(incident, actor, roles=roles)
    return {"team": team, "reporter": reporter_of(incident, actor, roles=roles), "cameras": cameras,
            "component": component and {"code": component.code, "type_code": component.type_id,
                                        "type_name": component.type.name, "name": component.name,
                                        "owner_dept": component.owner_dept, "state": component.state,
                                        "state_label": component.get_state_display()},
            "allowed_actions": actions,
            "reassign_to": reassign_candidates(incident, roles) if "reassign" in actions else [],
            "replies": reply_templates(incident, actions),
            "answers": [{"code": q["code"], "question": q["description"], "value": incident.attributes[q["code"]]}
                        for q in incident.category.attributes if q["code"] in (incident.attributes or {})],
            "handbook": {"filing_conditions": incident.category.filing_conditions,
                         "closing_conditions": [rules.CLOSING_CHECKS[c][0] for c in incident.category.closing_conditions
                                                if c in rules.CLOSING_CHECKS]},
            "pending_extension": incident.extension_requests.filter(state=ExtensionRequest.State.PENDING).first()}


MAX_REPLIES = 50


def reply_templates(incident: Incident, actions: list[str]) -> list[dict]:
    """Return the 常用语 for the notes of these actions on the incident: those of its category or of
    every category, for its state or any, for one of the actions or any (at most ``MAX_REPLIES``)."""
    if not actions:
        return []
    rows = ReplyTemplate.objects.filter(
        Q(category__isnull=True) | Q(category_id=incident.category_id), Q(state="") | Q(state=incident.state),
        Q(action="") | Q(action__in=actions), active=True,
    ).order_by("category_id", "position", "id").values("id", "action", "text")  # the category's own first
    return list(rows[:MAX_REPLIES])


# Who sees an incident's reporter in full: those who handle it and the leaders above them.
REPORTER_FULL = frozenset({Role.GRID_LEADER, Role.GRID_MEMBER, Role.ASSIGNEE, Role.VILLAGE_LEADER})


def reporter_visibility(actor: Actor, incident: Incident, *, roles: set[Role] | None = None) -> str:
    """Return how the incident's reporter (name, phone) is shown to the actor, on the levels of
    ``grids.privacy``: in full for the operators, town leaders, the incident's handling team, its
    assignee and its village's leader; masked for other staff; not at all to integration clients."""
    level = privacy.base_visibility(actor)
    if level is not None:
        return level
    roles = roles_on(actor, incident) if roles is None else roles
    return privacy.FULL if roles & REPORTER_FULL else privacy.MASKED


def reporter_of(incident: Incident, actor: Actor, *, roles: set[Role] | None = None) -> dict | None:
    """Return the incident's reporter as the actor may see them (None when nobody was named)."""
    if not (incident.reporter_name or incident.reporter_phone):
        return None
    level = reporter_visibility(actor, incident, roles=roles)
    if level == privacy.NONE:
        return None
    return {"name": privacy.show_name(incident.reporter_name, level),
            "phone": privacy.show_phone(incident.reporter_phone, level)}


def handling_team_ids(incident: Incident) -> set[int]:
    """Return the person ids of the incident's handling grid's team (its leader and members)."""
    if incident.handling_grid_id is None:
        return set()
    team = GridTeam.objects.filter(grid_id=incident.handling_grid_id)
    return ({pk for pk in team.values_list("leader_id", flat=True)}
            | set(TeamMembership.objects.filter(team__grid_id=incident.handling_grid_id)
                  .values_list("person_id", flat=True)))


def handling_grid_for(incident: Incident, person_id: int) -> int | None:
    """Return the grid whose team handles the incident once it is given to the person: its handling
    grid when the person is on that team; else the active grid of the incident's town whose team the
    person leads or holds a post in (the grid it lies in first, then its village's, then by code), so
    that grid's people see it and act on it as its team, and the wrong grid's stop; None when the
    person is on no team (the handling grid stays as it is)."""
    if person_id in handling_team_ids(incident):
        return incident.handling_grid_id
    town_id = _town_of(incident)
    if town_id is None:
        return None
    grids = (GridTeam.objects.filter(Q(leader_id=person_id) | Q(memberships__person_id=person_id),
                                     grid__generation__status="active", grid__generation__town_id=town_id)
             .values_list("grid_id", "grid__village_id", "grid__code").distinct())
    found = min(grids, key=lambda g: (g[0] != incident.grid_id, g[1] != incident.village_id, g[2]), default=None)
    return found[0] if found else None


def reassign_refusal(incident: Incident, actor: Actor, person_id: int, *, roles: set[Role] | None = None
                     ) -> str | None:
    """Return why the actor may not give the incident to the person (None: they may), by
    ``rules.reassign_refusal``; whether the actor may reassign at all is ``rules.check``'s."""
    roles = roles_on(actor, incident) if roles is None else roles
    return rules.reassign_refusal(roles, to_handling_team=person_id in handling_team_ids(incident), label=actor.label)


def reassign_candidates(incident: Incident, roles: set[Role]) -> list[dict]:
    """Return the people an actor holding ``roles`` may reassign the incident to, each decided by
    ``rules.reassign_refusal``: the handling grid's team first (leader, then every post), then for an
    operator the other people of the town's active grids' teams, by name; each person once."""
    out, seen = [], set()
    team = team_of_grid(grid=incident.handling_grid) if incident.handling_grid_id else None
    if team is not None:
        out.append({"person_id": team.leader.external_id, "name": team.leader.name, "role": "grid_leader",
                    "slot": "", "on_duty": True, "team": True})
        seen.add(team.leader_id)
        for m in team.memberships.all():
            if m.person_id in seen:  # a leader who also holds a post: listed once
                continue
            out.append({"person_id": m.person.external_id, "name": m.person.name, "role": m.role, "slot": m.slot,
                        "on_duty": m.on_duty, "team": True})
            seen.add(m.person_id)
    town_id = _town_of(incident)
    if town_id is None or rules.reassign_refusal(roles, to_handling_team=False, label="") is not None:
        return out
    active = {"grid__generation__status": "active", "grid__generation__town_id": town_id}
    people = Person.objects.filter(
        Q(led_teams__in=GridTeam.objects.filter(**active))
        | Q(memberships__team__in=GridTeam.objects.filter(**active))).distinct().order_by("name", "external_id")
    out += [{"person_id": p.external_id, "name": p.name, "role": p.role, "slot": "", "on_duty": None, "team": False}
            for p in people if p.pk not in seen]
    return out


def _town_of(incident: Incident) -> int | None:
    if incident.handling_grid_id:
        return incident.handling_grid.generation.town_id
    if incident.village_id:
        return incident.village.town_id
    return None


def allowed_actions(incident: Incident, actor: Actor, *, roles: set[Role] | None = None) -> list[str]:
    """Return the actions the actor may take on the incident now, each the name of its endpoint
    (``POST /api/incidents/{id}/{action}/``), in the order the pages show them.

    Each is decided by ``rules.check``, the check its endpoint's service runs (so a listed action is
    one the endpoint accepts, and a refused one is not listed); the actor's roles are read once.
    """
    roles = roles_on(actor, incident) if roles is None else roles
    allowed = []
    for action in rules.ENDPOINT_ACTIONS:
        try:
            rules.check(incident, action, roles=roles, label=actor.label)
        except rules.TransitionRefused:
            continue
        allowed.append(action)
    if "decide_extension" in allowed:  # nobody decides their own request (the service's check too)
        requested_by = (incident.extension_requests.filter(state="pending")
                        .values_list("requested_by_id", flat=True).first())
        if rules.own_extension_refusal(requested_by, actor.user and actor.user.pk, actor.label):
            allowed.remove("decide_extension")
    return allowed


CSV_COLUMNS = ["id", "source", "external_id", "category", "severity", "title", "state", "level", "triage",
               "village", "grid", "assignee", "lon", "lat", "created_at", "handle_due_at", "closed_at"]
_CSV_FIELDS = ["pk", "source", "external_id", "category__code", "severity", "title", "state", "level", "triage",
               "village__code", "grid__code", "assignee__external_id", "location", "created_at", "handle_due_at",
               "closed_at"]
# What a spreadsheet may take for a formula at the start of a cell (OWASP, "CSV Injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ExportTooLarge(ValueError):
    """More incidents match than one export may stream (``settings.CSV_EXPORT_MAX_ROWS``)."""


def csv_cell(value) -> object:
    """Return the cell for a value: text starting with = + - @, a tab or a CR gets a leading apostrophe, so a
    spreadsheet shows it as text instead of running it (OWASP's advice for CSV injection); numbers stay
    numbers (a negative longitude is a number, not a formula) and None is an empty cell."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class _Line:
    """A file-like object whose write returns the line (csv.writer writes one row per call)."""

    def write(self, text: str) -> str:
        return text


def csv_lines(qs: QuerySet[Incident], *, max_rows: int) -> Iterator[str]:
    """Return the incidents of ``qs`` as CSV lines (a BOM first, so spreadsheets read the UTF-8), to stream.

    Raise ``ExportTooLarge`` at once (before any line) when more than ``max_rows`` match: a bounded
    count (LIMIT max_rows + 1) decides it. The rows are then read through a server-side cursor in
    chunks (``iterator``), as plain values: memory stays constant however many rows go out.
    """
    if qs.order_by()[:max_rows + 1].count() > max_rows:
        raise ExportTooLarge(f"more than {max_rows} incidents match: narrow the filter (e.g. created_after/before)")
    rows = qs.values_list(*_CSV_FIELDS).iterator(chunk_size=2000)
    return _csv_lines(rows)


def _csv_lines(rows) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield "\ufeff" + writer.writerow(CSV_COLUMNS)
    for row in rows:
        (pk, source, external_id, category, severity, title, state, level, triage, village, grid, assignee, location,
         created_at, handle_due_at, closed_at) = row
        yield writer.writerow([csv_cell(v) for v in (
            pk, source, external_id, category, severity, title, state, level, triage, village, grid, assignee,
            location.x if location else None, location.y if location else None, created_at.isoformat(),
            handle_due_at.isoformat() if handle_due_at else None, closed_at.isoformat() if closed_at else None)])


def write_csv(stream, qs: QuerySet[Incident], *, max_rows: int | None = None) -> None:
    """Write the incidents of ``qs`` as CSV to ``stream`` (``csv_lines``'s lines)."""
    for line in csv_lines(qs, max_rows=max_rows if max_rows is not None else settings.CSV_EXPORT_MAX_ROWS):
        stream.write(line)
