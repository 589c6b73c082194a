"""Typed clients of the Machi contracts, loaded from the compiled artifacts.

Reads return plain Python values; writes return ``Call`` calldata (``to`` + ``data``) that the
service enqueues in the relayer's outbox (or an operator command sends with ``send_call``).

    city = load_city(w3, manifest, compiled)
    city.registry.is_verified(wallet)
    outbox.enqueue(city.coin.mint_call(wallet, 5_000))
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3

from chain.compiler import CompileResult
from chain.contracts.authorization import (
    Authorization,
    Eip712Domain,
    authorization_signer,
    decode_authorization_item,
    encode_authorization_item,
    make_nonce,
    random_nonce,
    random_nonce_key,
    sequence_nonce,
    sign_transfer_authorization,
    split_nonce,
)
from chain.contracts.base import DEFAULT_ADMIN_ROLE, Call, ContractClient, role_id, send_call
from chain.contracts.coin import (
    BatchItemResult,
    BatchOutcomeError,
    CoinBatcher,
    RegionalCoinClient,
    SkipReason,
    batch_calldata,
    decode_batch_outcomes,
)
from chain.contracts.ledger import Anchor, ProcedureLedgerClient
from chain.contracts.registry import (
    AssuranceLevel,
    IdentityRecord,
    IdentityRegistryClient,
    IdentityStatus,
    Kind,
    RevocationReason,
)
from chain.deploy import Manifest
from chain.plan import COIN, LEDGER, REGISTRY


@dataclass(frozen=True)
class CityContracts:
    """The city's three deployed contracts."""

    registry: IdentityRegistryClient
    coin: RegionalCoinClient
    ledger: ProcedureLedgerClient


def load_city(w3: Web3, manifest: Manifest, compiled: CompileResult) -> CityContracts:
    """Clients for the contracts a ``chain.plan.city_plan`` deployment recorded in ``manifest``.

    Each client uses the ABI of the artifact the manifest names.

    Raises:
        DeploymentError: a contract is missing from the manifest.
        KeyError: the compile result lacks an artifact the manifest names.
    """

    def abi(name: str) -> list[dict[str, object]]:
        manifest.address(name)  # raises DeploymentError naming the fix when absent
        return compiled[manifest.contracts[name].artifact].abi

    return CityContracts(
        registry=IdentityRegistryClient(w3, manifest.address(REGISTRY), abi(REGISTRY)),
        coin=RegionalCoinClient(w3, manifest.address(COIN), abi(COIN)),
        ledger=ProcedureLedgerClient(w3, manifest.address(LEDGER), abi(LEDGER)),
    )


__all__ = [
    "DEFAULT_ADMIN_ROLE",
    "Anchor",
    "AssuranceLevel",
    "Authorization",
    "BatchItemResult",
    "BatchOutcomeError",
    "Call",
    "CityContracts",
    "CoinBatcher",
    "ContractClient",
    "Eip712Domain",
    "IdentityRecord",
    "IdentityRegistryClient",
    "IdentityStatus",
    "Kind",
    "ProcedureLedgerClient",
    "RegionalCoinClient",
    "RevocationReason",
    "SkipReason",
    "authorization_signer",
    "batch_calldata",
    "decode_authorization_item",
    "decode_batch_outcomes",
    "encode_authorization_item",
    "load_city",
    "make_nonce",
    "random_nonce",
    "random_nonce_key",
    "sequence_nonce",
    "role_id",
    "send_call",
    "sign_transfer_authorization",
    "split_nonce",
]
