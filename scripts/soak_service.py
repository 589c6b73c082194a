"""The processes the soak run drives: the service (killed with -9 and restarted) and a webhook receiver."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from chain.node import free_port
from chain.toolchain import PROJECT_ROOT
from procedures.merchants.webhook_delivery import SIGNATURE_HEADER, verify


class ServiceProcess:
    """``uvicorn procedures.app:create_app --factory`` (API and workers) in its own process."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self, timeout: float = 240.0, healthy: bool = False) -> None:
        """Start and wait until it answers HTTP (``/healthz`` may say 503 while the chain is down;
        with ``healthy``, wait for a 200). ``timeout`` is a cap, not a speed check: on a 2-core machine
        shared with other test runs (load 30) a restart once took longer than 90 s.

        Raises:
            RuntimeError: it exited or did not answer in time.
        """
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "uvicorn", "procedures.app:create_app", "--factory", "--host", "127.0.0.1",
                 "--port", str(self.port), "--log-level", "warning", "--no-access-log"],
                cwd=PROJECT_ROOT, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service exited: {self.log.read_text(errors='replace')[-3000:]}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=10).status_code == 200 or not healthy:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the service did not answer" + (" healthy" if healthy else ""))
            time.sleep(0.1)

    def kill9(self) -> None:
        """SIGKILL: no shutdown hook, no flush — like a power cut."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
            self.kills += 1

    def stop(self) -> None:
        """A graceful stop (SIGTERM), killing it if it hangs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class WebhookReceiver:
    """A merchant's webhook endpoint: verifies ``Machi-Signature`` and counts events by id.

    Each merchant posts to ``/hooks/<merchant id>``; its endpoint secret is registered with
    ``expect`` once known. Duplicates are expected (retries, redeliveries) and counted separately.
    """

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.received: Counter[str] = Counter()
        self.bad_signatures = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                code = receiver.take(self.path.rsplit("/", 1)[-1], self.headers.get(SIGNATURE_HEADER, ""), body)
                self.send_response(code)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, merchant_id: str) -> str:
        """Where ``merchant_id``'s events go."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/{merchant_id}"

    def expect(self, merchant_id: str, secret: str) -> None:
        """Verify ``merchant_id``'s deliveries with ``secret`` (``whsec_…``)."""
        with self._lock:
            self.secrets[merchant_id] = secret

    def take(self, merchant_id: str, signature: str, body: bytes) -> int:
        """Record one delivery (deduplicated by the event's ``id``); 400 for a bad signature, else 200."""
        with self._lock:
            secret = self.secrets.get(merchant_id)
            if secret is None or not verify(secret, signature, body):
                self.bad_signatures += 1
                return 400
            self.received[str(json.loads(body)["id"])] += 1
            return 200

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
