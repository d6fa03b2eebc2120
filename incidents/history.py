"""Import past incidents as an existing 12345 or 数字城管 system exports them (CSV, GeoJSON, GeoPackage).

Each record keeps its own times and state (received -> 立案 registered, dispatched, closed) and its
coordinates in any CRS gis_core.coords accepts (a CSV's ``crs`` column or ``--crs``; a GeoJSON's or
GeoPackage's layer CRS, read through GDAL by pyogrio). It is located by the real locator in the boundary
generation that was active in its town on its own date; when none was (the town's boundaries were
loaded after it), in the active one, and ``location_note`` says so. The history counts in heatmaps and
assessments by its own dates (``created_at`` is the time it was received, the clocks run from it).

Idempotent on the source's ids: the incidents' key (submitted_by, source, external_id); a record whose
key is stored is skipped. A record that cannot be read (a field missing or wrong) is refused with its
row number, field and message in the errors file; the others land. The file is read and stored in
batches, each one transaction (COPY into a staging table, then one INSERT ... ON CONFLICT DO NOTHING
that writes the events of the rows it stored), so memory stays flat and a run stopped half-way is
finished by running it again.
"""
from __future__ import annotations

import csv
import json
import threading
import zoneinfo
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyogrio
import shapely
from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone

from core import bulk
from core.errorsfile import ErrorsFile
from gis_core.coords import ACCEPTED_CRS, EPSG_4326, UnknownCRS, parse_crs, to_wgs84, to_wgs84_array
from grids import locator
from grids.models import BoundaryGeneration, Grid
from incidents import rules
from incidents.models import Category, Incident

BATCH = 20_000
# our field -> the headers accepted for it (compared lower-cased, stripped)
HEADERS = {
    "external_id": ("external_id", "id", "case_id", "工单编号", "案件编号"),
    "category": ("category", "类别", "问题类别", "事项类别"),
    "title": ("title", "标题", "诉求标题"),
    "description": ("description", "内容", "诉求内容", "问题描述"),
    "address": ("address", "地址", "发生地址"),
    "x": ("x", "lon", "lng", "longitude", "经度"),
    "y": ("y", "lat", "latitude", "纬度"),
    "crs": ("crs", "坐标系"),
    "received_at": ("received_at", "reported_at", "created_at", "受理时间", "上报时间"),
    "dispatched_at": ("dispatched_at", "派遣时间"),
    "closed_at": ("closed_at", "结案时间"),
    "state": ("state", "status", "状态"),
    "source": ("source", "来源"),
}
REQUIRED = ("external_id", "category", "received_at")
S = rules.State
STATES = {"received": S.REGISTERED, "受理": S.REGISTERED, "立案": S.REGISTERED, "dispatched": S.DISPATCHED,
          "派遣": S.DISPATCHED, "closed": S.CLOSED, "结案": S.CLOSED}
LIMITS = {"external_id": 64, "title": 200, "address": 300}
COLUMNS = ["source", "external_id", "category_id", "severity", "title", "description", "address", "reporter_name",
           "reporter_phone", "reporter_email", "media_url", "submitted_by_id", "location", "original_x", "original_y",
           "original_crs", "location_source", "location_note", "town_id", "generation_id", "village_id", "grid_id",
           "handling_grid_id", "near_edge", "nearest_grid_id", "distance_m", "triage", "state", "level",
           "created_at", "registered_at", "dispatched_at", "closed_at", "accept_due_at", "handle_due_at",
           "level_due_at", "escalate_at", "escalations", "reworks", "updated_at"]


class HistoryError(Exception):
    """The file cannot be imported at all (unreadable, a required column missing); nothing was stored."""


@dataclass
class ImportResult:
    rows: int = 0
    imported: int = 0
    already: int = 0
    refused: int = 0
    errors_path: Path | None = None
    by_generation_date: int = 0
    in_active_generation: int = 0


@dataclass
class Record:
    """One readable record, its values checked."""

    row: int
    values: dict[str, str]
    x: float | None = None
    y: float | None = None
    crs: str = EPSG_4326
    category: Category | None = None
    source: str = ""
    state: str = ""
    times: dict[str, datetime] = field(default_factory=dict)
    lon: float | None = None
    lat: float | None = None


class RowError(ValueError):
    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name


# --- reading -------------------------------------------------------------------------------------------
def _mapping(headers: list[str]) -> dict[str, int]:
    """Return our field -> column index, from the file's headers."""
    lowered = [str(h).strip().lower().lstrip("\ufeff") for h in headers]
    found = {}
    for name, accepted in HEADERS.items():
        for i, header in enumerate(lowered):
            if header in accepted:
                found[name] = i
                break
    return found


def _need(path: Path, found: dict[str, int], required: tuple[str, ...]) -> None:
    missing = [name for name in required if name not in found]
    if missing:
        raise HistoryError(f"{path.name}: missing column(s) {', '.join(missing)}; accepted headers: "
                           + "; ".join(f"{n}: {'/'.join(HEADERS[n])}" for n in missing))


class CsvReader:
    """Records of a CSV file with a header line, streamed."""

    def __init__(self, path: Path, encoding: str, crs: str | None):
        self.path, self.encoding, self.crs = path, encoding, crs
        try:
            with path.open(encoding=encoding, newline="") as fh:
                header = next(csv.reader(fh), None)
            with path.open("rb") as fh:
                self.total = max(sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b"")) - 1, 0)
        except (OSError, UnicodeDecodeError) as exc:
            raise HistoryError(f"{path.name}: cannot read as {encoding} CSV ({exc})") from exc
        if not header:
            raise HistoryError(f"{path.name}: empty file (a header line is needed)")
        self.columns = _mapping(header)
        _need(path, self.columns, (*REQUIRED, "x", "y"))

    def batches(self) -> Iterator[list[Record]]:
        cols = self.columns
        try:
            with self.path.open(encoding=self.encoding, newline="") as fh:
                rows = csv.reader(fh)
                next(rows)
                batch = []
                for n, row in enumerate(rows, start=1):
                    values = {name: (row[i].strip() if i < len(row) else "") for name, i in cols.items()}
                    batch.append(Record(row=n, values=values))
                    if len(batch) == BATCH:
                        yield batch
                        batch = []
                if batch:
                    yield batch
        except UnicodeDecodeError as exc:
            raise HistoryError(f"{self.path.name}: not {self.encoding} after the rows stored so far ({exc}); "
                               "run again with --encoding") from exc


class GeoReader:
    """Records of a GeoJSON or GeoPackage layer, read through GDAL (pyogrio) in batches; points only."""

    def __init__(self, path: Path, layer: str | None, crs: str | None):
        self.path, self.layer = path, layer
        try:
            info = pyogrio.read_info(path, layer=layer)
        except Exception as exc:  # pyogrio raises its own DataSourceError/DataLayerError and OSError
            raise HistoryError(f"{path.name}: GDAL cannot read it ({exc})") from exc
        self.total = int(info["features"])
        self.fields = list(info["fields"])
        self.columns = _mapping(self.fields)
        _need(path, self.columns, REQUIRED)
        self.crs = crs or _layer_crs(path, info.get("crs"))

    def batches(self) -> Iterator[list[Record]]:
        for start in range(0, self.total, BATCH):
            _, _, geometry, data = pyogrio.raw.read(self.path, layer=self.layer, skip_features=start,
                                                    max_features=BATCH, datetime_as_string=True)
            geoms = shapely.from_wkb(geometry) if geometry is not None else [None] * len(data[0])
            batch = []
            for k, geom in enumerate(geoms):
                values = {name: _cell(data[i][k]) for name, i in self.columns.items()}
                record = Record(row=start + k + 1, values=values, crs=self.crs)
                if geom is not None and not geom.is_empty:
                    if geom.geom_type != "Point":
                        record.values["_geometry"] = geom.geom_type
                    else:
                        record.x, record.y = geom.x, geom.y
                batch.append(record)
            yield batch


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value).strip()


def _layer_crs(path: Path, crs: str | None) -> str:
    if not crs or crs.upper() in ("OGC:CRS84", "EPSG:4326"):
        return EPSG_4326
    try:
        return parse_crs(crs)
    except UnknownCRS as exc:
        raise HistoryError(f"{path.name}: the layer's CRS {crs} is not one of {', '.join(ACCEPTED_CRS)}; "
                           "reproject it, or pass --crs if its coordinates are in one of them") from exc


def open_reader(path: Path, *, encoding: str = "utf-8-sig", crs: str | None = None, layer: str | None = None):
    """Return the reader for ``path`` by its extension (HistoryError if unknown or unreadable)."""
    path = Path(path)
    if not path.is_file():
        raise HistoryError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return CsvReader(path, encoding, crs)
    if suffix in (".geojson", ".json", ".gpkg"):
        return GeoReader(path, layer, crs)
    raise HistoryError(f"{path.name}: unknown format {suffix!r} (CSV, GeoJSON or GeoPackage)")


# --- checking ------------------------------------------------------------------------------------------
class Checker:
    """Checks records against the categories, sources and states; remembers the ids seen in this file."""

    def __init__(self, *, source: str, crs: str | None, now: datetime):
        self.categories = {}
        for c in Category.objects.all():
            self.categories[c.code.lower()] = self.categories[c.name_zh] = c
        self.sources = {s.value: s.value for s in Incident.Source}
        self.sources.update({str(label).split()[0]: value for value, label in Incident.Source.choices})
        self.default_source, self.default_crs, self.now = source, crs, now
        self.tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
        self.seen: dict[tuple[str, str], int] = {}

    def check(self, record: Record) -> None:
        """Fill the record's checked values; raise RowError naming the field."""
        v = record.values
        if "_geometry" in v:
            raise RowError("geometry", f"a point is needed, not a {v['_geometry']}")
        for name, limit in LIMITS.items():
            if len(v.get(name, "")) > limit:
                raise RowError(name, f"longer than {limit} characters")
        if not v.get("external_id"):
            raise RowError("external_id", "required (the source system's id of the record)")
        record.category = self.categories.get(v["category"].lower()) or self.categories.get(v["category"])
        if record.category is None:
            raise RowError("category", f"unknown category {v['category']!r} (a code or a Chinese name)")
        record.source = self.sources.get(v.get("source") or self.default_source)
        if record.source is None:
            raise RowError("source", f"unknown source {v.get('source')!r}")
        key = (record.source, v["external_id"])
        if key in self.seen:
            raise RowError("external_id", f"{v['external_id']} appears already in row {self.seen[key]}")
        self._times(record)
        self._state(record)
        self._point(record)
        self.seen[key] = record.row

    def _time(self, record: Record, name: str) -> datetime | None:
        text = record.values.get(name, "")
        if not text:
            return None
        try:
            moment = datetime.fromisoformat(text.replace("/", "-"))
        except ValueError:
            raise RowError(name, f"not a date and time: {text!r} (e.g. 2024-05-01 08:30:00)") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.tz)  # the local time of the town (no DST in China)
        if moment > self.now:
            raise RowError(name, f"in the future: {text}")
        return moment

    def _times(self, record: Record) -> None:
        received = self._time(record, "received_at")
        if received is None:
            raise RowError("received_at", "required (when the record was received)")
        record.times["received_at"] = received
        for name in ("dispatched_at", "closed_at"):
            moment = self._time(record, name)
            if moment is not None and moment < received:
                raise RowError(name, f"before received_at ({received.isoformat()})")
            if moment is not None:
                record.times[name] = moment

    def _state(self, record: Record) -> None:
        text = record.values.get("state", "").lower()
        if not text:
            record.state = (S.CLOSED if "closed_at" in record.times else
                            S.DISPATCHED if "dispatched_at" in record.times else S.REGISTERED)
            return
        state = STATES.get(text)
        if state is None:
            raise RowError("state", f"unknown state {text!r} (received, dispatched or closed)")
        if state == S.CLOSED and "closed_at" not in record.times:
            raise RowError("closed_at", "required for a closed record")
        if state == S.DISPATCHED and "dispatched_at" not in record.times:
            raise RowError("dispatched_at", "required for a dispatched record")
        if state != S.CLOSED and "closed_at" in record.times:
            raise RowError("state", f"{text} but closed_at is given")
        record.state = state

    def _point(self, record: Record) -> None:
        v = record.values
        if record.x is None and (v.get("x") or v.get("y")):
            try:
                record.x, record.y = float(v.get("x", "")), float(v.get("y", ""))
            except ValueError:
                raise RowError("x" if not _is_float(v.get("x", "")) else "y", "not a number") from None
        if record.x is None:
            return
        try:
            record.crs = parse_crs(v.get("crs") or self.default_crs or record.crs)
        except UnknownCRS as exc:
            raise RowError("crs", str(exc)) from None


def convert(records: list[Record]) -> list[tuple[Record, RowError]]:
    """Set the WGS84 point of the records that have coordinates, a CRS at a time in one call (a point
    at a time costs a millisecond in GCJ-02); return the records that cannot be converted, each with
    the converter's own message (found one by one in a group that failed)."""
    groups: dict[str, list[Record]] = {}
    for r in records:
        if r.x is not None:
            groups.setdefault(r.crs, []).append(r)
    refused = []
    for crs, group in groups.items():
        try:
            lons, lats = to_wgs84_array([r.x for r in group], [r.y for r in group], crs)
        except ValueError:
            for r in group:
                try:
                    r.lon, r.lat = to_wgs84(r.x, r.y, crs)
                except ValueError as exc:
                    refused.append((r, RowError("x", str(exc))))
            continue
        for r, lon, lat in zip(group, lons.tolist(), lats.tolist(), strict=True):
            r.lon, r.lat = lon, lat
    return refused


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --- locating ------------------------------------------------------------------------------------------
class Generations:
    """The towns' published generations, to find the one active in a town at a moment."""

    def __init__(self):
        self.by_town: dict[int, list[BoundaryGeneration]] = {}
        for g in BoundaryGeneration.objects.exclude(status=BoundaryGeneration.Status.DRAFT).exclude(
                activated_at=None).order_by("activated_at"):
            self.by_town.setdefault(g.town_id, []).append(g)

    def at(self, town_id: int, moment: datetime) -> BoundaryGeneration | None:
        for g in self.by_town.get(town_id, []):
            if g.activated_at <= moment and (g.retired_at is None or moment < g.retired_at):
                return g
        return None


def _place(records: list[Record], generations: Generations, result: ImportResult) -> dict[int, dict]:
    """Locate the records that have a point; return their location columns by row."""
    points = [r for r in records if r.lon is not None]
    placed: dict[int, dict] = {}
    if not points:
        return placed
    lons, lats = np.array([r.lon for r in points]), np.array([r.lat for r in points])
    located = locator.locate_many(lons, lats)
    redo: dict[int, list[int]] = {}
    for k, r in enumerate(points):
        placed[r.row] = where = _where(located, k)
        if where["grid"] is None:
            continue
        town = where["grid"].generation.town_id
        then = generations.at(town, r.times["received_at"])
        if then is None:
            where["note"] = "located in the active boundary generation: none was active on its date"
            result.in_active_generation += 1
        elif then.pk != where["grid"].generation_id:
            redo.setdefault(then.pk, []).append(k)
        else:
            result.by_generation_date += 1
    for generation_id, ks in redo.items():
        old = locator.locate_many(lons[ks], lats[ks], generation=BoundaryGeneration.objects.get(pk=generation_id))
        for j, k in enumerate(ks):
            where = _where(old, j)
            if where["grid"] is None:
                placed[points[k].row]["note"] = ("located in the active boundary generation: outside the one "
                                                 "active on its date")
                result.in_active_generation += 1
            else:
                placed[points[k].row] = where
                result.by_generation_date += 1
    return placed


def _where(located, k: int) -> dict:
    found, grids = located.found, located.grids
    grid_id, nearest = int(found.grid_id[k]), int(found.nearest_grid_id[k])
    grid: Grid | None = grids[grid_id] if grid_id >= 0 else None
    near = grids.get(nearest) if grid is None and nearest >= 0 else None
    return {"grid": grid, "near_edge": bool(found.near_edge[k]) if grid else False, "nearest": near,
            "distance_m": float(found.nearest_distance_m[k]) if near else None, "note": ""}


# --- storing -------------------------------------------------------------------------------------------
def _stamp(moment: datetime | None) -> str:
    return bulk.NULL if moment is None else moment.isoformat()


def _line(r: Record, where: dict | None, client_id: int | None, now: datetime) -> str:
    c, t = r.category, r.times
    received, dispatched, closed = t["received_at"], t.get("dispatched_at"), t.get("closed_at")
    grid = where["grid"] if where else None
    near = where["nearest"] if where else None
    town = grid.generation.town_id if grid else (near.generation.town_id if near else None)
    triage = "" if grid else (Incident.Triage.OUTSIDE if r.lon is not None else Incident.Triage.NO_LOCATION)
    handle_due = received + timedelta(minutes=c.sla_handle_min)
    accept_due = dispatched + timedelta(minutes=c.sla_accept_min) if dispatched else None
    escalate = rules.escalation_time(state=r.state, level=c.level, level_due_at=handle_due, handle_due_at=handle_due,
                                     accept_due_at=accept_due)
    point = f"SRID=4326;POINT({r.lon!r} {r.lat!r})" if r.lon is not None else bulk.NULL
    v = r.values
    cells = [
        r.source, bulk.text(v["external_id"]), str(c.pk), str(c.default_severity),
        bulk.text(v.get("title") or c.name_zh), bulk.text(v.get("description", "")), bulk.text(v.get("address", "")),
        "", "", "", "", bulk.NULL if client_id is None else str(client_id), point,
        repr(r.x) if r.x is not None else bulk.NULL, repr(r.y) if r.y is not None else bulk.NULL,
        r.crs if r.x is not None else "", "coordinates" if r.x is not None else "",
        bulk.text(where["note"] if where else ""), bulk.NULL if town is None else str(town),
        str(grid.generation_id) if grid else bulk.NULL, str(grid.village_id) if grid else bulk.NULL,
        str(grid.pk) if grid else bulk.NULL, str(grid.pk) if grid else bulk.NULL,
        "t" if where and where["near_edge"] else "f", str(near.pk) if near else bulk.NULL,
        repr(where["distance_m"]) if near else bulk.NULL, triage, r.state, str(c.level),
        _stamp(received), _stamp(received), _stamp(dispatched), _stamp(closed), _stamp(accept_due),
        _stamp(handle_due), _stamp(handle_due), _stamp(escalate), "0", "0", _stamp(now)]
    return "\t".join(cells) + "\n"


# Raw SQL: one statement stores the staged rows whose key is free (ON CONFLICT on the idempotency index,
# which the ORM's bulk_create cannot combine with writing the stored rows' events) and their events.
STORE = """
WITH stored AS (
  INSERT INTO incidents_incident ({columns}) SELECT {columns} FROM history_stage
  ON CONFLICT DO NOTHING RETURNING id, level, created_at, dispatched_at, closed_at
), events AS (
  INSERT INTO incidents_incidentevent (incident_id, action, from_state, to_state, level, actor_id, actor_label,
                                       note, data, created_at)
  SELECT s.id, e.action, e.from_state, e.to_state, s.level, %(actor)s, %(label)s, '', %(data)s::jsonb, e.at
  FROM stored s CROSS JOIN LATERAL (VALUES
    ('report', '', 'reported', s.created_at),
    ('register', 'reported', 'registered', s.created_at),
    ('dispatch', 'registered', 'dispatched', s.dispatched_at),
    ('close', CASE WHEN s.dispatched_at IS NULL THEN 'registered' ELSE 'dispatched' END, 'closed', s.closed_at)
  ) AS e(action, from_state, to_state, at)
  WHERE e.at IS NOT NULL
)
SELECT count(*) FROM stored
"""


def _store(lines: list[str], *, client_id: int | None, label: str) -> int:
    """Store the rows (COPY into a staging table, then the insert); return how many were new."""
    with transaction.atomic(), connection.cursor() as cursor:
        columns = bulk.quoted_columns(Incident, COLUMNS)  # not the id: the incidents' identity gives it
        cursor.execute(f"CREATE TEMP TABLE history_stage ON COMMIT DROP AS SELECT {columns} "
                       "FROM incidents_incident LIMIT 0")
        bulk.copy_lines("history_stage", columns, lines)
        cursor.execute(STORE.format(columns=columns), {"actor": client_id, "label": label,
                                                       "data": json.dumps(rules.HISTORY_EVENT_DATA)})
        stored = cursor.fetchone()[0]
        cursor.execute("DROP TABLE history_stage")  # at once: inside an outer transaction the commit is later
        return stored


class _Storing:
    """The batches' stores, up to ``stores`` at once (each in a thread of its own, with its own database
    connection) while the next batch is read, checked and located, or here one at a time when ``threaded``
    is false (inside a caller's transaction, where every batch must be). A batch is told to the result in
    file order when its store is done; a store that fails fails the import there (the batches stored
    before it, and any stored beside it, stay: run it again).

    Two stores at once: a store is mostly PostgreSQL's work (the insert, its indexes, the rollup and
    outbox triggers) and one at a time left a core idle while Python prepared the next batch. They do not
    deadlock on the rollups: each batch's upserts are one statement in key order (``incidents.rollups``)."""

    def __init__(self, result: ImportResult, threaded: bool, progress, total: int, stores: int = 2):
        self.result, self.progress, self.total = result, progress, total
        self.stores = max(1, stores) if threaded else 1
        self.pool = (ThreadPoolExecutor(max_workers=self.stores, thread_name_prefix="history-store")
                     if threaded else None)
        self.pending: deque[tuple[Future, int, int]] = deque()

    def add(self, lines: list[str], rows: int, good: int, **store) -> None:
        while len(self.pending) >= self.stores:  # at most ``stores`` batches in the database: memory stays flat
            self._tell_oldest()
        if not lines:
            self.pending.append((_done(0), rows, good))
        elif self.pool is None:
            self.pending.append((_done(_store(lines, **store)), rows, good))
        else:
            self.pending.append((self.pool.submit(_store, lines, **store), rows, good))
        if self.pool is None:
            self.wait()

    def _tell_oldest(self) -> None:
        future, rows, good = self.pending.popleft()
        stored = future.result()
        self.result.rows += rows
        self.result.imported += stored
        self.result.already += good - stored
        if self.progress:
            self.progress(self.result.rows, max(self.total, self.result.rows))

    def wait(self) -> None:
        while self.pending:
            self._tell_oldest()

    def close(self) -> None:
        if self.pool is None:
            return
        for future, _, _ in self.pending:  # a failed import: let the stores in flight end first
            future.exception()
        # each store thread's connection, closed in that thread (the barrier holds every thread to one task)
        barrier = threading.Barrier(self.stores)
        closing = [self.pool.submit(_close_connections, barrier) for _ in range(self.stores)]
        for future in closing:
            future.result()
        self.pool.shutdown()


def _close_connections(barrier: threading.Barrier) -> None:
    barrier.wait(timeout=60)
    connections.close_all()


def _done(value) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


def import_history(path: Path, *, source: str = Incident.Source.HOTLINE_12345, crs: str | None = None,
                   client=None, errors_path: Path | None = None, encoding: str = "utf-8-sig",
                   layer: str | None = None, progress: Callable[[int, int], None] | None = None,
                   threaded: bool | None = None, stores: int = 2) -> ImportResult:
    """Import the records of ``path``; write refused rows (row, field, message) to ``errors_path``.
    ``threaded`` (default: when not called inside a transaction) stores batches, ``stores`` at once, while
    the next is prepared (``_Storing``): the 2 cores share the work of Python and of PostgreSQL."""
    path = Path(path)
    reader = open_reader(path, encoding=encoding, crs=crs, layer=layer)
    if crs is not None:
        try:
            crs = parse_crs(crs)
        except UnknownCRS as exc:
            raise HistoryError(f"--crs: {exc}") from exc
    now = timezone.now()
    checker, generations = Checker(source=source, crs=crs, now=now), Generations()
    result = ImportResult(errors_path=Path(errors_path or path.with_name(path.name + ".errors.csv")))
    client_id = client.pk if client is not None else None
    label = f"history import {path.name}"[:64]
    if threaded is None:
        threaded = not connection.in_atomic_block
    storing = _Storing(result, threaded, progress, reader.total, stores)
    try:
        with ErrorsFile(result.errors_path, ["row", "field", "message"]) as errors:
            for batch in reader.batches():
                good, bad = [], []
                for record in batch:
                    try:
                        checker.check(record)
                        good.append(record)
                    except RowError as exc:
                        bad.append((record, exc))
                bad += convert(good)
                refused = {id(r) for r, _ in bad}
                good = [r for r in good if id(r) not in refused]
                for record, exc in sorted(bad, key=lambda pair: pair[0].row):
                    errors.add([record.row, exc.field, str(exc)])
                result.refused += len(bad)
                placed = _place(good, generations, result)
                lines = [_line(r, placed.get(r.row), client_id, now) for r in good]
                storing.add(lines, len(batch), len(good), client_id=client_id, label=label)
            storing.wait()
    finally:
        storing.close()
    result.errors_path = errors.path  # None: nothing refused, no file
    return result
