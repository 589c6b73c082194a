"""The end-to-end story's system: ``machi serve`` as a subprocess with its own embedded node on free
ports (what ``make run`` does), on the test database, its stdout and stderr captured to files — once for
each shape of node in ``scripts.shapes`` (default anvil, anvil shaped like a QBFT network, Hardhat).

The browser fixtures are the shared ones of tests/conftest.py (Debian's Chromium).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from chain.errors import NodeError
from chain.node import free_port, wait_for_rpc
from chain.toolchain import PROJECT_ROOT
from scripts.demo_tools import BIN
from scripts.shapes import SHAPES


@dataclass(frozen=True)
class Service:
    """A running ``machi serve``: where it answers, its chain, its environment and its captured output."""

    url: str
    rpc_url: str
    env: dict[str, str]
    var: Path
    stdout: Path
    stderr: Path
    secret_key: str

    def logs(self) -> dict[str, str]:
        """Everything the service process printed so far, by stream."""
        return {"service stdout": self.stdout.read_text(encoding="utf-8", errors="replace"),
                "service stderr": self.stderr.read_text(encoding="utf-8", errors="replace")}


def _environment(database_url: tuple[str, str | None], var: Path, node_port: int, port: int,
                 secret_key: str, shape: dict[str, str]) -> dict[str, str]:
    url, schema = database_url
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("MACHI_") and key not in ("DATABASE_URL",)}
    env.update({"MACHI_ENVIRONMENT": "development", "DATABASE_URL": url, "MACHI_VAR_DIR": str(var),
                "MACHI_NODE_PORT": str(node_port), "MACHI_PORT": str(port), "MACHI_LOG_LEVEL": "DEBUG",
                "MACHI_SECRET_KEY": secret_key, "MACHI_APPLICATIONS_ANCHOR_INTERVAL": "0.5",
                "MACHI_WEBHOOK_POLL_INTERVAL": "0.2", "MACHI_RELAYER_POLL_INTERVAL": "0.02",
                # a lost-wallet recovery runs 3 s after its request here (the city's default is 72 h)
                "MACHI_RECOVERY_DELAY": "3", "MACHI_RECOVERY_SWEEP_INTERVAL": "0.5", **shape})
    if schema:
        env["MACHI_DATABASE_SCHEMA"] = schema
    return env


def _own_node(env: dict[str, str], tmp_path: Path) -> subprocess.Popen[bytes]:
    """``machi node`` on its own, answering: Hardhat's node keeps its chain in memory, so it must outlive
    ``machi deploy`` for ``machi serve`` to find the contracts (``machi`` says so when it is not running)."""
    with (tmp_path / "node.log").open("wb") as log:
        process = subprocess.Popen([str(BIN / "machi"), "node"], cwd=PROJECT_ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_for_rpc(f"http://127.0.0.1:{env['MACHI_NODE_PORT']}", timeout=120, process=process)
    except NodeError:
        _stop(process)
        raise
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@pytest.fixture(params=list(SHAPES))
def shape(request: pytest.FixtureRequest) -> str:
    """The shape of node the service runs on (``scripts.shapes``)."""
    return str(request.param)


@pytest.fixture
def story_service(database_url, sessions, tmp_path, shape, request) -> Iterator[Service]:
    """``machi serve`` with its embedded node in ``shape``, healthy; stopped (and the tables emptied) afterwards."""
    var, port, node_port = tmp_path / "var", free_port(), free_port()
    secret_key = "e2e-" + secrets.token_urlsafe(32)
    env = _environment(database_url, var, node_port, port, secret_key, SHAPES[shape])
    out, err = tmp_path / "service.stdout", tmp_path / "service.stderr"
    node = _own_node(env, tmp_path) if SHAPES[shape].get("MACHI_NODE_IMPLEMENTATION") == "hardhat" else None
    if node is not None:
        request.addfinalizer(lambda: _stop(node))
    # What `make run` does: `machi deploy` holds the admin key, `machi serve` never loads it.
    deployed = subprocess.run([str(BIN / "machi"), "deploy"], cwd=PROJECT_ROOT, env=env, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=300, check=False)
    assert deployed.returncode == 0, f"machi deploy failed:\n{deployed.stderr[-3000:]}"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen([str(BIN / "machi"), "serve"], cwd=PROJECT_ROOT, env=env, stdout=stdout,
                                   stderr=stderr, stdin=subprocess.DEVNULL)
    service = Service(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{node_port}", env, var, out, err, secret_key)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, f"machi serve exited:\n{err.read_text(errors='replace')[-3000:]}"
            try:
                if httpx.get(f"{service.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"machi serve not healthy:\n{err.read_text(errors='replace')[-3000:]}"
            time.sleep(0.3)
        yield service
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
