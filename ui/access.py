"""Who may reach the app: loopback only, unless a login is set. No Gradio import here."""

from __future__ import annotations

import ipaddress

from kbqa.errors import KBQAError


class UnsafeBinding(KBQAError):
    """Serving beyond this machine without a login."""


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
        raise KBQAError("--auth takes USER:PASSWORD, both parts non-empty")
    return user, password


def check_binding(host: str, auth: str | None) -> tuple[str, str] | None:
    """The login to require; refuses a non-loopback address without one (the app reads and
    deletes documents, and runs the model for whoever asks)."""
    credentials = parse_auth(auth)
    if credentials is None and not is_loopback(host):
        raise UnsafeBinding(
            f"refusing to listen on {host} without a login: anyone who can reach this machine "
            "could read and delete your documents. Add --auth USER:PASSWORD (or set "
            "KBQA_UI__AUTH), or use --host 127.0.0.1"
        )
    return credentials
