"""Bulk writes for intake: ids from the sequence, rows sent with COPY (or, for a few, multi-row INSERTs).

Why not ``bulk_create``: it prepares every field of every object through ``get_db_prep_save`` and
sends a multi-row INSERT, for about seven rows per incident (the incident, its events, the
assignment, notifications); COPY with values converted by one small function per column costs
much less on both sides (figures in bench/README.md). Ids are taken from the
table's sequence first, so events and assignments can point at their incident before it is stored.
A single report takes the other path: two round trips (the incident, with ON CONFLICT DO NOTHING
RETURNING id; then its events, assignment and notifications in one string of INSERTs) instead of
a savepoint and four COPYs.
"""
from __future__ import annotations

import io
import itertools
import json
from collections.abc import Callable, Iterable
from functools import cache

from django.contrib.gis.db.models import GeometryField
from django.db import connection, models
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

from core import db

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
NULL = "\\N"


def _text(value) -> str:
    return NULL if value is None else str(value).translate(_ESCAPES)


def _int(value) -> str:
    return NULL if value is None else str(int(value))  # int(): an IntegerChoices member prints its name


def _float(value) -> str:
    return NULL if value is None else repr(float(value))


def _bool(value) -> str:
    return NULL if value is None else ("t" if value else "f")


def _moment(value) -> str:
    return NULL if value is None else value.isoformat()


def _moments() -> Callable[[object], str]:
    """Return ``_moment`` remembering its answers by object for one COPY: the rows of a batch share a
    handful of time objects (the intake's ``now``, its due times), and ``isoformat`` of an aware
    time costs more than the rest of the row's conversions. The objects stay alive while the COPY
    runs (the instances hold them), so their ids are not reused meanwhile."""
    memo: dict[int, tuple[object, str]] = {}

    def moment(value) -> str:
        if value is None:
            return NULL
        known = memo.get(id(value))
        if known is None or known[0] is not value:
            known = memo[id(value)] = (value, value.isoformat())
        return known[1]

    return moment


def _json(value) -> str:
    return NULL if value is None else json.dumps(value, ensure_ascii=False).translate(_ESCAPES)


def _geometry(value) -> str:
    """A geometry, or the hex EWKB text a geometry field was set to (not yet read as a geometry)."""
    if value is None:
        return NULL
    return value if isinstance(value, str) else value.hexewkb.decode()


_BY_TYPE = {
    "CharField": _text, "TextField": _text, "SlugField": _text, "UUIDField": _text,
    "FloatField": _float, "BooleanField": _bool, "DateTimeField": _moment, "DateField": _moment,
    "JSONField": _json,
}


def _converter(field: models.Field) -> Callable[[object], str]:
    """Return the function that writes one value of ``field`` in COPY's text format."""
    if isinstance(field, GeometryField):
        return _geometry
    kind = field.target_field.get_internal_type() if field.many_to_one else field.get_internal_type()
    if kind in _BY_TYPE:
        return _BY_TYPE[kind]
    if "Integer" in kind or "AutoField" in kind:
        return _int
    raise TypeError(f"no COPY conversion for {field} ({kind})")


@cache
def _blank(model: type[models.Model]) -> tuple[dict, tuple, frozenset, frozenset, dict]:
    """Return what ``unsaved`` needs of a model: the constant defaults by attribute name, the fields
    whose default is a callable (called per instance, as Django does), the attribute names, the names
    set through their descriptor (a related object, a geometry), and the names that mean another (``pk``)."""
    constants, factories, through_descriptor = {}, [], set()
    for f in model._meta.concrete_fields:
        if f.has_default() and callable(f.default):
            factories.append((f.attname, f.default))
        else:
            constants[f.attname] = f.get_default()
        if f.many_to_one or f.one_to_one or isinstance(f, GeometryField):
            through_descriptor.add(f.name)
    direct = frozenset(f.attname for f in model._meta.concrete_fields) - through_descriptor
    return constants, tuple(factories), direct, frozenset(through_descriptor), {"pk": model._meta.pk.attname}


def unsaved(model: type[models.Model], **values) -> models.Model:
    """Return ``model(**values)`` without running ``Model.__init__`` (much cheaper per instance).

    Intake builds six to eight instances per incident (the incident, its events, assignment and
    notifications), so ``Model.__init__`` weighs on a batch more than any other single step. This
    builds the same instance: every concrete field's attribute set from
    ``values`` or its default (a callable default called per instance), a related object or a geometry
    set through its descriptor as ``__init__`` does, a fresh ``_state`` (adding, no database).
    It falls back to ``model(**values)`` when a pre_init or post_init receiver listens to the model,
    and raises TypeError for a name that is not a field, as ``__init__`` does.
    """
    if (pre_init.receivers or post_init.receivers) and (pre_init.has_listeners(model)
                                                         or post_init.has_listeners(model)):
        return model(**values)
    constants, factories, direct, through_descriptor, aliases = _blank(model)
    obj = model.__new__(model)
    state = obj.__dict__
    state.update(constants)
    for name, factory in factories:
        state[name] = factory()
    state["_state"] = ModelState()
    later = []
    for name, value in values.items():
        name = aliases.get(name, name)
        if name in direct:
            state[name] = value
        elif name in through_descriptor:
            later.append((name, value))
        else:
            raise TypeError(f"{model.__name__}() got unexpected keyword argument {name!r}")
    for name, value in later:
        setattr(obj, name, value)
    return obj


def allocate_ids(model: type[models.Model], n: int) -> list[int]:
    """Return ``n`` fresh primary keys from the table's sequence (gaps are harmless)."""
    if n == 0:
        return []
    table, pk = model._meta.db_table, model._meta.pk.column
    with connection.cursor() as cursor:
        db.execute(cursor, "gridops_allocate_ids",
                   "SELECT nextval(pg_get_serial_sequence(%(table)s, %(pk)s)) FROM generate_series(1, %(n)s)",
                   {"table": table, "pk": pk, "n": n})
        return [row[0] for row in cursor.fetchall()]


@cache
def _fields(model: type[models.Model], with_pk: bool) -> tuple[models.Field, ...]:
    return tuple(f for f in model._meta.concrete_fields if with_pk or not f.primary_key)


@cache
def _plan(model: type[models.Model], with_pk: bool, copy: bool) -> tuple[tuple[str, Callable], ...]:
    """Return (attribute name, converter) per column: COPY text (``copy``) or psycopg2 parameters."""
    return tuple((f.attname, _converter(f) if copy else _parameter(f)) for f in _fields(model, with_pk))


@cache
def _special(fields: tuple[models.Field, ...]) -> tuple[tuple[models.Field, ...], tuple[models.Field, ...]]:
    auto_now = tuple(f for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False))
    return auto_now, tuple(f for f in fields if f.many_to_one)


def _prepared(model: type[models.Model], objects: Iterable[models.Model], fields: tuple[models.Field, ...]):
    """Yield each object's attribute dict as ``save()`` would see it: ``auto_now`` fields set, and a
    foreign key to an object stored after this one was built read from that object now."""
    auto_now, relations = _special(fields)
    stamps: dict[models.Field, object] = {}  # one time per field for the whole write, as save() sets it for a row
    for obj in objects:
        values = obj.__dict__
        for f in auto_now:
            if f in stamps:
                values[f.attname] = stamps[f]
            else:
                stamps[f] = f.pre_save(obj, add=True)
        for f in relations:
            if values[f.attname] is None and f.is_cached(obj):
                related = f.get_cached_value(obj)
                values[f.attname] = related.pk if related is not None else None
        yield values


@cache
def _columns(fields: tuple[models.Field, ...]) -> str:
    return ", ".join(connection.ops.quote_name(f.column) for f in fields)


class _RowStream(io.RawIOBase):
    """A file COPY reads from while the rows are still being written: psycopg2 sends what one
    ``read`` returns before asking for more, so PostgreSQL inserts rows on one core while this
    process formats the next ones on the other (building the whole text first left one idle)."""

    def __init__(self, lines: Iterable[str], chunk_rows: int = 500):
        self.lines, self.chunk_rows, self.pending = iter(lines), chunk_rows, b""
        self.rows = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while len(self.pending) < len(buffer):
            block = [line for _, line in zip(range(self.chunk_rows), self.lines, strict=False)]
            if not block:
                break
            self.rows += len(block)
            self.pending += "".join(block).encode()
        n = min(len(buffer), len(self.pending))
        buffer[:n], self.pending = self.pending[:n], self.pending[n:]
        return n


def copy_objects(model: type[models.Model], objects: Iterable[models.Model], *, with_pk: bool) -> int:
    """COPY unsaved model instances into their table; return how many rows were sent.

    ``with_pk``: the instances carry their primary key (from ``allocate_ids``); otherwise the
    database assigns it and the instances do not learn it. ``auto_now`` fields are set as
    ``save()`` would. Foreign keys are read from their ``*_id`` attributes.
    """
    fields, plan = _fields(model, with_pk), _plan(model, with_pk, copy=True)
    moment = _moments()
    plan = tuple((name, moment if convert is _moment else convert) for name, convert in plan)
    lines = ("\t".join([convert(values[name]) for name, convert in plan]) + "\n"
             for values in _prepared(model, objects, fields))
    return copy_lines(model._meta.db_table, _columns(fields), lines)


def copy_lines(table: str, columns: str, lines: Iterable[str]) -> int:
    """COPY rows already written in COPY's text format (one ``\\n``-ended line each, tab-separated,
    values converted as the functions above do) into ``table`` (``columns``: its quoted column list);
    return how many rows were sent. The lines are read while PostgreSQL inserts (``_RowStream``), so
    a generator of millions of rows is never held in memory."""
    lines = iter(lines)
    first = next(lines, None)
    if first is None:
        return 0
    stream = _RowStream(itertools.chain([first], lines))
    with connection.cursor() as cursor, connection.wrap_database_errors:  # Django's IntegrityError etc.
        cursor.cursor.copy_expert(f"COPY {connection.ops.quote_name(table)} ({columns}) FROM STDIN",
                                  stream, size=65536)
    return stream.rows


def text(value) -> str:
    """Return one text value in COPY's text format (NULL for None, escapes applied)."""
    return _text(value)


def quoted_columns(model: type[models.Model], names: Iterable[str]) -> str:
    """Return the quoted column list of these fields of ``model`` (by field name or attname)."""
    opts = model._meta
    return ", ".join(connection.ops.quote_name(opts.get_field(n).column) for n in names)


def _parameter(field: models.Field) -> Callable[[object], object]:
    """Return the function that turns a value of ``field`` into a psycopg2 parameter."""
    if isinstance(field, GeometryField):
        return lambda v: None if v is None else _geometry(v)  # PostGIS reads hex EWKB
    if isinstance(field, models.JSONField):
        return lambda v: None if v is None else json.dumps(v, ensure_ascii=False)
    if _converter(field) is _int:
        return lambda v: None if v is None else int(v)
    return lambda v: v


def insert_statement(model: type[models.Model], objects: Iterable[models.Model], *, with_pk: bool,
                     skip_conflicts: bool = False) -> tuple[str, list] | None:
    """Return (sql, params) of one multi-row INSERT of the instances (None when there are none);
    with ``skip_conflicts`` rows that would violate a unique index are skipped and the statement
    returns the ids it stored (``with_pk`` only)."""
    fields, plan = _fields(model, with_pk), _plan(model, with_pk, copy=False)
    params: list = []
    for values in _prepared(model, objects, fields):
        params += [convert(values[name]) for name, convert in plan]
    if not params:
        return None
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = (f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({_columns(fields)}) VALUES "
           + ", ".join([row] * (len(params) // len(fields))))
    if skip_conflicts:
        sql += f" ON CONFLICT DO NOTHING RETURNING {connection.ops.quote_name(model._meta.pk.column)}"
    return sql, params


def execute(statements: list[tuple[str, list] | None]) -> list[tuple]:
    """Send the statements in one round trip; return the rows of the last one (if it returns rows)."""
    statements = [s for s in statements if s is not None]
    if not statements:
        return []
    with connection.cursor() as cursor:
        cursor.execute("; ".join(sql for sql, _ in statements), [p for _, params in statements for p in params])
        return cursor.fetchall() if cursor.description else []
