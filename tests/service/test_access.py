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


# -- login throttling (issue 11, item 10) ------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_200_wrong_passwords_then_the_right_one_is_refused_until_the_back_off() -> None:
    import time

    from kbqa.service.access import LoginThrottle, throttled_login

    clock = _Clock()
    login = throttled_login(("alice", "pw"), LoginThrottle(clock=clock))
    started = time.perf_counter()
    accepted = [login("alice", f"guess-{i}") for i in range(200)]
    right = login("alice", "pw")
    assert time.perf_counter() - started < 0.1  # refusing costs nothing
    assert not any(accepted) and not right  # the right password is refused while locked
    throttle = login.throttle  # type: ignore[attr-defined]
    wait = throttle.retry_after("alice")
    assert 0 < wait <= 60
    clock.now += wait - 0.01
    assert not login("alice", "pw")  # still locked
    clock.now += 0.02
    assert login("alice", "pw")  # accepted after the back-off
    assert login("alice", "guess") is False and login("alice", "pw")  # a success reset it


def test_back_off_grows_and_is_capped() -> None:
    from kbqa.service.access import LoginThrottle

    clock = _Clock()
    throttle = LoginThrottle(max_failures=5, base_delay=1.0, max_delay=60.0, clock=clock)
    wrong = lambda: False  # noqa: E731
    for _ in range(4):
        assert not throttle.attempt("bob", None, wrong)
    assert throttle.retry_after("bob") == 0  # four failures: not locked yet
    delays = []
    for _ in range(9):
        throttle.attempt("bob", None, wrong)
        delays.append(throttle.retry_after("bob"))
        clock.now += delays[-1]  # wait out the lock, then fail again
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    # Attempts during a lock never reach the password check.
    throttle.attempt("bob", None, wrong)
    assert not throttle.attempt("bob", None, lambda: pytest.fail("checked while locked"))
    # A quiet window forgets the failures.
    clock.now += 400
    assert throttle.attempt("bob", None, lambda: True)


def test_throttled_per_client_across_user_names() -> None:
    from kbqa.service.access import LoginThrottle, current_client, throttled_login

    login = throttled_login(("alice", "pw"), LoginThrottle(clock=_Clock()))
    token = current_client.set("203.0.113.9")
    try:
        for i in range(5):
            assert not login(f"user{i}", "x")  # a new user name each time
        assert not login("alice", "pw")  # this client is locked out
    finally:
        current_client.reset(token)
    token = current_client.set("198.51.100.7")  # another client
    try:
        assert login("alice", "pw")
    finally:
        current_client.reset(token)


def test_throttle_is_thread_safe() -> None:
    import threading

    from kbqa.service.access import LoginThrottle

    throttle = LoginThrottle(max_failures=5, clock=_Clock())
    checks = []
    lock = threading.Lock()

    def wrong() -> bool:
        with lock:
            checks.append(1)
        return False

    def hammer() -> None:
        for _ in range(50):
            throttle.attempt("alice", None, wrong)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Only the first failures were checked (one per thread may have been in flight at the lock).
    assert 5 <= len(checks) <= 5 + len(threads)
    assert throttle.retry_after("alice") > 0


def test_sessions_choose_only_among_the_models_the_operator_allows(tmp_path) -> None:
    from kbqa.service.access import check_model_choice
    from kbqa.service.errors import ModelNotAllowed
    from kbqa.settings import Settings, UISettings

    operator = Settings(home=tmp_path)
    assert check_model_choice("smollm2-135m-instruct", operator) == "smollm2-135m-instruct"
    assert check_model_choice(operator.llm.model, operator) == operator.llm.model
    for requested in ("/srv/models/chatglm-6b", "THUDM/chatglm-6b", "../../etc"):
        with pytest.raises(ModelNotAllowed, match="ui.allowed_models") as refused:
            check_model_choice(requested, operator)
        assert refused.value.code == "model_not_allowed" and refused.value.status == 403
    listed = operator.model_copy(update={"ui": UISettings(allowed_models=["/srv/models/x"])})
    assert check_model_choice("/srv/models/x", listed) == "/srv/models/x"
    anything = operator.model_copy(update={"ui": UISettings(allowed_models=["*"])})
    assert check_model_choice("THUDM/chatglm-6b", anything) == "THUDM/chatglm-6b"
