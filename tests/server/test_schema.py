"""Schemathesis against the running server's /openapi.json: generated requests, valid and not,
to every route, each response checked against the spec (a documented status, a body matching
its schema, no 5xx). Bounded: MAX_EXAMPLES per route and mode. The chat route gets only invalid
requests (which never reach the model); uploads are left to test_kbs.py (they ingest).

The operations are walked here with Hypothesis rather than through `schema.parametrize()`: its
lazy (fixture-loaded) form needs pytest internals that pytest 9 no longer has."""

from __future__ import annotations

import time

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.server.conftest import Server

MAX_EXAMPLES = 4
TIMES: dict[str, float] = {}
SKIPPED = {("POST", "/v1/kbs/{name}/files")}  # ingests what it is sent: test_kbs.py
NEGATIVE_ONLY = {("POST", "/v1/chat/completions")}  # a valid request runs the model


def _operations(server: Server):
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    schema.config.update(headers=server.auth)
    for result in schema.get_all_operations():
        operation = result.ok()
        key = (operation.method.upper(), operation.path)
        if key not in SKIPPED:
            yield key, operation


def _run(operation, mode: GenerationMode, auth: dict[str, str]) -> None:
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case) -> None:
        response = case.call_and_validate(headers=auth)
        if mode is GenerationMode.NEGATIVE and key in NEGATIVE_ONLY:
            assert 400 <= response.status_code < 500

    key = (operation.method.upper(), operation.path)
    try:
        check()
    except Unsatisfiable:
        # Nothing in this route's request can be made invalid (no parameters, no body).
        assert mode is GenerationMode.NEGATIVE, key


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_route_follows_its_spec(server: Server, mode: GenerationMode) -> None:
    checked = []
    for key, operation in _operations(server):
        if mode is GenerationMode.POSITIVE and key in NEGATIVE_ONLY:
            continue
        started = time.perf_counter()
        _run(operation, mode, server.auth)
        TIMES[f"{mode.value} {key[0]} {key[1]}"] = time.perf_counter() - started
        checked.append(key)
    assert ("GET", "/v1/models") in checked and ("POST", "/v1/kbs/{name}/search") in checked
    if mode is GenerationMode.NEGATIVE:
        assert ("POST", "/v1/chat/completions") in checked


def teardown_module() -> None:
    for name, seconds in sorted(TIMES.items(), key=lambda item: -item[1]):
        print(f"{seconds:6.2f} s  {name}")
