"""The network profile at work: the embedded node started in its shape, and what ``machi status``
shows of it — the profile as configured beside what the node itself reports.

The profile's settings are the "Network profile" block of ``procedures.config.Settings``;
docs/deploy.md gives the values for a Besu QBFT network and for Japan Open Chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from web3 import Web3

from chain.compiler import EVM_VERSIONS
from chain.fees import FeeModel
from chain.network import node_evm_version
from chain.node import NodeConfig
from chain.scrub import redacted
from procedures.config import Settings


def embedded_node_config(settings: Settings) -> NodeConfig:
    """How to start the embedded node so that it has the profile's shape: its chain id, block time
    and fork, and — for a legacy profile with a fixed price — that gas price with a zero base fee
    (a QBFT network's zero-gas shape when the price is 0)."""
    fixed_price = settings.fee_model is FeeModel.LEGACY and settings.gas_price_wei is not None
    return NodeConfig(
        port=settings.node_port,
        chain_id=settings.chain_id,
        block_time=settings.block_time,
        state_dir=settings.var_dir / "chain",
        implementation=settings.node_implementation,
        gas_price=settings.gas_price_wei if fixed_price else None,
        base_fee=0 if fixed_price else None,
        hardfork=settings.evm_version,
    )


def profile_rows(settings: Settings) -> list[tuple[str, str]]:
    """The profile as configured, one (what, value) row each; RPC URLs without credentials."""
    if settings.external_rpc:
        endpoints = ", ".join(redacted(url) for url in settings.effective_rpc_urls)
    else:
        endpoints = f"embedded {settings.node_implementation} on {settings.effective_rpc_url}"
    if settings.fee_model is FeeModel.LEGACY:
        price = "the node's eth_gasPrice" if settings.gas_price_wei is None else f"{settings.gas_price_wei} wei"
        fees = f"legacy, gas price {price}"
    else:
        fees = f"eip1559, max {settings.relayer_max_fee_gwei:g} gwei"
    if settings.block_time:
        block = f"{settings.block_time:g} s"
    else:
        block = "not set" if settings.external_rpc else "a block per transaction"
    final = ("final once mined (BFT)" if settings.confirmations <= 1
             else f"{settings.confirmations} blocks")
    return [
        ("rpc endpoints", f"{endpoints} (timeout {settings.rpc_timeout:g} s)"),
        ("chain id", str(settings.chain_id)),
        ("fees", fees),
        ("evm version", f"contracts compiled for {settings.evm_version}"),
        ("block time", block),
        ("confirmations", final),
    ]


@dataclass(frozen=True)
class NodeReport:
    """What the node answered about itself."""

    chain_id: int
    client_version: str
    block_number: int
    block_timestamp: int
    base_fee: int | None
    evm_version: str

    def rows(self, settings: Settings) -> list[tuple[str, str, bool]]:
        """(what, value, ok) rows comparing the node with the profile."""
        chain_ok = self.chain_id == settings.chain_id
        fork_ok = EVM_VERSIONS.index(settings.evm_version) <= EVM_VERSIONS.index(self.evm_version)
        fork = (f"runs {self.evm_version}: {settings.evm_version} code "
                + ("runs there" if fork_ok else f"does NOT run there (set MACHI_EVM_VERSION={self.evm_version})"))
        when = datetime.fromtimestamp(self.block_timestamp, UTC)
        base_fee = "none (pre-london)" if self.base_fee is None else f"{self.base_fee} wei"
        return [
            ("node chain id", str(self.chain_id) + ("" if chain_ok else f" (MACHI_CHAIN_ID says {settings.chain_id})"),
             chain_ok),
            ("node client", self.client_version, True),
            ("node latest block", f"{self.block_number} at {when:%Y-%m-%d %H:%M:%S} UTC, base fee {base_fee}", True),
            ("node evm", fork, fork_ok),
        ]


def node_report(w3: Web3) -> NodeReport:
    """Ask the node for its chain id, client version, latest block and newest EVM fork.

    Raises:
        Exception: the transport error when the node does not answer (``chain.rpc.is_unreachable``).
    """
    latest = w3.eth.get_block("latest")
    base_fee = latest.get("baseFeePerGas")
    return NodeReport(
        chain_id=int(w3.eth.chain_id),
        client_version=str(w3.client_version),
        block_number=int(latest["number"]),
        block_timestamp=int(latest["timestamp"]),
        base_fee=None if base_fee is None else int(base_fee),
        evm_version=node_evm_version(w3),
    )
