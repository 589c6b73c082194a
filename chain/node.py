"""The embedded local chain: Foundry's anvil from npm, started and stopped by the project — or,
as a second node implementation for the test suite, Hardhat's node (npm ``hardhat`` 2.x).

State is persisted under ``var/chain/`` (anvil ``--state``: loaded on start, dumped on exit and
every few seconds) so balances survive a restart. Any external JSON-RPC endpoint can replace
the embedded node by setting ``MACHI_RPC_URL``.

Both can take the shape of a permissioned QBFT network: a chain id of its own, blocks on an
interval (no automine), a zero gas price and base fee, an older EVM fork.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

from chain.errors import NodeError
from chain.scrub import scrub
from chain.toolchain import CONTRACTS_DIR, PROJECT_ROOT, find_toolchain

#: anvil's default mnemonic; its keys are public knowledge, fine for a local dev chain only.
DEV_MNEMONIC = "test test test test test test test test test test test junk"


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rpc_call(url: str, method: str, params: list[object] | None = None, timeout: float = 5.0) -> object:
    """One raw JSON-RPC call (used for node control methods web3.py does not wrap).

    Raises:
        NodeError: the node did not answer or answered with an error.
    """
    try:
        response = httpx.post(
            url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}, timeout=timeout
        )
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise NodeError(f"{method} on {url} failed: {exc}") from exc
    if "error" in body:
        raise NodeError(f"{method} on {url} failed: {body['error']}")
    return body.get("result")


def wait_for_rpc(url: str, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None) -> int:
    """Block until ``url`` answers ``eth_chainId``; returns the chain id.

    Raises:
        NodeError: the endpoint did not answer within ``timeout`` or the process exited.
    """
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise NodeError(f"the node exited with code {process.returncode} before answering on {url}")
        try:
            return int(str(rpc_call(url, "eth_chainId", timeout=1.0)), 16)
        except NodeError as exc:
            last_error = str(exc)
            time.sleep(0.05)
    raise NodeError(scrub(f"no JSON-RPC answer from {url} within {timeout:.0f}s ({last_error})"))


#: Node implementations ``LocalNode`` can start.
IMPLEMENTATIONS = ("anvil", "hardhat")
#: Fork names Hardhat spells differently from solc and anvil.
_HARDHAT_FORKS = {"paris": "merge"}


@dataclass
class NodeConfig:
    """How to start the embedded node."""

    port: int = 8545
    chain_id: int = 31337
    block_time: float | None = None  # None: mine a block per transaction (automine; anvil only)
    state_dir: Path | None = PROJECT_ROOT / "var" / "chain"  # None: in memory only (always for hardhat)
    state_interval: int = 2  # seconds between state dumps while running
    accounts: int = 10
    gas_limit: int = 60_000_000
    host: str = "127.0.0.1"
    implementation: str = "anvil"  # or "hardhat" (interval mining, 1 s blocks unless block_time)
    gas_price: int | None = None  # wei; 0 = a zero-gas-price network (legacy transactions)
    base_fee: int | None = None  # wei; 0 with gas_price 0 = nobody pays for gas
    hardfork: str | None = None  # e.g. "shanghai"; None = the node's default (cancun or newer)


class LocalNode:
    """A running anvil process (use as a context manager or call start/stop)."""

    def __init__(self, config: NodeConfig | None = None) -> None:
        self.config = config or NodeConfig()
        self._process: subprocess.Popen[bytes] | None = None
        self._log_handle: object | None = None

    @property
    def url(self) -> str:
        """The node's JSON-RPC URL."""
        return f"http://{self.config.host}:{self.config.port}"

    @property
    def state_file(self) -> Path | None:
        """Where the chain state is persisted (None when in memory, as always for Hardhat)."""
        if self.config.state_dir is None or self.config.implementation == "hardhat":
            return None
        return self.config.state_dir / "state.json"

    @property
    def running(self) -> bool:
        """True while the anvil process is alive."""
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        """The node's argv for this configuration.

        Raises:
            NodeError: an unknown implementation, or Hardhat asked for but not installed.
        """
        if self.config.implementation == "hardhat":
            return self._hardhat_command()
        if self.config.implementation != "anvil":
            raise NodeError(f"unknown node implementation {self.config.implementation!r}: one of {IMPLEMENTATIONS}")
        toolchain = find_toolchain()
        cfg = self.config
        argv = [
            str(toolchain.anvil),
            "--host", cfg.host,
            "--port", str(cfg.port),
            "--chain-id", str(cfg.chain_id),
            "--accounts", str(cfg.accounts),
            "--mnemonic", DEV_MNEMONIC,
            "--gas-limit", str(cfg.gas_limit),
            "--silent",
        ]  # fmt: skip
        if cfg.block_time:
            argv += ["--block-time", str(cfg.block_time)]
        if cfg.gas_price is not None:
            argv += ["--gas-price", str(cfg.gas_price)]
        if cfg.base_fee is not None:
            argv += ["--base-fee", str(cfg.base_fee)]
        if cfg.hardfork:
            argv += ["--hardfork", cfg.hardfork]
        if self.state_file is not None:
            argv += ["--state", str(self.state_file), "--state-interval", str(cfg.state_interval)]
        return argv

    def _hardhat_command(self) -> list[str]:
        """``hardhat node`` with a generated config: the dev mnemonic, interval mining, no automine."""
        toolchain = find_toolchain()
        if toolchain.hardhat is None:
            raise NodeError("hardhat is not installed: run `npm ci` in contracts/ (package.json pins hardhat 2.x)")
        cfg = self.config
        network: dict[str, object] = {
            "chainId": cfg.chain_id,
            "mining": {"auto": False, "interval": int((cfg.block_time or 1.0) * 1000)},
            "accounts": {"mnemonic": DEV_MNEMONIC, "count": cfg.accounts},
            "blockGasLimit": cfg.gas_limit,
        }
        if cfg.hardfork:
            network["hardfork"] = _HARDHAT_FORKS.get(cfg.hardfork, cfg.hardfork)
        if cfg.gas_price is not None:
            network["gasPrice"] = cfg.gas_price
        if cfg.base_fee is not None:
            network["initialBaseFeePerGas"] = cfg.base_fee
        self._hardhat_dir.mkdir(parents=True, exist_ok=True)
        config_file = self._hardhat_dir / "hardhat.config.js"
        config_file.write_text("module.exports = " + json.dumps({"networks": {"hardhat": network}}) + ";\n")
        return ["node", str(toolchain.hardhat), "--config", str(config_file), "node",
                "--hostname", cfg.host, "--port", str(cfg.port)]

    @property
    def _hardhat_dir(self) -> Path:
        return (self.config.state_dir or PROJECT_ROOT / "var" / "hardhat") / f"hardhat-{self.config.port}"

    def start(self, timeout: float = 30.0) -> LocalNode:
        """Start anvil and wait until it answers.

        Raises:
            ToolchainError: anvil is not installed (message names the fix).
            NodeError: the port is taken or anvil did not come up.
        """
        if self.running:
            return self
        if _port_in_use(self.config.host, self.config.port):
            raise NodeError(
                f"port {self.config.port} is already in use: another node is running there "
                f"(use it with MACHI_RPC_URL={self.url}) or choose MACHI_NODE_PORT"
            )
        argv = self.command()
        if self.config.state_dir is not None:
            self.config.state_dir.mkdir(parents=True, exist_ok=True)
        log_path = (self.config.state_dir or Path(os.devnull)).joinpath("anvil.log") if self.config.state_dir else None
        stdout = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - owned by the node
        self._log_handle = stdout if log_path else None
        # Hardhat asks about telemetry on a terminal, and wants to run from a project that has it
        # installed (contracts/); the generated config may live anywhere.
        env = {**os.environ, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true", "CI": "true"}
        self._process = subprocess.Popen(  # noqa: S603 - fixed argv from our own toolchain
            argv, stdout=stdout, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent,
            env=env, cwd=CONTRACTS_DIR if self.config.implementation == "hardhat" else None,
        )
        try:
            chain_id = wait_for_rpc(self.url, timeout=timeout, process=self._process)
        except NodeError:
            self.stop()
            raise
        if chain_id != self.config.chain_id:
            self.stop()
            raise NodeError(f"the node answered chain id {chain_id}, expected {self.config.chain_id}")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop anvil gracefully (it dumps its state on SIGTERM/SIGINT), killing it if it hangs."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._process = None
        handle = self._log_handle
        if handle is not None:
            handle.close()  # type: ignore[attr-defined]
            self._log_handle = None

    def kill(self) -> None:
        """Kill -9 (a crash: state since the last periodic dump is lost)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None

    def __enter__(self) -> LocalNode:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to send SIGINT (anvil's graceful stop, which dumps its
    state) when the process that started it dies — however it dies (a signal that skips our
    ``finally``, kill -9) — so an embedded node is never orphaned holding its port."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: fall back to stop() in the owner's finally


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0
