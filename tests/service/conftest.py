"""Fixtures for the service tests: one `Service` on the session's KBQA_HOME.

The home is the one the chain tests set up when they run first (tests/chain/conftest.py puts
KBQA_HOME there for the session), so the converted SmolLM2 and the sample knowledge base are
built once; run alone, the fresh KBQA_HOME of the test command is used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def service_settings():
    from kbqa.settings import Settings

    home = Path(os.environ["KBQA_HOME"])  # the test command always sets a fresh one
    return Settings.load(overrides={"home": str(home)})


@pytest.fixture(scope="session")
def service(service_settings) -> Iterator:
    from kbqa.service import Service

    with Service(service_settings) as service:
        yield service
