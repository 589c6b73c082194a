"""Plumbing for the story driver (``scripts.demo``): running the real CLIs with a transcript, talking to
the REST API, waiting for the chain, and a merchant's webhook receiver.

Nothing here knows the story; ``scripts.demo_story`` tells it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx

from chain.toolchain import PROJECT_ROOT

__all__ = ["Api", "CliRun", "DemoError", "Delivery", "Transcript", "WebhookReceiver", "verify_machi_signature",
           "wait_for"]

T = TypeVar("T")
#: The project's console scripts, next to the interpreter running the demo (the venv's bin/).
BIN = Path(sys.executable).parent


class DemoError(RuntimeError):
    """A step of the story did not come out as expected (the message says which and why).

    ``result`` carries what the story had done so far (its transcript helps to see why)."""

    result: Any = None


def wait_for(probe: Callable[[], T | None], what: str, timeout: float = 120.0, interval: float = 0.3) -> T:
    """Call ``probe`` until it returns something other than ``None``; that value.

    Raises:
        DemoError: ``timeout`` seconds passed first.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise DemoError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(interval)


# --------------------------------------------------------------------------- command lines
@dataclass(frozen=True)
class CliRun:
    """One finished command: what ran, its exit status and everything it printed."""

    who: str
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Transcript:
    """Every command the story ran, with its output (the log scan reads it)."""

    runs: list[CliRun] = field(default_factory=list)

    def run(self, who: str, program: str, *args: str, env: Mapping[str, str], cwd: Path = PROJECT_ROOT,
            ok: bool = True, timeout: float = 300.0) -> CliRun:
        """Run ``program`` (a console script of this venv) and record it.

        Raises:
            DemoError: ``ok`` and the command failed.
        """
        completed = subprocess.run([str(BIN / program), *args], env=dict(env), cwd=cwd, capture_output=True,
                                   text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)
        result = CliRun(who, (program, *args), completed.returncode, completed.stdout, completed.stderr)
        self.runs.append(result)
        if ok and completed.returncode != 0:
            last = (result.output.strip().splitlines() or ["no output"])[-1]
            raise DemoError(f"`{program} {args[0] if args else ''}` for {who} failed: {last}")
        return result


# --------------------------------------------------------------------------- the REST API
class Api:
    """The service's REST API with one error line per failure.

    Args:
        base_url: e.g. ``http://127.0.0.1:8000``.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=60.0)

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, path: str, *, token: str | None = None, expect: tuple[int, ...] = (200, 201, 202),
             **kwargs: Any) -> httpx.Response:
        """One request; the response when its status is in ``expect``.

        Raises:
            DemoError: another status, or the service is unreachable.
        """
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise DemoError(f"cannot reach {self.base_url}{path} ({type(exc).__name__}); is `make run` running?") \
                from None
        if response.status_code not in expect:
            raise DemoError(f"{method} {path} answered {response.status_code}: {response.text[:300]}")
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """``call`` and its JSON body."""
        body = self.call(method, path, **kwargs).json()
        assert isinstance(body, dict)
        return body

    def until(self, path: str, token: str, field_: str, wanted: str | set[str], what: str,
              timeout: float = 120.0) -> dict[str, Any]:
        """Poll ``GET path`` until ``field_`` is ``wanted`` (or one of them); refuse 'failed' at once."""
        targets = {wanted} if isinstance(wanted, str) else wanted

        def probe() -> dict[str, Any] | None:
            body = self.json("GET", path, token=token)
            if body[field_] in targets:
                return body
            if body[field_] == "failed":
                raise DemoError(f"{what} failed: {body}")
            return None

        return wait_for(probe, what, timeout)

    def staff_token(self, username: str, password: str) -> str:
        """Log a staff account in; its bearer token."""
        body = self.json("POST", "/v1/auth/staff/token", json={"username": username, "password": password})
        return str(body["access_token"])


# --------------------------------------------------------------------------- webhooks
def verify_machi_signature(secret: str, header: str, body: bytes, tolerance: int = 300,
                            received_at: float | None = None) -> bool:
    """True if ``body`` was signed by Machi Ledger with ``secret`` less than ``tolerance`` seconds before it
    arrived (``received_at``, a Unix time; default: now — check as the request comes in).

    What a merchant copies from the README (section Webhooks)."""
    try:
        fields = [part.split("=", 1) for part in header.split(",")]
        timestamp = int(next(value for key, value in fields if key == "t"))
        signatures = [value for key, value in fields if key == "v1"]
    except (ValueError, StopIteration):
        return False
    if abs((time.time() if received_at is None else received_at) - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, signature) for signature in signatures)


@dataclass(frozen=True)
class Delivery:
    """One POST the receiver got: the signature header and the raw body, as sent."""

    signature: str
    body: bytes
    received_at: float

    @property
    def event(self) -> dict[str, Any]:
        value = json.loads(self.body)
        assert isinstance(value, dict)
        return value


class WebhookReceiver:
    """A merchant's webhook endpoint: a real HTTP server on 127.0.0.1 that keeps every delivery and
    answers 200. Use as a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.deliveries.append(Delivery(self.headers.get("Machi-Signature", ""), body, time.time()))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet, the story prints
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/machi-webhooks"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_event(self, event_type: str, object_id: str, timeout: float = 120.0) -> Delivery:
        """The first delivery of ``event_type`` about ``object_id``."""
        def probe() -> Delivery | None:
            with self._lock:
                for delivery in self.deliveries:
                    event = delivery.event
                    if event.get("type") == event_type and event["data"]["object"].get("id") == object_id:
                        return delivery
            return None

        return wait_for(probe, f"the webhook {event_type} for {object_id}", timeout)
