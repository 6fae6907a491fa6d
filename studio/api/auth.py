"""Bearer-key check for the API. With no key configured every request is accepted (local use)."""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Callable

from fastapi import Request

from studio.api.errors import Unauthorized
from studio.settings import Settings

log = logging.getLogger(__name__)

LOCAL_HOSTS = ("localhost",)


def bearer_auth(settings: Settings) -> Callable[[Request], None]:
    """A FastAPI dependency comparing `Authorization: Bearer KEY` with the configured key in constant time."""
    expected = settings.api_key.encode() if settings.api_key else None

    def check(request: Request) -> None:
        if expected is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise Unauthorized("Missing API key: send the header `Authorization: Bearer <key>`.")
        if not hmac.compare_digest(given.strip().encode(), expected):
            raise Unauthorized("Incorrect API key provided.")

    return check


def is_local(host: str) -> bool:
    if host in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def warn_if_exposed(settings: Settings) -> None:
    if settings.api_key or is_local(settings.host):
        return
    log.warning(
        "Serving on %s without an API key: anyone who can reach this address can use the model. "
        "Set --api-key / STUDIO_API_KEY to require one.",
        settings.host,
    )
