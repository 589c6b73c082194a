"""What the node can run: the newest EVM fork it executes, probed with tiny creation calls.

Permissioned networks (a Besu QBFT network, Japan Open Chain) may lag the newest fork; contracts
compiled for a newer one than the node runs would deploy and then fail on the first opcode the
node does not know. ``machi deploy`` checks first.
"""

from __future__ import annotations

from web3 import Web3

from chain.compiler import EVM_VERSIONS
from chain.errors import DeploymentError
from chain.rpc import is_unreachable

#: Creation code that runs only from a fork on: ``PUSH0 STOP`` (shanghai), ``PUSH0 TLOAD STOP`` (cancun).
_PROBES = (("shanghai", "0x5f00"), ("cancun", "0x5f5c00"))


def node_evm_version(w3: Web3) -> str:
    """The newest fork of ``EVM_VERSIONS`` the node executes (``paris`` when it knows no PUSH0).

    Raises:
        Exception: the node's transport error when it does not answer.
    """
    newest = "paris"
    for fork, code in _PROBES:
        try:
            w3.eth.call({"data": code})  # type: ignore[typeddict-item]
        except Exception as exc:  # noqa: BLE001 - a refusal means "not this fork"; only silence is an error
            if is_unreachable(exc):
                raise
            break
        newest = fork
    return newest


def check_evm_version(w3: Web3, compiled_for: str) -> str:
    """Refuse to deploy contracts compiled for a newer fork than the node runs; returns the node's.

    Raises:
        DeploymentError: the node runs an older fork (the message names the setting to change).
    """
    running = node_evm_version(w3)
    if EVM_VERSIONS.index(compiled_for) > EVM_VERSIONS.index(running):
        raise DeploymentError(
            f"the contracts are compiled for {compiled_for} but the node runs {running}: "
            f"set MACHI_EVM_VERSION={running} (or older) and deploy again"
        )
    return running
