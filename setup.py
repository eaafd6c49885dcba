"""Package list for setuptools (the rest of the metadata and the folder mapping: pyproject.toml).

Computed here because pyproject.toml cannot combine `packages.find` with a package-dir mapping:
every package under kbqa/, the top-level ui/ folder (and any subpackage of it) as `kbqa.ui`, and
the data folders prompts/ and knowledge/ as `kbqa._data.*`.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["kbqa", "kbqa.*"]),
        "kbqa.ui",
        *(f"kbqa.ui.{name}" for name in find_packages("ui")),
        "kbqa._data.prompts",
        "kbqa._data.knowledge",
    ],
)
