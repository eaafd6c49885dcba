"""Package list for setuptools (the rest of the metadata is in pyproject.toml).

The list is computed because pyproject.toml cannot combine `packages.find` with the `kbqa.ui` mapping:
every package under kbqa/, plus the top-level ui/ folder (and any subpackage of it) as `kbqa.ui`.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["kbqa", "kbqa.*"]),
        "kbqa.ui",
        *(f"kbqa.ui.{name}" for name in find_packages("ui")),
    ],
)
