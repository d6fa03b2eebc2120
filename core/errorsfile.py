"""The errors file of an import command: a CSV of the rows it refused (the row, what is wrong with it),
written as the import goes and removed when nothing was refused, so that its presence alone says
something needs fixing. UTF-8 with a byte-order mark, so a spreadsheet on a town's PC opens the Chinese
messages as they are."""
from __future__ import annotations

import csv
from pathlib import Path


class ErrorsFile:
    """``with ErrorsFile(path, ["row", "field", "message"]) as errors: errors.add([...])``; afterwards
    ``errors.count`` rows were written and ``errors.path`` is None when there were none (file removed)."""

    def __init__(self, path: Path | str, header: list[str]):
        self.path: Path | None = Path(path)
        self.header, self.count, self._fh, self._out = header, 0, None, None

    def __enter__(self) -> ErrorsFile:
        self._fh = self.path.open("w", encoding="utf-8-sig", newline="")
        self._out = csv.writer(self._fh)
        self._out.writerow(self.header)
        return self

    def add(self, row: list) -> None:
        self._out.writerow(row)
        self.count += 1

    def __exit__(self, *exc_info) -> None:
        self._fh.close()
        if not self.count:
            self.path.unlink()
            self.path = None
