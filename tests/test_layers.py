"""The import layers of pyproject.toml's [tool.importlinter] contracts hold (lint-imports).

lint-imports runs on a copy of the installed layout (kbqa/ with ui/ as kbqa/ui/, as the wheel has
it), so the web app is checked as the interface it is. A planted upward import shows the contracts
are live.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _installed_layout(into: Path) -> Path:
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "kbqa", into / "kbqa", ignore=skip)
    if not (into / "kbqa" / "ui").exists():  # the source layout: ui/ beside kbqa/
        shutil.copytree(ROOT / "ui", into / "kbqa" / "ui", ignore=skip)
    return into


def _lint(where: Path) -> subprocess.CompletedProcess[str]:
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} not found: install the dev extras (pip install -e '.[dev]')")
    # PYTHONPATH first: the copy, not the editable install, is the `kbqa` that grimp walks.
    env = {**os.environ, "PYTHONPATH": str(where)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(ROOT / "pyproject.toml")],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_import_contracts_are_kept(tmp_path: Path):
    result = _lint(_installed_layout(tmp_path))
    assert "Analyzed" in result.stdout, result.stdout + result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path: Path):
    tree = _installed_layout(tmp_path)
    # The store reaching up into the web app (an import inside a function counts too).
    (tree / "kbqa" / "store" / "_planted.py").write_text("def f():\n    import kbqa.ui.core\n")
    result = _lint(tree)
    assert result.returncode != 0
    assert "kbqa.store is not allowed to import kbqa.ui" in result.stdout, result.stdout
    assert "kbqa.store._planted -> kbqa.ui.core" in result.stdout, result.stdout
