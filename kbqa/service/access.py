"""Who may reach a server (the web app, the REST API): loopback only, unless a login or token is
set; credentials compared in constant time; failed logins throttled (`LoginThrottle`). No web
framework imported here."""

from __future__ import annotations

import hmac
import ipaddress
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kbqa.service.errors import InvalidCredentials, ModelNotAllowed, UnsafeBinding

if TYPE_CHECKING:
    from kbqa.settings import Settings


def allowed_models(settings: Settings) -> list[str]:
    """The models a session may choose: the catalog's, the configured one, and the operator's
    `ui.allowed_models` ("*" among them allows any name or folder)."""
    from kbqa.llm.catalog import CATALOG

    names = [settings.llm.model, *(spec.name for spec in CATALOG), *settings.ui.allowed_models]
    return list(dict.fromkeys(names))


def check_model_choice(name: str, settings: Settings) -> str:
    """`name` if a session may switch to it, else ModelNotAllowed: a request never makes the
    server load (and, with the operator's trust_remote_code, run) a folder it names itself."""
    allowed = allowed_models(settings)
    if name in allowed or "*" in allowed:
        return name
    shown = ", ".join(a for a in allowed if a != "*")
    raise ModelNotAllowed(
        f"model {name!r} is not among the models this server allows ({shown}); the operator "
        "adds others to ui.allowed_models",
        name=name,
    )


def is_loopback(host: str) -> bool:
    """True when `host` only accepts connections from this machine."""
    if host.strip().lower() in {"localhost", "localhost.", "ip6-localhost"}:
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to a public address


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """ "USER:PASSWORD" as a (user, password) pair; None when unset."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user.strip() or not password:
        raise InvalidCredentials("--auth takes USER:PASSWORD, both parts non-empty")
    return user, password


def check_binding(host: str, auth: str | None) -> tuple[str, str] | None:
    """The login to require; refuses a non-loopback address without one (the app reads and
    deletes documents, and runs the model for whoever asks)."""
    credentials = parse_auth(auth)
    if credentials is None and not is_loopback(host):
        raise UnsafeBinding(
            f"refusing to listen on {host} without a login: anyone who can reach this machine "
            "could read and delete your documents. Add --auth USER:PASSWORD (or set "
            "KBQA_UI__AUTH), or use --host 127.0.0.1",
            host=host,
        )
    return credentials


def check_token_binding(host: str, token: str | None) -> str | None:
    """The bearer token to require (for `kbqa serve`); refuses a non-loopback address without one."""
    if token is not None and not token.strip():
        raise InvalidCredentials("--token must not be empty")
    if not token and not is_loopback(host):
        raise UnsafeBinding(
            f"refusing to listen on {host} without a token: anyone who can reach this machine "
            "could read and delete your documents. Add --token TOKEN, or use --host 127.0.0.1",
            host=host,
        )
    return token or None


def same_secret(given: str | None, expected: str) -> bool:
    """`given == expected`, in time that does not depend on where they differ."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def check_login(user: str, password: str, expected: tuple[str, str] | None) -> bool:
    """Whether (user, password) is the required login (always True when none is required).
    Both parts are always compared, so the time says nothing about which one was wrong."""
    if expected is None:
        return True
    user_ok = same_secret(user, expected[0])
    password_ok = same_secret(password, expected[1])
    return user_ok and password_ok


def check_bearer(header: str | None, token: str | None) -> bool:
    """Whether an `Authorization` header carries the required bearer token (True when none is)."""
    if token is None:
        return True
    scheme, _, value = (header or "").partition(" ")
    return scheme.lower() == "bearer" and same_secret(value.strip(), token)


# -- login throttling ----------------------------------------------------------------------------

#: the address of the client whose request is being handled (set by the UI's middleware), so a
#: login check that only gets (user, password) can throttle per client too
current_client: ContextVar[str | None] = ContextVar("kbqa_login_client", default=None)


@dataclass
class _Record:
    failures: list[float] = field(default_factory=list)  # times of recent failures
    locks: int = 0  # locks so far: the next lasts base_delay * 2**locks
    locked_until: float = 0.0
    seen: float = 0.0


class LoginThrottle:
    """Refuses logins for a while after repeated failures, per user name and per client.

    After `max_failures` failed attempts within `window` seconds for one key (the user name
    tried, and the client's address when known), every attempt for that key is refused without
    looking at the password for a back-off period: `base_delay` seconds for the first lock, then
    doubling with each further failure while the key stays over the limit (1, 2, 4 ... seconds),
    at most `max_delay`. The right password is refused during a lock too. A success resets
    its keys; a key with no failure for `window` seconds is forgotten.

    The state is in memory (a restart forgets it), bounded (`max_keys`: the least recently seen
    keys go first) and guarded by one lock, so the login route may call it from any thread.
    Locking out a user name also locks out its rightful owner for that while: the price of
    bounding how fast anyone can guess (at most about `max_failures` guesses per `window` and
    then one per `max_delay` seconds).
    """

    def __init__(
        self,
        *,
        max_failures: int = 5,
        window: float = 300.0,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_failures < 1 or window <= 0 or base_delay <= 0 or max_delay < base_delay:
            raise ValueError("login throttle: max_failures >= 1, window > 0, 0 < base <= max delay")
        self.max_failures = max_failures
        self.window = window
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_keys = max_keys
        self.clock = clock
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    @staticmethod
    def keys(user: str, client: str | None = None) -> list[str]:
        return [f"user:{user}"] + ([f"client:{client}"] if client else [])

    def retry_after(self, user: str, client: str | None = None) -> float:
        """Seconds until `user` (from `client`) may try again; 0 when it may now."""
        with self._lock:
            now = self.clock()
            return self._wait(self.keys(user, client), now)

    def _wait(self, keys: list[str], now: float) -> float:
        waits = [r.locked_until - now for k in keys if (r := self._records.get(k)) is not None]
        return max([0.0, *waits])

    def attempt(self, user: str, client: str | None, check: Callable[[], bool]) -> bool:
        """Run `check` (the credential comparison) unless `user` or `client` is locked out,
        and record its outcome. False while locked, whatever `check` would say."""
        keys = self.keys(user, client)
        with self._lock:
            now = self.clock()
            if self._wait(keys, now) > 0:
                return False
        ok = check()  # outside the lock: the comparison may take its time
        with self._lock:
            now = self.clock()
            if ok:
                for key in keys:
                    self._records.pop(key, None)
                return True
            for key in keys:
                self._failed(key, now)
            self._prune(now)
        return False

    def _failed(self, key: str, now: float) -> None:
        record = self._records.setdefault(key, _Record())
        if record.failures and now - record.failures[-1] > self.window:
            record.failures.clear()
            record.locks = 0  # a quiet window: start over
        record.failures = [t for t in record.failures if now - t <= self.window] + [now]
        record.seen = now
        if len(record.failures) >= self.max_failures:
            delay = min(self.max_delay, self.base_delay * 2**record.locks)
            record.locked_until = now + delay
            record.locks += 1

    def _prune(self, now: float) -> None:
        if len(self._records) <= self.max_keys:
            return
        for key, record in list(self._records.items()):
            if now - record.seen > self.window and record.locked_until <= now:
                del self._records[key]
        while len(self._records) > self.max_keys:
            oldest = min(self._records, key=lambda k: self._records[k].seen)
            del self._records[oldest]


def throttled_login(
    expected: tuple[str, str], throttle: LoginThrottle | None = None
) -> Callable[[str, str], bool]:
    """A `(user, password) -> bool` login check for Gradio's `auth=`: `check_login` behind
    `throttle` (a default `LoginThrottle` when None), per user name and per client address
    (`current_client`, when the server's middleware sets it)."""
    guard = throttle or LoginThrottle()

    def login(user: str, password: str) -> bool:
        return guard.attempt(
            user, current_client.get(), lambda: check_login(user, password, expected)
        )

    login.throttle = guard  # type: ignore[attr-defined]
    return login
