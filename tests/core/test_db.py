"""core.db: the intake path's prepared statements."""
from __future__ import annotations

import pytest
from django.db import connection, transaction

from core import db

pytestmark = pytest.mark.django_db(transaction=True)

SQL = "SELECT %(a)s::int + %(b)s::int, %(a)s::int * 2, %(words)s::text[]"


def _run(name: str, **params):
    with connection.cursor() as cursor:
        db.execute(cursor, name, SQL, params)
        return cursor.fetchone()


def _prepared_names() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {row[0] for row in cursor.fetchall()}


def test_prepared_once_per_connection_and_kept_across_a_rollback():
    assert _run("gridops_test_sum", a=2, b=3, words=["甲", "b%c"]) == (5, 4, ["甲", "b%c"])
    assert "gridops_test_sum" in _prepared_names()
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        assert _run("gridops_test_sum", a=1, b=1, words=[]) == (2, 2, [])
        raise ZeroDivisionError  # a rollback keeps what the session prepared
    assert _run("gridops_test_sum", a=10, b=-1, words=[]) == (9, 20, [])
    connection.close()  # a new connection prepares again
    assert "gridops_test_sum" not in _prepared_names()
    assert _run("gridops_test_sum", a=1, b=2, words=None) == (3, 2, None)
    assert "gridops_test_sum" in _prepared_names()


def test_plain_execution_when_turned_off(settings):
    settings.DB_PREPARED_STATEMENTS = False
    connection.close()
    assert _run("gridops_test_plain", a=4, b=4, words=["x"]) == (8, 8, ["x"])
    assert "gridops_test_plain" not in _prepared_names()


def test_compiled_runs_as_the_queryset_and_is_none_when_the_filter_holds_nothing(demo_data):
    from incidents.models import Category

    categories = Category.objects.filter(code__gte="").order_by("code").values_list("code", "name_zh")
    sql, params = db.compiled(categories)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    assert rows and rows == list(categories)  # the demo data's categories
    assert db.compiled(Category.objects.filter(pk__in=[])) is None  # Django raises EmptyResultSet: no rows
    assert db.compiled(Category.objects.filter(pk__in=[]).values("code")) is None
