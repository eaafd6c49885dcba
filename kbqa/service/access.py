"""Who may reach a server (the web app, the REST API): loopback only, unless a login or token is
set; credentials compared in constant time. No web framework imported here."""

from __future__ import annotations

import hmac
import ipaddress

from kbqa.service.errors import InvalidCredentials, UnsafeBinding


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
