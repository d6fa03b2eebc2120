"""The import commands' errors file (core.errorsfile): a CSV with a byte-order mark that a spreadsheet
opens in Chinese, holding the refused rows; no file at all when nothing was refused."""
from __future__ import annotations

from core.errorsfile import ErrorsFile


def test_refused_rows_are_written_with_a_byte_order_mark(tmp_path):
    with ErrorsFile(tmp_path / "e.csv", ["row", "field", "message"]) as errors:
        errors.add([3, "category", "无此类别 no such category"])
    assert errors.count == 1 and errors.path == tmp_path / "e.csv"
    raw = (tmp_path / "e.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.decode("utf-8-sig").splitlines() == ["row,field,message", "3,category,无此类别 no such category"]


def test_no_refused_row_leaves_no_file(tmp_path):
    with ErrorsFile(tmp_path / "e.csv", ["row", "code", "error"]) as errors:
        pass
    assert errors.path is None and not (tmp_path / "e.csv").exists()
