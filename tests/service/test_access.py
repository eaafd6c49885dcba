"""Bind and credential checks, and errors as data."""

from __future__ import annotations

import pytest

from kbqa.errors import EmbedderMismatch, KBQAError, ModelError
from kbqa.service import (
    InvalidCredentials,
    KnowledgeBaseNotFound,
    UnsafeBinding,
    check_bearer,
    check_binding,
    check_login,
    check_token_binding,
    error_info,
    is_loopback,
)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"])
def test_loopback_needs_no_login(host: str) -> None:
    assert is_loopback(host)
    assert check_binding(host, None) is None
    assert check_token_binding(host, None) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "example.org", "::"])
def test_beyond_loopback_needs_a_login_or_token(host: str) -> None:
    with pytest.raises(UnsafeBinding) as caught:
        check_binding(host, None)
    assert error_info(caught.value).code == "unsafe_binding"
    assert caught.value.params == {"host": host}
    assert check_binding(host, "alice:s3cret:with:colons") == ("alice", "s3cret:with:colons")
    with pytest.raises(UnsafeBinding):
        check_token_binding(host, None)
    assert check_token_binding(host, "t0ken") == "t0ken"


@pytest.mark.parametrize("auth", ["alice", ":pw", "alice:", " :pw"])
def test_malformed_login_is_refused(auth: str) -> None:
    with pytest.raises(InvalidCredentials) as caught:
        check_binding("127.0.0.1", auth)
    assert error_info(caught.value).code == "invalid_credentials"
    with pytest.raises(InvalidCredentials):
        check_token_binding("127.0.0.1", "  ")


def test_login_and_bearer_checks() -> None:
    assert check_login("anyone", "anything", None)
    assert check_login("alice", "pw", ("alice", "pw"))
    assert not check_login("alice", "pW", ("alice", "pw"))
    assert not check_login("bob", "pw", ("alice", "pw"))
    assert check_bearer(None, None)
    assert check_bearer("Bearer t0ken", "t0ken")
    assert check_bearer("bearer  t0ken ", "t0ken")
    assert not check_bearer("Bearer t0ke", "t0ken")
    assert not check_bearer("Basic t0ken", "t0ken")
    assert not check_bearer(None, "t0ken")


def test_error_info_gives_codes_and_statuses() -> None:
    assert error_info(KnowledgeBaseNotFound("no kb", name="x")).status == 404
    assert error_info(KnowledgeBaseNotFound("no kb", name="x")).params == {"name": "x"}
    assert error_info(EmbedderMismatch("m")).code == "embedder_mismatch"
    assert error_info(ModelError("m")).code == "model_error"
    assert error_info(KBQAError("m")).code == "error"
    internal = error_info(RuntimeError("boom"))
    assert internal.code == "internal" and internal.status == 500 and not internal.user_error
