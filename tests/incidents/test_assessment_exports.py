"""The assessment's files (Excel, CSV) and the monthly report page: the same figures as the API, the same
scope, clear errors on bad input."""
from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from openpyxl import load_workbook
from rest_framework.test import APIClient

from incidents import rules
from incidents.analytics import assessment
from tests.incidents.test_analytics import APRIL, G1, G2, MARCH, OPERATOR, grid_leader, march  # noqa: F401

pytestmark = pytest.mark.django_db
QUERY = {"group": "grid", "start": "2025-03-01", "end": "2025-04-01"}


def operator_client() -> APIClient:
    from tests.incidents import factories as f
    api = APIClient()
    api.force_authenticate(f.user("operator"))
    return api


def test_the_excel_file_holds_the_api_figures(march):  # noqa: F811
    api = operator_client()
    answer = api.get("/api/assessment/xlsx/", QUERY)
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert answer["Content-Disposition"] == 'attachment; filename="assessment-grid-20250301-20250401.xlsx"'
    sheet = load_workbook(io.BytesIO(answer.content)).active
    lines = list(sheet.iter_rows(values_only=True))
    assert lines[0][0].startswith("考核 assessment by 网格 grid, 2025-03-01 00:00 – 2025-04-01 00:00")
    header = list(lines[2])
    assert header[:3] == ["编码 code", "名称 name", "受理数"] and "满意率" in header and "准确派遣率" in header
    rows = {line[0]: dict(zip(header, line, strict=True)) for line in lines[3:-1]}
    body = api.get("/api/assessment/", QUERY).json()
    for row in body["rows"]:
        got = rows[row["code"]]
        for key, label in rules.STANDARD_COUNTS.items():
            assert got[label] == row[key], (row["code"], key)
        for r in rules.STANDARD_RATES:
            assert got[r.label] == pytest.approx(row[r.name]) if row[r.name] is not None else got[r.label] is None
    total = lines[-1]
    assert total[1] == "合计 total" and total[2] == body["totals"]["accepted"]
    assert sheet.cell(row=4, column=header.index("结案率") + 1).number_format == "0.0%"


def test_the_csv_streams_with_a_byte_order_mark(march):  # noqa: F811
    answer = operator_client().get("/api/assessment/csv/", QUERY)
    assert answer.status_code == 200 and answer["Content-Type"] == "text/csv; charset=utf-8"
    assert answer.streaming
    text = b"".join(answer.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff编码 code,名称 name,受理数")
    lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    by_code = {line[0]: line for line in lines[1:]}
    g1 = dict(zip(lines[0], by_code[G1], strict=True))
    assert (g1["有效上报数"], g1["结案数"], g1["应结案数"], g1["返工次数"]) == ("4", "2", "3", "1")
    assert float(g1["结案率"]) == pytest.approx(2 / 3)
    assert g1["满意率"] == "–"  # no return visit: the rate is undefined, not 0
    assert lines[-1][1] == "合计 total"


def test_the_files_have_every_row_in_the_query_order_whatever_the_page(march):  # noqa: F811
    query = {**QUERY, "group": "grid", "order": "-closure_rate", "limit": 1, "offset": 1}
    text = b"".join(operator_client().get("/api/assessment/csv/", query).streaming_content).decode("utf-8")
    lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert [line[0] for line in lines[1:-1]] == [G2, G1, ""]  # G2 closed all, G1 2/3, not located none


def test_the_files_are_scoped_and_refuse_bad_input(march):  # noqa: F811
    anonymous = APIClient()
    assert anonymous.get("/api/assessment/xlsx/", QUERY).status_code == 401
    assert anonymous.get("/api/assessment/csv/", QUERY).status_code == 401
    leader = APIClient()
    leader.force_authenticate(grid_leader(G1))
    text = b"".join(leader.get("/api/assessment/csv/", QUERY).streaming_content).decode()
    assert G1 in text and G2 not in text
    sheet = load_workbook(io.BytesIO(leader.get("/api/assessment/xlsx/", QUERY).content)).active
    assert [line[0] for line in sheet.iter_rows(min_row=4, values_only=True)] == [G1, None]
    bad = leader.get("/api/assessment/xlsx/", {**QUERY, "group": "planet"})
    assert bad.status_code == 400 and "group" in bad.json()
    bad = leader.get("/api/assessment/csv/", {**QUERY, "end": "2025-02-01"})
    assert bad.status_code == 400 and "end" in bad.json()


def test_the_monthly_report_page(march):  # noqa: F811
    from tests.incidents import factories as f
    page = Client()
    assert page.get("/review/report/?month=2025-03").status_code == 302  # to the login
    page.force_login(f.user("operator"))
    answer = page.get("/review/report/?month=2025-03")
    assert answer.status_code == 200
    html = answer.content.decode()
    assert "2025年3月" in html and "网格化管理考核月报" in html
    totals = assessment(actor=OPERATOR, group="grid", start=MARCH, end=APRIL).totals
    assert f'<strong>{rules.STANDARD_RATES[3].label}' not in html  # labels are spans, values strong
    assert "结案率</span>\n        <strong>" + f"{totals.closure_rate * 100:.1f}%" in html
    for group in ("village", "category", "grid", "person"):
        assert f'data-group="{group}"' in html
    assert 'data-group="town"' not in html  # one town: its figures are the key figures
    assert "<script" not in html  # nothing to run: it prints as served
    for month in ("2025-13", "march", "1999-01", "2025-3"):
        bad = page.get(f"/review/report/?month={month}")
        assert bad.status_code == 400 and "YYYY-MM" in bad.content.decode(), month
    leader = Client()
    leader.force_login(grid_leader(G1))
    html = leader.get("/review/report/?month=2025-03").content.decode()
    assert G2 not in html and "太平村" in html
