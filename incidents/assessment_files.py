"""The assessment as a table: the columns (the standard's counts and rates from ``incidents.rules``, in
the order the report shows them), and its files, Excel (openpyxl) and CSV, for the API's exports and the
monthly report page. One table, so the page, the workbook and the CSV cannot disagree."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from incidents import rules
from incidents.analytics import Assessment, AssessmentRow

GROUP_LABELS = {"grid": "网格 grid", "village": "村居 village", "town": "镇街 town", "category": "类别 category",
                "person": "人员 person"}


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str  # "text" | "count" | "rate" | "minutes"


PERSON_ONLY = {"presence"}  # 在岗率 is a person's (patrols): the columns of the person group only


def columns(group: str) -> list[Column]:
    """Return the table's columns of a group: the row's key and name, each count, each rate, the mean
    handling time (and 在岗率 by person)."""
    return [c for c in _COLUMNS if group == "person" or c.key not in PERSON_ONLY]


_COLUMNS = [Column("code", "编码 code", "text"), Column("name", "名称 name", "text"),
            *[Column(key, label, "count") for key, label in rules.STANDARD_COUNTS.items()],
            *[Column(r.name, r.label, "rate") for r in rules.STANDARD_RATES],
            Column("avg_handling_min", "平均处置时长(分钟) avg handling min", "minutes"),
            Column("presence", "在岗率 presence on duty", "rate")]


def cells(row: AssessmentRow, group: str) -> list:
    """Return a row's values in the group's columns' order (rates as fractions, None when undefined)."""
    values = row.as_dict()
    return [values[c.key] for c in columns(group)]


def rate_text(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def text(column: Column, value) -> str:
    """Return a value as the report page and the CSV write it."""
    if value is None:
        return "" if column.kind == "text" else "–"
    if column.kind == "rate":
        return rate_text(value)
    if column.kind == "minutes":
        return f"{value:.0f}"
    return str(value)


def title(result: Assessment) -> str:
    start, end = (timezone.localtime(t) for t in (result.start, result.end))
    return (f"考核 assessment by {GROUP_LABELS[result.group]}, {start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} "
            f"(as of {timezone.localtime(result.now):%Y-%m-%d %H:%M})")


def filename(result: Assessment, extension: str) -> str:
    start, end = (timezone.localtime(t) for t in (result.start, result.end))
    return f"assessment-{result.group}-{start:%Y%m%d}-{end:%Y%m%d}.{extension}"


def _all_rows(result: Assessment) -> list[AssessmentRow]:
    return [*result.rows, result.totals]


def csv_lines(result: Assessment) -> Iterator[str]:
    """Yield the CSV: a byte-order mark (Excel then reads UTF-8), the header, a row per key, the total."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    cols = columns(result.group)
    yield "\ufeff" + line([c.label for c in cols])
    for row in _all_rows(result):
        yield line([text(c, v) if c.kind in ("text", "minutes") or v is None else v
                    for c, v in zip(cols, cells(row, result.group), strict=True)])


def xlsx_bytes(result: Assessment, *, generated: datetime | None = None) -> bytes:
    """Return the workbook: one sheet, a title line, the header, a row per key and the total; rates are
    numbers formatted as percentages, so they can be summed and charted."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("考核 assessment")
    bold = Font(bold=True)

    def styled(value, *, font=None, number_format=None) -> WriteOnlyCell:
        cell = WriteOnlyCell(sheet, value=value)
        if font is not None:
            cell.font = font
        if number_format is not None:
            cell.number_format = number_format
        return cell

    cols = columns(result.group)
    sheet.column_dimensions["B"].width = 28
    sheet.append([styled(title(result), font=bold)])
    moment = timezone.localtime(generated or timezone.now())
    sheet.append([f"生成 generated {moment:%Y-%m-%d %H:%M}; 口径 definitions: GB/T 30428.4, incidents/rules.py"])
    sheet.append([styled(c.label, font=bold) for c in cols])
    for row in _all_rows(result):
        font = bold if row is result.totals else None
        sheet.append([styled(v, font=font, number_format="0.0%" if c.kind == "rate" else
                             ("0" if c.kind == "minutes" else None))
                      for c, v in zip(cols, cells(row, result.group), strict=True)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# The columns the printed report shows (an A4 page across): the rest are in the Excel and CSV files.
REPORT_COLUMNS = ["name", "accepted", "registration_rate", "dispatch_rate", "accurate_dispatch_rate", "due_to_close",
                  "closed", "closure_rate", "on_time_rate", "rework_rate", "extension_rate", "visits",
                  "satisfaction_rate", "found_and_fixed", "avg_handling_min", "overdue_now", "presence"]


def report_table(result: Assessment) -> dict:
    """Return the report's table of ``result``: the header and a row of texts per key, and the total."""
    cols = {c.key: c for c in columns(result.group)}
    shown = [cols[key] for key in REPORT_COLUMNS if key in cols]

    def texts(row: AssessmentRow) -> list[str]:
        values = row.as_dict()
        return [text(c, values[c.key]) for c in shown]

    return {"header": [c.label for c in shown], "numeric": [c.kind != "text" for c in shown],
            "rows": [texts(r) for r in result.rows], "total": texts(result.totals)}
