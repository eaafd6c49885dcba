"""Packaging, as a user meets it: a wheel built from the repository answers from any directory,
and an editable install is not shadowed by a folder named kbqa beside the user's script.

Each test installs kbqa for real into a fresh virtual environment. The dependencies (torch and the
rest) are not installed again: a .pth line in the new venv names this venv's site-packages. A
directory added by a .pth line is appended to sys.path, but the .pth files inside it (among them
this checkout's editable finder) are not run, so the kbqa imported is the one under test; each test
checks where it came from.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

# What a build needs from a checkout (the rest, .venv and tests included, would only slow the copy).
SOURCE = [
    "pyproject.toml",
    "setup.py",
    "README.md",
    "kbqa",
    "ui",
    "prompts",
    "knowledge",
    "scripts",
]


def _copy_source(dest: Path) -> Path:
    """The buildable part of this checkout, copied: builds write build/ and *.egg-info beside the
    sources, and several builds (or agents) must not share them."""
    dest.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    for name in SOURCE:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)
    return dest


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KBQA_SAMPLE_DIR")}
    return {**env, "KBQA_HOME": str(home), "PYTHONIOENCODING": "utf-8"}


def _run(args: list[str | Path], cwd: Path, env: dict[str, str], timeout: float = 300):
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
    )


def _fresh_venv(path: Path) -> Path:
    """A new venv whose dependencies come from this one (see the module docstring); its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # This venv's site-packages, and any such folder it reaches the same way (a venv layered on
    # another); never the checkout, which is on sys.path too.
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    ours |= {p for p in sys.path if Path(p).name in ("site-packages", "dist-packages")}
    (Path(site) / "kbqa-deps.pth").write_text("\n".join(sorted(ours)) + "\n")
    return python


def _pip(python: Path, *args: str | Path, cwd: Path) -> None:
    # pip itself comes from this venv; --no-build-isolation: setuptools too (no network needed).
    result = _run(
        [python, "-m", "pip", "-q", "--disable-pip-version-check", *args], cwd, os.environ
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_wheel_answers_from_another_directory(tmp_path: Path):
    source = _copy_source(tmp_path / "src")
    dist = tmp_path / "dist"
    _pip(
        Path(sys.executable),
        "wheel",
        source,
        "--no-deps",
        "--no-build-isolation",
        "-w",
        dist,
        cwd=tmp_path,
    )
    (wheel,) = dist.glob("kbqa-*.whl")

    names = set(zipfile.ZipFile(wheel).namelist())
    top_level = {n.split("/")[0] for n in names if not n.startswith("kbqa-")}
    assert top_level == {"kbqa"}  # no top-level ui (or prompts, knowledge) package
    # Every module of kbqa/ and ui/ is in it (the package list in setup.py is complete) ...
    modules = {f"kbqa/{p.relative_to(source / 'kbqa')}" for p in (source / "kbqa").rglob("*.py")}
    modules |= {f"kbqa/ui/{p.relative_to(source / 'ui')}" for p in (source / "ui").rglob("*.py")}
    assert modules - names == set()
    # ... and so are the prompts and the sample documents, all of them.
    for folder in ("prompts", "knowledge"):
        files = [p for p in (REPO / folder).rglob("*") if p.is_file()]
        assert files
        for path in files:
            assert f"kbqa/_data/{folder}/{path.relative_to(REPO / folder).as_posix()}" in names

    venv = tmp_path / "venv"
    python = _fresh_venv(venv)
    _pip(python, "install", "--no-deps", "--no-index", wheel, cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _env(tmp_path / "home")

    # Where things come from, and the --prompt override on top of the installed prompts.
    custom = tmp_path / "my-prompts"
    custom.mkdir()
    (custom / "qa.zh.txt").write_text("{context}\n\n问题：{question}\n", encoding="utf-8")
    probe = textwrap.dedent(
        """
        import importlib, importlib.util, json, pkgutil, sys
        import kbqa, kbqa.ui
        from kbqa import resources
        from kbqa.chain.prompts import PromptSet

        # Every module of the web app imports (a stray `from ui...` would fail here: in a
        # checkout the repository root is on sys.path, so only the wheel can catch it).
        for module in pkgutil.walk_packages(kbqa.ui.__path__, "kbqa.ui."):
            importlib.import_module(module.name)
        prompts = PromptSet(prompt_dir=sys.argv[1])
        print(json.dumps({
            "kbqa": kbqa.__file__, "kbqa_ui": kbqa.ui.__file__,
            "no_ui": importlib.util.find_spec("ui") is None and "ui" not in sys.modules,
            "prompts": str(resources.prompts_dir()), "knowledge": str(resources.knowledge_dir()),
            "qa_zh": str(prompts.qa("zh").path), "qa_en": str(prompts.qa("en").path),
        }))
        """
    )
    result = _run([python, "-c", probe, custom], elsewhere, env)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    installed = venv.resolve() / "lib"
    for key in ("kbqa", "kbqa_ui", "prompts", "knowledge", "qa_en"):
        assert Path(found[key]).resolve().is_relative_to(installed), (key, found[key])
    assert found["no_ui"], "a top-level `ui` package is importable"
    assert found["knowledge"].endswith(os.path.join("kbqa", "_data", "knowledge"))
    assert found["qa_zh"] == str(custom / "qa.zh.txt")  # the override; qa.en falls back

    # The README's main command, as a user runs it: fresh home, sample KB built on first use.
    result = _run([venv / "bin" / "kbqa", "ask", "ChatGLM-6B 有多少参数？"], elsewhere, env, 1200)
    assert result.returncode == 0, result.stderr
    assert "first use" in result.stderr
    assert os.path.join("kbqa", "_data", "knowledge") in result.stderr  # from the installed data
    answer, _, sources = result.stdout.partition("来源：")
    assert "62" in answer and "亿" in answer, result.stdout
    assert "chatglm-6b.zh.md" in sources


def test_editable_install_is_not_shadowed_by_the_clone_folder(tmp_path: Path):
    # The repository "cloned" to X/kbqa, a user's script in X: X is sys.path[0], and X/kbqa (no
    # __init__.py) is a namespace package candidate that must not win over the real kbqa/.
    outer = tmp_path / "X"
    clone = _copy_source(outer / "kbqa")
    python = _fresh_venv(tmp_path / "venv")
    _pip(python, "install", "--no-deps", "--no-build-isolation", "-e", clone, cwd=tmp_path)
    script = outer / "use_kbqa.py"
    script.write_text(
        "import json, kbqa, kbqa.ui\n"
        "from kbqa import KnowledgeBase\n"
        "from kbqa import resources\n"
        "print(json.dumps({'kbqa': kbqa.__file__, 'ui': kbqa.ui.__file__,\n"
        "  'prompts': str(resources.prompts_dir())}))\n"
    )
    env = _env(tmp_path / "home")
    result = _run([python, script.name], outer, env)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found == {
        "kbqa": str(clone / "kbqa" / "__init__.py"),
        "ui": str(clone / "ui" / "__init__.py"),
        "prompts": str(clone / "prompts"),
    }

    # Control: without the static .pth line kbqa's build backend adds, the bug is back.
    (root_pth,) = (tmp_path / "venv").glob("lib/python*/site-packages/__editable__.kbqa-root.pth")
    assert root_pth.read_text().strip() == str(clone)
    root_pth.unlink()
    result = _run([python, script.name], outer, env)
    assert result.returncode != 0
    assert "unknown location" in result.stderr
