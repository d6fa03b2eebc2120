"""The floors of the code go one way (pyproject.toml [tool.importlinter]), and the README's code map
names the same floors in the same order."""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    assert sorted(contract["layers"]) == sorted(config["root_packages"]), "every package is on a floor"
    return contract["layers"]


def test_every_import_goes_down_a_floor():
    """import-linter reads every import of the tree (in a process of its own, clean of this one's
    imports) and checks the layers contract."""
    run = subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--no-cache"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"an import runs up the floors:\n{run.stdout[-4000:]}{run.stderr[-2000:]}"
    assert "Floors go one way KEPT" in run.stdout


def test_the_readme_code_map_lists_the_floors_top_down():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Code map", 1)[1].split("\n## ", 1)[0]
    rows = [re.match(r"\|\s*`(\w+)/?`", line) for line in section.splitlines() if line.startswith("| `")]
    assert [row.group(1) for row in rows if row] == _layers()


def test_every_package_of_the_tree_is_on_a_floor():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages == set(_layers())
