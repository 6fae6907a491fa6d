"""Fetch audio from a user's URL without letting the URL reach into the server's own network (SSRF).

Only http(s). The host is resolved once per hop and every address it resolves to must be public
(not private, loopback, link-local, shared, reserved or multicast: that covers cloud metadata
endpoints such as 169.254.169.254) unless the host or address is on the allow-list. The request
then goes to the address that was checked, with the original Host header and TLS server name, so a
second DNS answer cannot redirect it (DNS rebinding). Redirects are followed by hand and each hop is
checked again. Size and total time are capped.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from studio.errors import BadInput, TooLarge
from studio.settings import Settings

MAX_REDIRECTS = 5
TOTAL_TIMEOUT_S = 30.0
TIMEOUTS = httpx.Timeout(connect=5.0, read=10.0, write=10.0, pool=5.0)
REDIRECTS = (301, 302, 303, 307, 308)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]


class UrlRefused(BadInput):
    code = "url_not_allowed"


class FetchFailed(BadInput):
    code = "url_fetch_failed"


def resolve_host(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True)
class Allowlist:
    """Host names (exact) and addresses or networks (CIDR) that may be reached although not public."""

    hosts: frozenset[str]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    @classmethod
    def parse(cls, entries: tuple[str, ...] | list[str]) -> Allowlist:
        hosts, networks = set(), []
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, host: str, ip: IPAddress) -> bool:
        return host.lower().rstrip(".") in self.hosts or any(ip in net for net in self.networks)


@dataclass(frozen=True)
class Hop:
    url: httpx.URL
    host: str
    ip: str


class UrlFetcher:
    def __init__(self, settings: Settings, *, resolve: Resolver = resolve_host) -> None:
        self.max_bytes = int(settings.max_upload_mb * 1024 * 1024)
        self.allowlist = Allowlist.parse(settings.url_allowlist)
        self.resolve = resolve

    def fetch(self, url: str, field: str) -> bytes:
        deadline = time.monotonic() + TOTAL_TIMEOUT_S
        with httpx.Client(timeout=TIMEOUTS, follow_redirects=False, trust_env=False) as client:
            for _ in range(MAX_REDIRECTS + 1):
                hop = self.check(url, field)
                location = self._get(client, hop, field, deadline)
                if isinstance(location, bytes):
                    return location
                url = str(hop.url.join(location))
        raise FetchFailed(f"{field}: more than {MAX_REDIRECTS} redirects.", param=field)

    def check(self, url: str, field: str) -> Hop:
        """Parse, resolve once and vet the address this hop will connect to."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as err:
            raise BadInput(f"{field} is not a valid URL ({err}).", param=field) from err
        if parsed.scheme not in ("http", "https"):
            raise UrlRefused(
                f"{field} must be an http:// or https:// URL (got {parsed.scheme or 'none'}).", param=field
            )
        if parsed.userinfo:
            raise UrlRefused(f"{field}: URLs with a user name or password are not accepted.", param=field)
        host = parsed.raw_host.decode("ascii")
        if not host:
            raise BadInput(f"{field} has no host name.", param=field)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            addresses = self.resolve(host.strip("[]"), port)
        except (OSError, UnicodeError) as err:
            raise FetchFailed(f"{field}: cannot resolve host {host!r} ({err}).", param=field) from err
        if not addresses:
            raise FetchFailed(f"{field}: host {host!r} has no address.", param=field)
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if not is_public(ip) and not self.allowlist.allows(host, ip):
                raise UrlRefused(
                    f"{field}: {host} resolves to {ip}, a private, loopback, link-local or reserved address; "
                    "the server does not fetch from its own network. An operator can allow it with "
                    "--url-allowlist / STUDIO_URL_ALLOWLIST.",
                    param=field,
                )
        return Hop(parsed, host, addresses[0])

    def _get(self, client: httpx.Client, hop: Hop, field: str, deadline: float) -> bytes | str:
        """The body, or the Location of a redirect."""
        pinned = hop.url.copy_with(host=hop.ip)
        headers = {"Host": hop.url.netloc.decode("ascii"), "Accept": "audio/*, */*;q=0.5"}
        extensions = {"sni_hostname": hop.host} if hop.url.scheme == "https" else {}
        try:
            with client.stream("GET", pinned, headers=headers, extensions=extensions) as response:
                if response.status_code in REDIRECTS and "location" in response.headers:
                    return response.headers["location"]
                if response.status_code >= 400:
                    raise FetchFailed(f"{field}: the server answered HTTP {response.status_code}.", param=field)
                length = response.headers.get("content-length", "")
                if length.isdigit() and int(length) > self.max_bytes:
                    raise self._too_large(field)
                return self._read(response, field, deadline)
        except httpx.TimeoutException as err:
            raise FetchFailed(f"{field}: the server did not answer in time.", param=field) from err
        except httpx.HTTPError as err:
            raise FetchFailed(f"{field}: cannot fetch {hop.host} ({err}).", param=field) from err

    def _read(self, response: httpx.Response, field: str, deadline: float) -> bytes:
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > self.max_bytes:
                raise self._too_large(field)
            if time.monotonic() > deadline:
                raise FetchFailed(f"{field}: the download took longer than {TOTAL_TIMEOUT_S:g} s.", param=field)
        return bytes(body)

    def _too_large(self, field: str) -> TooLarge:
        return TooLarge(f"{field}: the file is larger than {self.max_bytes // (1024 * 1024)} MB.", param=field)
