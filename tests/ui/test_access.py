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


@pytest.mark.slow
def test_real_server_throttles_logins(tmp_path) -> None:
    """`kbqa ui --auth` on 127.0.0.1: wrong logins from one client, or 200 wrong passwords for
    the user, lock the login (locks of 1 s, then 2 s: the test caps them there); the right
    password is refused during the lock and accepted once it ends."""
    import httpx

    from tests.ui.conftest import start_server, stop_server

    server = start_server(
        tmp_path,
        "throttle",
        "--auth",
        "alice:open-sesame",
        env={"KBQA_UI__LOGIN_BACKOFF_S": "1", "KBQA_UI__LOGIN_BACKOFF_MAX_S": "2"},
    )

    def login(password: str, user: str = "alice") -> int:
        data = {"username": user, "password": password}
        return httpx.post(server.url + "/login", data=data, timeout=30).status_code

    try:
        # Per client too: five user names tried from this address lock it out for alice.
        assert [login("x", user=f"user{i}") for i in range(5)] == [400] * 5
        assert login("open-sesame") == 400
        time.sleep(1.1)
        assert login("open-sesame") == 200  # and a success resets
        codes = [login(f"guess{i}") for i in range(200)]
        assert codes == [400] * 200, server.log_tail()
        assert login("open-sesame") == 400  # locked: the right password is refused too
        waited = time.monotonic()
        while login("open-sesame") != 200:
            assert time.monotonic() - waited < 5, "still locked after the longest back-off"
            time.sleep(0.25)
    finally:
        stop_server(server)


@pytest.mark.slow
def test_a_session_cannot_make_the_server_load_a_folder_it_names(tmp_path) -> None:
    """Even with the operator's trust_remote_code on, a UI request naming a checkpoint folder
    with its own Python (auto_map) is refused unless the operator allowed that model; the
    folder's code never runs."""
    from gradio_client import Client

    from tests.llm import tiny
    from tests.llm.test_chatglm import _marked
    from tests.ui.conftest import start_server, stop_server

    marker = tmp_path / "remote-code-ran"
    folder = _marked(tiny.save_tiny_chatglm(tmp_path / "chatglm-6b"), marker)
    server = start_server(tmp_path, "models", env={"KBQA_LLM__TRUST_REMOTE_CODE": "true"})
    try:
        client = Client(server.url, verbose=False)
        with pytest.raises(Exception, match="not among the models|not in the list of choices"):
            client.predict(str(folder), "none", 5, 0.0, 0.0, api_name="/on_settings")
        # The refusal is the server's own, not only the dropdown's: a registry name passes.
        client.predict("smollm2-135m-instruct", "none", 5, 0.0, 0.0, api_name="/on_settings")
        client.predict("hello", [], api_name="/on_ask")
    finally:
        stop_server(server)
    assert not marker.exists()
