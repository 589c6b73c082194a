"""Idempotent deployment with a persisted manifest.

A *plan* lists the contracts to deploy (constructor arguments may refer to contracts deployed
before them) and the wiring steps after (role grants, configuration). Progress is written to
the manifest after every transaction, so an interrupted deploy resumes where it stopped, and a
second ``deploy`` on a chain that already has everything sends nothing.

If the chain no longer has the code the manifest points at (a reset node), ``load_manifest``
raises ``DeploymentError`` naming the fix (``machi deploy --redeploy``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from chain.compiler import CompileResult
from chain.errors import DECODER, DeploymentError, TransactionError
from chain.fees import FeeModel, FeePolicy


@dataclass
class DeployedContract:
    """One contract in the manifest."""

    address: str
    artifact: str
    abi_hash: str
    tx_hash: str
    block: int


@dataclass
class Manifest:
    """What is deployed where on one chain."""

    chain_id: int
    deployer: str
    contracts: dict[str, DeployedContract] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)
    build: str = ""

    def address(self, name: str) -> str:
        """The address of contract ``name``.

        Raises:
            DeploymentError: it is not in the manifest.
        """
        try:
            return self.contracts[name].address
        except KeyError:
            raise DeploymentError(f"{name} is not deployed on chain {self.chain_id}: run `machi deploy`") from None

    @property
    def first_block(self) -> int:
        """The earliest deployment block (where indexers start)."""
        return min((c.block for c in self.contracts.values()), default=0)

    def to_json(self) -> str:
        """Canonical JSON for the manifest file."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse a manifest file."""
        data = json.loads(text)
        contracts = {k: DeployedContract(**v) for k, v in data.pop("contracts", {}).items()}
        return cls(contracts=contracts, **data)


def manifest_path(directory: Path, chain_id: int) -> Path:
    """Where the manifest for ``chain_id`` lives."""
    return directory / f"{chain_id}.json"


def save_manifest(manifest: Manifest, path: Path) -> None:
    """Write atomically (a crash never leaves half a manifest)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
        handle.write(manifest.to_json())
    os.replace(handle.name, path)


def check_code(w3: Web3, manifest: Manifest) -> list[str]:
    """Names of manifest contracts that have no code on the chain."""
    return [
        name for name, c in manifest.contracts.items() if len(w3.eth.get_code(Web3.to_checksum_address(c.address))) == 0
    ]


def read_manifest(directory: Path, chain_id: int) -> Manifest:
    """The manifest recorded for ``chain_id``, as written (not checked against any chain).

    Raises:
        DeploymentError: nothing recorded for this chain id.
    """
    path = manifest_path(directory, chain_id)
    if not path.exists():
        raise DeploymentError(f"nothing deployed on chain {chain_id} yet: run `machi deploy`")
    return Manifest.from_json(path.read_text())


def load_manifest(w3: Web3, directory: Path) -> Manifest:
    """The manifest for the connected chain, verified against the chain's code.

    Raises:
        DeploymentError: no manifest, or the chain lost the code (node reset).
    """
    chain_id = w3.eth.chain_id
    manifest = read_manifest(directory, chain_id)
    path = manifest_path(directory, chain_id)
    missing = check_code(w3, manifest)
    if missing:
        raise DeploymentError(
            f"the chain (id {chain_id}) has no code at the addresses of {', '.join(sorted(missing))} "
            f"recorded in {path}: the node was probably reset. Run `machi deploy --redeploy` to deploy afresh."
        )
    return manifest


@dataclass
class DeployContext:
    """What constructor-argument and wiring callbacks can see."""

    w3: Web3
    deployer: LocalAccount
    compiled: CompileResult
    manifest: Manifest
    params: dict[str, Any]

    def contract(self, name: str) -> Contract:
        """A web3 contract object for an already deployed manifest entry."""
        entry = self.manifest.contracts[name]
        return self.w3.eth.contract(
            address=Web3.to_checksum_address(entry.address), abi=self.compiled[entry.artifact].abi
        )


@dataclass
class ContractSpec:
    """Deploy ``artifact`` under manifest key ``name`` with ``args(ctx)`` as constructor arguments."""

    name: str
    artifact: str
    args: Callable[[DeployContext], Sequence[Any]] = lambda ctx: ()


@dataclass
class WiringStep:
    """A one-time configuration call; ``call(ctx)`` returns the contract function to transact."""

    name: str
    call: Callable[[DeployContext], Any]


@dataclass
class DeploymentPlan:
    """Everything one deployment needs."""

    contracts: list[ContractSpec]
    steps: list[WiringStep] = field(default_factory=list)


def deploy(
    w3: Web3,
    deployer: LocalAccount,
    compiled: CompileResult,
    plan: DeploymentPlan,
    directory: Path,
    *,
    redeploy: bool = False,
    params: dict[str, Any] | None = None,
    fees: FeePolicy | None = None,
) -> tuple[Manifest, int]:
    """Deploy what is missing and run wiring steps not yet done.

    Args:
        redeploy: start a fresh manifest even if one exists (after a node reset).
        params: values the plan's callbacks need (e.g. the relayer address).
        fees: how to price the transactions (default EIP-1559 from the node; legacy for a
            zero-gas-price network).

    Returns:
        The manifest and the number of transactions sent (0 when everything was there).

    Raises:
        DeploymentError: the manifest points at code the chain no longer has (and not redeploy),
            or the manifest was made with different contract code.
        TransactionError: a deployment or wiring transaction reverted (decoded).
    """
    chain_id = w3.eth.chain_id
    path = manifest_path(directory, chain_id)
    if path.exists() and not redeploy:
        manifest = Manifest.from_json(path.read_text())
        missing = check_code(w3, manifest)
        if missing:
            raise DeploymentError(
                f"the chain (id {chain_id}) has no code for {', '.join(sorted(missing))} recorded in {path}: "
                "the node was probably reset. Run `machi deploy --redeploy` to deploy afresh."
            )
        changed = [
            name
            for name, entry in manifest.contracts.items()
            if entry.artifact in compiled.artifacts and compiled[entry.artifact].abi_hash != entry.abi_hash
        ]
        if changed:
            raise DeploymentError(
                f"the contracts {', '.join(sorted(changed))} changed since they were deployed on chain {chain_id}; "
                "run `machi deploy --redeploy` to deploy the new version"
            )
    else:
        manifest = Manifest(chain_id=chain_id, deployer=deployer.address)
    manifest.build = compiled.cache_key
    ctx = DeployContext(w3, deployer, compiled, manifest, dict(params or {}))
    sent = 0
    for spec in plan.contracts:
        if spec.name in manifest.contracts:
            continue
        artifact = compiled[spec.artifact]
        factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        tx = factory.constructor(*spec.args(ctx)).build_transaction(priced(w3, deployer.address, fees))
        receipt = send_transaction(w3, deployer, tx, fees=fees)
        manifest.contracts[spec.name] = DeployedContract(
            address=str(receipt["contractAddress"]),
            artifact=spec.artifact,
            abi_hash=artifact.abi_hash,
            tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
            block=int(receipt["blockNumber"]),
        )
        save_manifest(manifest, path)
        sent += 1
    for step in plan.steps:
        if step.name in manifest.steps:
            continue
        function = step.call(ctx)
        if function is not None:
            send_transaction(w3, deployer, function.build_transaction(priced(w3, deployer.address, fees)), fees=fees)
            sent += 1
        manifest.steps.append(step.name)
        save_manifest(manifest, path)
    save_manifest(manifest, path)
    return manifest, sent


def priced(w3: Web3, sender: str, fees: FeePolicy | None) -> dict[str, Any]:
    """Transaction parameters with the fee fields of ``fees`` filled in, so that web3's
    ``build_transaction`` does not price the transaction itself (always EIP-1559 when it can).
    ``None`` leaves the pricing to ``send_transaction``'s EIP-1559 default."""
    params: dict[str, Any] = {"from": sender}
    if fees is None:
        return params
    quote = fees.quote(w3)
    if fees.model is FeeModel.LEGACY:
        params["gasPrice"] = quote.max_fee
    else:
        params.update(maxFeePerGas=quote.max_fee, maxPriorityFeePerGas=quote.priority)
    return params


def send_transaction(
    w3: Web3, account: LocalAccount, tx: dict[str, Any], timeout: float = 120.0, fees: FeePolicy | None = None
) -> Any:
    """Sign, send and wait for one operator transaction (deployments, admin calls).

    Service traffic goes through the relayer's outbox instead; this is for operator commands.
    Unpriced transactions are priced by ``fees`` (EIP-1559 from the node's latest block when None).

    Raises:
        ContractLogicError: the transaction would revert (decoded custom error).
        TransactionError: it was mined but failed.
    """
    tx = dict(tx)
    tx.setdefault("from", account.address)
    tx.setdefault("chainId", w3.eth.chain_id)
    tx["nonce"] = w3.eth.get_transaction_count(account.address, "pending")
    try:
        if "gas" not in tx:
            tx["gas"] = int(w3.eth.estimate_gas(tx) * 1.2) + 20_000  # type: ignore[arg-type]
    except Exception as exc:
        decoded = DECODER.from_exception(exc)
        if decoded is not None:
            raise decoded from None
        raise
    if fees is not None and fees.model is FeeModel.LEGACY:
        for key in ("maxFeePerGas", "maxPriorityFeePerGas", "type"):  # a legacy network gets a type-0 transaction
            tx.pop(key, None)
    if "maxFeePerGas" not in tx and "gasPrice" not in tx:
        tx.update(priced(w3, account.address, fees or FeePolicy()))
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout, poll_latency=0.05)
    if receipt["status"] != 1:
        raise TransactionError(f"transaction {tx_hash.hex()} reverted in block {receipt['blockNumber']}")
    return receipt
