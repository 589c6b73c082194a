"""Fault injection between the service and its chain node: a TCP proxy that can be cut.

``RpcProxy`` forwards a local port to a node's JSON-RPC port. ``down("refuse")`` closes the
listening socket and resets every open connection (a node that crashed or a firewall that
rejects); ``down("stall")`` keeps accepting but forwards nothing either way (a hung node or a
black-holed network: callers only notice through their timeouts); ``up()`` restores forwarding.
The node itself keeps running and keeps its state, so what the service sent before the cut is
still there afterwards — exactly the situation the relayer must reconcile.

Used by the soak run (``scripts.soak``) and the outage tests; not by the service itself.
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading
from collections.abc import Callable
from typing import Literal
from urllib.parse import urlsplit

from chain.node import free_port

log = logging.getLogger("machi.faults")

Mode = Literal["up", "refuse", "stall"]
_CHUNK = 65536


class RpcProxy:
    """A cuttable TCP proxy in front of ``target`` (``http://host:port``). Start it, then point
    the service's ``MACHI_RPC_URL`` at ``proxy.url``."""

    def __init__(self, target: str, host: str = "127.0.0.1", port: int | None = None) -> None:
        parts = urlsplit(target)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"the proxy needs a target with host and port, got {target!r}")
        self.target = (parts.hostname, parts.port)
        self.host, self.port = host, port or free_port()
        self.mode: Mode = "up"
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._stalled: set[socket.socket] = set()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._requests: list[tuple[Callable[[], None], threading.Event]] = []
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """What clients use instead of the node's URL."""
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ control
    def start(self) -> RpcProxy:
        """Listen and start forwarding (in a daemon thread)."""
        self._listen()
        self._thread = threading.Thread(target=self._loop, name="rpc-proxy", daemon=True)
        self._thread.start()
        return self

    def down(self, mode: Literal["refuse", "stall"] = "refuse") -> None:
        """Cut the node off: ``refuse`` new connections and reset open ones, or ``stall`` everything."""
        with self._lock:
            self.mode = mode
        self._call(self._cut)
        log.info("rpc proxy %s: down (%s)", self.url, mode)

    def up(self) -> None:
        """Forward again (listening anew after ``refuse``)."""
        with self._lock:
            self.mode = "up"
        self._call(self._restore)
        log.info("rpc proxy %s: up", self.url)

    def stop(self) -> None:
        """Stop forwarding and close every socket."""
        self._stopped.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(5)
        for pair in list(self._pairs):
            self._close_pair(pair)
        for sock in list(self._stalled):
            sock.close()
        if self._listener is not None:
            self._listener.close()
        self._wake_r.close()
        self._wake_w.close()
        self._selector.close()

    def __enter__(self) -> RpcProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ the loop (one thread owns every socket)
    def _call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the proxy thread (it owns the selector) and wait for it."""
        done = threading.Event()
        with self._lock:
            self._requests.append((fn, done))
        self._wake()
        if self._thread is None or not self._thread.is_alive():
            self._run_requests()
        done.wait(5)

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def _run_requests(self) -> None:
        with self._lock:
            requests, self._requests = self._requests, []
        for fn, done in requests:
            fn()
            done.set()

    def _loop(self) -> None:
        while not self._stopped.is_set():
            for key, _ in self._selector.select(timeout=0.5):
                if key.fileobj is self._wake_r:
                    try:
                        self._wake_r.recv(4096)
                    except OSError:
                        pass
                    self._run_requests()
                elif key.data is None:
                    self._accept()
                else:
                    self._pump(key.fileobj, key.data)  # type: ignore[arg-type]

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(512)
        listener.setblocking(False)
        self._listener = listener
        self._selector.register(listener, selectors.EVENT_READ, None)

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            client, _ = self._listener.accept()
        except (BlockingIOError, OSError):
            return
        if self.mode == "stall":
            self._stalled.add(client)  # held open, never answered
            return
        try:
            upstream = socket.create_connection(self.target, timeout=2)
        except OSError:
            client.close()
            return
        for sock in (client, upstream):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pair = (client, upstream)
        self._pairs.add(pair)
        self._selector.register(client, selectors.EVENT_READ, (pair, upstream))
        self._selector.register(upstream, selectors.EVENT_READ, (pair, client))

    def _pump(self, source: socket.socket, data: tuple[tuple[socket.socket, socket.socket], socket.socket]) -> None:
        pair, sink = data
        try:
            chunk = source.recv(_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._close_pair(pair)
            return
        if self.mode == "stall":
            return  # swallowed: the caller waits for an answer that never comes
        try:
            sink.setblocking(True)
            sink.sendall(chunk)
            sink.setblocking(False)
        except OSError:
            self._close_pair(pair)

    def _close_pair(self, pair: tuple[socket.socket, socket.socket], reset: bool = False) -> None:
        self._pairs.discard(pair)
        for sock in pair:
            try:
                self._selector.unregister(sock)
            except (KeyError, ValueError):
                pass
            if reset:  # RST instead of FIN: the client sees "connection reset", like a crashed peer
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                except OSError:
                    pass
            sock.close()

    def _cut(self) -> None:
        if self.mode == "refuse":
            if self._listener is not None:
                self._selector.unregister(self._listener)
                self._listener.close()
                self._listener = None
            for pair in list(self._pairs):
                self._close_pair(pair, reset=True)

    def _restore(self) -> None:
        for sock in list(self._stalled):
            sock.close()
        self._stalled.clear()
        if self._listener is None:
            self._listen()
