"""`kbqa ui` refuses to serve beyond loopback without a login, before any slow start."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from kbqa.service.access import check_binding, is_loopback, parse_auth
from kbqa.service.errors import UnsafeBinding


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_needs_no_login(host: str) -> None:
    assert is_loopback(host)
    assert check_binding(host, None) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.org"])
def test_other_addresses_need_a_login(host: str) -> None:
    with pytest.raises(UnsafeBinding, match="--auth USER:PASSWORD"):
        check_binding(host, None)
    assert check_binding(host, "alice:s3cret:with:colons") == ("alice", "s3cret:with:colons")


@pytest.mark.parametrize("value", ["alice", "alice:", ":pw", " :pw"])
def test_malformed_auth(value: str) -> None:
    with pytest.raises(Exception, match="USER:PASSWORD"):
        parse_auth(value)


def test_cli_refuses_public_binding_with_exit_code_2(kbqa_home) -> None:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "kbqa", "ui", "--host", "0.0.0.0", "--port", "7999"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without a login" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.perf_counter() - started < 15  # answered before Gradio is imported
