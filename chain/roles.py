"""Who may do what on chain: one key per role, and the calls each hot key may send.

``KEY_ROLES`` is the single table: for every service key, the roles it must hold on chain, whether it
is a minter, and the functions (by contract) its sender may call. Everything else is derived from it:

- ``chain.plan`` grants exactly these roles at deploy time;
- ``allowlist`` turns a key's functions into (contract address, selector) pairs, selectors computed
  from the ABI, and the relayer never signs a call outside them (``chain.relayer``);
- ``role_report`` reads the roles every loaded key holds on chain and says which ones it must not hold
  (the service refuses to start then).

The admin key (DEFAULT_ADMIN on every contract, master minter, pauser) is not a service key: it lives in
an operator's keystore or is a multisig, and never has a sender.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from eth_utils.abi import function_abi_to_4byte_selector
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3

from chain.errors import ChainError

REGISTRY = "IdentityRegistry"
COIN = "RegionalCoin"
LEDGER = "ProcedureLedger"
RESERVE = "OfflineReserve"
CONTRACTS = (REGISTRY, COIN, LEDGER, RESERVE)

@dataclass(frozen=True)
class KeyRole:
    """One service key: what it holds on chain and what its sender may call.

    Attributes:
        name: the key's name (``relayer``); its setting is ``MACHI_<NAME>_KEY``.
        grants: (contract, role constant) pairs the key must hold.
        minter: whether the key is a coin minter (an allowance, not a role).
        calls: contract → function names its sender may call (every overload of each name).
    """

    name: str
    grants: tuple[tuple[str, str], ...] = ()
    minter: bool = False
    calls: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


#: The one table. A function added to a contract for a role (e.g. ``requestRecovery``) is one name here.
KEY_ROLES: tuple[KeyRole, ...] = (
    # relays residents' signed authorizations (payments in batches, a lost wallet's own cancellation of a recovery,
    # offline reserves and the offline payments signed against them); anchors procedure events
    KeyRole("relayer", grants=((COIN, "RELAYER_ROLE"), (LEDGER, "ANCHOR_ROLE"), (RESERVE, "RELAYER_ROLE")),
            calls={COIN: ("batchTransferWithAuthorization", "cancelRecoveryWithSignature"), LEDGER: ("anchor",),
                   RESERVE: ("reserve", "settleBatch", "requestRelease", "release")}),
    # attests, renews and revokes identities; registers merchants and city accounts
    KeyRole("registrar", grants=((REGISTRY, "REGISTRAR_ROLE"),),
            calls={REGISTRY: ("attest", "registerMerchant", "registerCityAccount", "renew", "revoke",
                              "suspendMerchant")}),
    # freezes (also as reported lost) and unfreezes wallets; cancels a pending recovery
    KeyRole("freezer", grants=((COIN, "FREEZER_ROLE"),),
            calls={COIN: ("freeze", "freezeAsLost", "unfreeze", "cancelRecovery")}),
    # requests a recovery (delayed, announced, cancellable) and executes it once due
    KeyRole("recovery", grants=((COIN, "RECOVERY_ROLE"),), calls={COIN: ("requestRecovery", "executeRecovery")}),
    # mints counter top-ups within its own allowance
    KeyRole("topup_minter", minter=True, calls={COIN: ("mint",)}),
    # credits points (top-up premiums, benefits, rewards: one key, so the sender tells none apart) and mints
    # procedure benefits, within its own allowance; sweeps expired points back to the fund
    KeyRole("benefits_minter", grants=((COIN, "POINTS_ISSUER_ROLE"),), minter=True,
            calls={COIN: ("mint", "creditPoints", "sweepExpiredPoints")}),
    # the city account payouts burn from (and return failed payouts from)
    KeyRole("settlement", calls={COIN: ("redeem", "transfer")}),
)
KEY_NAMES = tuple(k.name for k in KEY_ROLES)
BY_NAME = {k.name: k for k in KEY_ROLES}


def role_id(name: str) -> bytes:
    """The id of an OpenZeppelin role constant, ``keccak256(name)`` (``DEFAULT_ADMIN_ROLE`` is zero); the
    contract clients use it too (``chain.contracts.base`` imports it from here)."""
    return bytes(32) if name == "DEFAULT_ADMIN_ROLE" else keccak(text=name)


class UnknownFunction(ChainError):
    """The role table names a function the contract's ABI does not have."""

    code = "unknown_function"


class RoleMisconfigured(ChainError):
    """A service key holds a role it must not hold (the service refuses to start)."""

    code = "role_misconfigured"


def roles_of(abi: Sequence[Mapping[str, Any]]) -> list[str]:
    """The role constants a contract declares (``DEFAULT_ADMIN_ROLE`` and every ``*_ROLE`` getter)."""
    return [item["name"] for item in abi if item.get("type") == "function" and item.get("name", "").endswith("_ROLE")
            and not item.get("inputs")]


def selectors(abi: Sequence[Mapping[str, Any]], names: Iterable[str]) -> dict[bytes, str]:
    """Selector → ``name(types)`` for every overload of each name.

    Raises:
        UnknownFunction: a name is not a function of the ABI.
    """
    out: dict[bytes, str] = {}
    for name in names:
        found = [item for item in abi if item.get("type") == "function" and item.get("name") == name]
        if not found:
            raise UnknownFunction(f"the ABI has no function {name!r}")
        for item in found:
            types = ",".join(str(i["type"]) for i in item.get("inputs", []))
            out[bytes(function_abi_to_4byte_selector(cast(Any, item)))] = f"{name}({types})"
    return out


@dataclass(frozen=True)
class Allowlist:
    """The (contract address, selector) pairs one sender may sign, with a name for each."""

    key: str
    entries: Mapping[tuple[str, bytes], str]

    def permits(self, to: str, data: bytes) -> bool:
        """Whether a call to ``to`` with calldata ``data`` is in the list."""
        return (to.lower(), bytes(data[:4])) in self.entries

    def refusal(self, to: str, data: bytes) -> str:
        """Why a call is refused, in words (for the intent and the log)."""
        return (f"the {self.key} key may not call selector 0x{bytes(data[:4]).hex()} on {to}: "
                f"not in its allowlist ({', '.join(sorted(set(self.entries.values())))})")

    @classmethod
    def of(cls, key: str, calls: Mapping[str, Sequence[Mapping[str, Any]]], names: Mapping[str, Iterable[str]],
           labels: Mapping[str, str] | None = None) -> Allowlist:
        """An allowlist from contract address → ABI and contract address → function names; each entry is
        named ``signature``, or ``label.signature`` with a contract address → label (its contract name).

        Raises:
            UnknownFunction: a name the ABI lacks.
        """
        entries = {}
        for address, abi in calls.items():
            label = (labels or {}).get(address)
            for selector, signature in selectors(abi, names.get(address, ())).items():
                entries[(address.lower(), selector)] = f"{label}.{signature}" if label else signature
        return cls(key, entries)


def allowlist(key: str, addresses: Mapping[str, str], abis: Mapping[str, Sequence[Mapping[str, Any]]]) -> Allowlist:
    """The allowlist of the service key ``key`` on the deployed contracts.

    Args:
        addresses: contract name → deployed address.
        abis: contract name → ABI.

    Raises:
        KeyError: unknown key name.  UnknownFunction: the table names a function the ABI lacks.
    """
    calls = BY_NAME[key].calls
    return Allowlist.of(key, {addresses[c]: abis[c] for c in calls},
                        {addresses[c]: names for c, names in calls.items()}, labels={addresses[c]: c for c in calls})


@dataclass(frozen=True)
class KeyRoles:
    """What one loaded key holds on chain, against what it should."""

    key: str
    address: str
    held: tuple[str, ...]
    missing: tuple[str, ...]
    forbidden: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Holds every role it needs and none it must not."""
        return not self.missing and not self.forbidden

    def to_dict(self) -> dict[str, Any]:
        """The row of the role table (``/healthz`` for admins, the console)."""
        return {"key": self.key, "address": self.address, "roles": list(self.held), "missing": list(self.missing),
                "forbidden": list(self.forbidden), "ok": self.ok}


def held_roles(w3: Web3, addresses: Iterable[str], contracts: Mapping[str, Any]) -> dict[str, tuple[set[str], bool]]:
    """For each address: (``Contract.ROLE`` names it holds, whether it is a minter) on the deployed
    contracts, every ``hasRole``/``isMinter`` read in one JSON-RPC batch (one round trip, not one per role).

    Args:
        contracts: contract name → web3 contract object.
    """
    who = [to_checksum_address(a) for a in addresses]
    asked: list[tuple[str, str | None]] = []  # (address, "Contract.ROLE"; None: isMinter), in batch order
    with w3.batch_requests() as batch:
        for address in who:
            for name, contract in contracts.items():
                for role in roles_of(contract.abi):
                    batch.add(contract.functions.hasRole(role_id(role), address))
                    asked.append((address, f"{name}.{role}"))
            if COIN in contracts:
                batch.add(contracts[COIN].functions.isMinter(address))
                asked.append((address, None))
        answers = cast(list[Any], batch.execute()) if asked else []
    out: dict[str, tuple[set[str], bool]] = {address: (set(), False) for address in who}
    for (holder, held_role), answer in zip(asked, answers, strict=True):
        held, _ = out[holder]
        if held_role is None:
            out[holder] = (held, bool(answer))
        elif answer:
            held.add(held_role)
    return out


def role_report(w3: Web3, keys: Mapping[str, str], contracts: Mapping[str, Any]) -> list[KeyRoles]:
    """For each loaded key (name → address) the roles it holds, misses and must not hold.

    A key must hold exactly its ``KeyRole.grants`` (and be a minter exactly when the table says so):
    anything more is forbidden — the admin's roles above all, and another key's roles (two settings
    naming the same key show up here too).
    """
    report = []
    holdings = held_roles(w3, keys.values(), contracts)
    for name, address in keys.items():
        role = BY_NAME[name]
        held, minter = holdings[to_checksum_address(address)]
        expected = {f"{c}.{r}" for c, r in role.grants}
        shown = sorted(held | ({"minter"} if minter else set()))
        missing = sorted(expected - held) + (["minter"] if role.minter and not minter else [])
        forbidden = sorted(held - expected) + (["minter"] if minter and not role.minter else [])
        report.append(KeyRoles(name, to_checksum_address(address), tuple(shown), tuple(missing), tuple(forbidden)))
    return report


def refuse_forbidden(report: Sequence[KeyRoles]) -> None:
    """Raise when a key holds a role it must not.

    Raises:
        RoleMisconfigured: naming each key, its address and the roles it must give up.
    """
    bad = [r for r in report if r.forbidden]
    if bad:
        raise RoleMisconfigured("; ".join(
            f"the {r.key} key ({r.address}) holds {', '.join(r.forbidden)}, which it must not: revoke with "
            f"`machi admin revoke-role` or give the service another key" for r in bad))
