"""The URL fetcher against a real HTTP server on 127.0.0.1: private addresses refused unless allow-listed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from studio.api import fetch
from studio.api.fetch import FetchFailed, UrlFetcher, UrlRefused
from studio.errors import BadInput, TooLarge
from studio.settings import Settings


class Handler(BaseHTTPRequestHandler):
    body = b""
    seen: list[tuple[str, str]] = []  # noqa: RUF012 (set per server below)

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Host", "")))
        if self.path.startswith("/redirect?to="):
            self.send_response(302)
            self.send_header("Location", self.path.split("=", 1)[1])
            self.end_headers()
        elif self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
        elif self.path == "/slow":
            time.sleep(1.5)
            self.send_response(200)
            self.end_headers()
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b"400\r\n" + b"x" * 1024 + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/clip.wav":
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Content-Length", str(len(self.body)))
            self.end_headers()
            self.wfile.write(self.body)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server(examples) -> Iterator[tuple[str, type[Handler]]]:
    handler = type("ClipHandler", (Handler,), {"body": examples["en_happy_prompt"].path.read_bytes(), "seen": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()


def fetcher(tmp_path: Path, *allow: str, max_mb: float = 25.0, resolve=fetch.resolve_host) -> UrlFetcher:
    settings = Settings(data_dir=tmp_path, url_allowlist=allow, max_upload_mb=max_mb)
    return UrlFetcher(settings, resolve=resolve)


def test_loopback_is_refused_by_default(server, tmp_path: Path) -> None:
    base, handler = server
    before = len(handler.seen)
    for url in (f"{base}/clip.wav", base.replace("127.0.0.1", "localhost") + "/clip.wav"):
        with pytest.raises(UrlRefused, match=r"127\.0\.0\.1.*--url-allowlist") as err:
            fetcher(tmp_path).fetch(url, "step_audio.prompt_audio_url")
        assert err.value.param == "step_audio.prompt_audio_url"
    assert len(handler.seen) == before  # refused before connecting


@pytest.mark.parametrize("allow", ["127.0.0.1", "127.0.0.0/8"])
def test_allow_listed_address_is_fetched(server, tmp_path: Path, examples, allow: str) -> None:
    base, _ = server
    data = fetcher(tmp_path, allow).fetch(f"{base}/clip.wav", "url")
    assert data == examples["en_happy_prompt"].path.read_bytes()


def test_redirects_are_checked_again(server, tmp_path: Path, examples) -> None:
    base, handler = server
    allowed = fetcher(tmp_path, "127.0.0.1")
    assert allowed.fetch(f"{base}/redirect?to=/clip.wav", "url") == examples["en_happy_prompt"].path.read_bytes()
    for private in ("http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/x.wav", "http://[::1]:9/x.wav"):
        before = len(handler.seen)
        with pytest.raises(UrlRefused):
            allowed.fetch(f"{base}/redirect?to={private}", "url")
        assert len(handler.seen) == before + 1  # only the redirecting hop was requested
    with pytest.raises(FetchFailed, match="redirects"):
        allowed.fetch(f"{base}/loop", "url")


def test_connects_to_the_checked_address_with_the_original_host(server, tmp_path: Path) -> None:
    """Resolve once, connect to that address: a second DNS answer (rebinding) is never consulted."""
    base, handler = server
    port = int(base.rsplit(":", 1)[1])
    lookups: list[str] = []

    def resolve(host: str, _: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"] if len(lookups) == 1 else ["203.0.113.9"]

    data = fetcher(tmp_path, "127.0.0.1", resolve=resolve).fetch(f"http://media.example:{port}/clip.wav", "url")
    assert data and lookups == ["media.example"]
    assert handler.seen[-1] == ("/clip.wav", f"media.example:{port}")


def test_any_private_answer_refuses_the_host(tmp_path: Path) -> None:
    mixed = fetcher(tmp_path, resolve=lambda host, port: ["93.184.216.34", "192.168.1.10"])
    with pytest.raises(UrlRefused, match=r"192\.168\.1\.10"):
        mixed.fetch("http://media.example/clip.wav", "url")


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/x",
        "http://0.0.0.0:8080/",
        "http://224.0.0.1/",
    ],
)
def test_metadata_and_special_addresses_are_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(UrlRefused):
        fetcher(tmp_path).fetch(url, "url")


@pytest.mark.parametrize(
    ("url", "error", "message"),
    [
        ("file:///etc/passwd", UrlRefused, "http"),
        ("ftp://example.com/a.wav", UrlRefused, "http"),
        ("gopher://127.0.0.1:70/", UrlRefused, "http"),
        ("http://user:secret@example.com/a.wav", UrlRefused, "password"),
        ("http:///nohost", BadInput, "host"),
        ("http://no-such-host.invalid/a.wav", FetchFailed, "cannot resolve"),
    ],
)
def test_bad_urls(tmp_path: Path, url: str, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        fetcher(tmp_path).fetch(url, "url")


def test_size_and_status_limits(server, tmp_path: Path) -> None:
    base, _ = server
    small = fetcher(tmp_path, "127.0.0.1", max_mb=0.02)
    with pytest.raises(TooLarge, match="larger than"):
        small.fetch(f"{base}/clip.wav", "url")  # Content-Length says so
    with pytest.raises(TooLarge):
        small.fetch(f"{base}/chunked", "url")  # no length: counted while reading
    with pytest.raises(FetchFailed, match="HTTP 404"):
        small.fetch(f"{base}/missing.wav", "url")


def test_a_server_that_does_not_answer_times_out(server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base, _ = server
    monkeypatch.setattr(fetch, "TIMEOUTS", httpx.Timeout(0.3))
    with pytest.raises(FetchFailed, match="in time"):
        fetcher(tmp_path, "127.0.0.1").fetch(f"{base}/slow", "url")
