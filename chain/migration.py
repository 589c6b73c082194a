"""Moving a running city from the first contracts (v1) to the current ones: a snapshot at a block, re-applied.

Why a move and not an upgrade: the coin keeps each account in one storage word now (coins, the key-1 nonce
sequence, the freeze) and the registry one slot per wallet, so storage changed shape; and the coin's EIP-712
domain names its address, so every signature made for the old coin is void on the new one anyway (nothing
signed needs carrying: no nonce state moves).

``take_snapshot`` reads the v1 contracts at block ``B`` (the old coin paused, the outbox drained): every holder's
coins and freeze, every registry record with its whole subject key and evidence commitment, the recoveries that
moved a subject (in chain order), pending recoveries, minters, the transfer policy, caps and recovery delay.
It refuses a city whose offline reserve still holds coins (release or settle them first: the reserve's per-payer
books cannot be re-minted).

``apply_snapshot`` rebuilds that state on a fresh deployment (``chain.plan.city_plan``) with the powers the new
contracts already have, each a visible transaction of its own key: records are re-attested with their subject
keys, re-bound wallets are recovered again in their order (with the recovery delay at 0 for the ceremony), coins
are re-minted by the admin as a one-off minter (mints to merchants and city accounts allowed for the ceremony
only), freezes and revocations are set after the coins, pending recoveries are requested again (their delay runs
from the new request: later than announced, never earlier), then minters, policy, caps and delay are restored.
``verify`` compares the two deployments account by account; the migration is done only when it finds nothing.

Two things cannot be copied exactly, and ``apply_snapshot`` says so in its report: a record that had already
expired is re-attested with a short grace (``EXPIRED_GRACE_S``, so that its coins can be minted to it) and is
expired again after it; and a pending recovery's new eta.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3

from chain.contracts.base import Call, send_call
from chain.contracts.coin import FreezeKind, RegionalCoinClient
from chain.contracts.registry import AssuranceLevel, IdentityRegistryClient, Kind, RevocationReason
from chain.errors import ChainError, ContractLogicError

FORMAT = "machi-city-snapshot-v1"
#: Seconds an already-expired record is valid on the new registry, so that its coins can be minted to it.
EXPIRED_GRACE_S = 600
_MAX_CAP = 2**64 - 1
_MAX_COINS = 2**40 - 1  # RegionalCoin's account word: coins in bits 0-39
_ZERO = "0x" + "00" * 20

_TRANSFER = keccak(text="Transfer(address,address,uint256)")
_ATTESTED = keccak(text="Attested(address,bytes32,uint8,uint8,uint40,bytes32)")
_REBOUND_V1 = keccak(text="Rebound(bytes32,address,address)")
_MINTER_CONFIGURED = keccak(text="MinterConfigured(address,uint256)")
#: v1 ``recordOf``: kind, level, reason, issuedAt, expiresAt, revokedAt, subjectKey, evidence
_RECORD_V1 = "(uint8,uint8,uint8,uint40,uint40,uint40,bytes32,bytes32)"


class MigrationError(ChainError):
    """The old deployment cannot be snapshotted as it is, or the new one is not fresh."""

    code = "migration_refused"


@dataclass(frozen=True)
class RecordSnapshot:
    """A v1 registry record, whole (the v1 registry stored the full subject key and evidence)."""

    wallet: str
    kind: int
    level: int
    reason: int
    expires_at: int
    subject_key: str
    evidence: str
    bound_at: tuple[int, int]  # (block, log index) of the binding that made this record: the replay's order


@dataclass(frozen=True)
class Snapshot:
    """The state of a v1 city at one block (JSON with ``to_json`` / ``from_json``)."""

    chain_id: int
    block: int
    coin: str
    registry: str
    supply: int
    policy: int
    caps: dict[str, int]  # by AssuranceLevel value: "1" CardAuthenticated, "2" ResidentOfCity
    recovery_delay: int
    coins: dict[str, int]  # holder -> coins (non-zero only)
    freezes: dict[str, int]  # account -> FreezeKind (non-zero only)
    records: list[RecordSnapshot]
    rebinds: list[tuple[str, str]]  # (lost wallet, successor), in chain order
    pending: list[tuple[str, str, str]]  # (lost wallet, successor, evidence)
    minters: dict[str, int]  # minter -> allowance left
    format: str = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Snapshot:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise MigrationError(f"not a {FORMAT} file")
        data["records"] = [RecordSnapshot(**{**r, "bound_at": tuple(r["bound_at"])}) for r in data["records"]]
        data["rebinds"] = [tuple(r) for r in data["rebinds"]]
        data["pending"] = [tuple(p) for p in data["pending"]]
        return cls(**data)


# ---------------------------------------------------------------------------- reading v1
class _Reader:
    """Raw ``eth_call``s and logs at one block (for the v1 ABI, which the current clients do not speak)."""

    def __init__(self, w3: Web3, block: int) -> None:
        self.w3, self.block = w3, block

    def call(self, to: str, signature: str, types: Sequence[str], args: Sequence[Any], out: Sequence[str]) -> Any:
        data = function_signature_to_4byte_selector(signature) + abi_encode(list(types), list(args))
        raw = self.w3.eth.call({"to": to_checksum_address(to), "data": data}, self.block)
        values = abi_decode(list(out), bytes(raw))
        return values[0] if len(values) == 1 else values

    def logs(self, address: str, topic: bytes) -> list[Any]:
        found: list[Any] = []
        step = 5_000
        for start in range(0, self.block + 1, step):
            found += self.w3.eth.get_logs({"address": to_checksum_address(address), "fromBlock": start,
                                           "toBlock": min(self.block, start + step - 1), "topics": [HexBytes(topic)]})
        return sorted(found, key=lambda log: (log["blockNumber"], log["logIndex"]))


def _address(topic: Any) -> str:
    return to_checksum_address(bytes(topic)[-20:])


def take_snapshot(w3: Web3, coin: str, registry: str, block: int, reserve: str | None = None) -> Snapshot:
    """The v1 city's state at ``block``.

    Raises:
        MigrationError: the old coin is not paused at ``block``, or the offline reserve still holds coins.
    """
    read = _Reader(w3, block)
    if not read.call(coin, "paused()", [], [], ["bool"]):
        raise MigrationError("pause the old coin first (and let the relayer drain the outbox): the snapshot must "
                             "be of a block after which nothing moves")
    if reserve is not None and (held := read.call(coin, "balanceOf(address)", ["address"], [reserve], ["uint256"])):
        raise MigrationError(f"the offline reserve still holds {held} coins: release or settle them first")

    holders: set[str] = set()
    for log in read.logs(coin, _TRANSFER):
        holders.update(_address(t) for t in log["topics"][1:3])
    bound_at: dict[str, tuple[int, int]] = {}  # each wallet's latest binding (attest, or recovery into it)
    for log in read.logs(registry, _ATTESTED):
        bound_at[_address(log["topics"][1])] = (int(log["blockNumber"]), int(log["logIndex"]))
    rebinds = []
    for log in read.logs(registry, _REBOUND_V1):
        rebinds.append((_address(log["topics"][2]), _address(log["topics"][3])))
        bound_at[_address(log["topics"][3])] = (int(log["blockNumber"]), int(log["logIndex"]))
    if reserve is not None:  # the new deployment has its own reserve, which the service registers itself
        bound_at.pop(to_checksum_address(reserve), None)
    wallets = sorted(bound_at, key=bound_at.__getitem__)
    everyone = sorted((holders | set(wallets)) - {_ZERO})

    coins, freezes = {}, {}
    for account in everyone:
        if balance := read.call(coin, "balanceOf(address)", ["address"], [account], ["uint256"]):
            coins[account] = int(balance)
        if frozen := read.call(coin, "freezeKindOf(address)", ["address"], [account], ["uint8"]):
            freezes[account] = int(frozen)
    records = []
    for wallet in wallets:
        kind, level, reason, _, expires, _, subject, evidence = read.call(
            registry, "recordOf(address)", ["address"], [wallet], [_RECORD_V1])
        records.append(RecordSnapshot(wallet, int(kind), int(level), int(reason), int(expires),
                                      "0x" + bytes(subject).hex(), "0x" + bytes(evidence).hex(), bound_at[wallet]))
    pending = []
    for record in records:
        successor, eta, evidence = read.call(coin, "pendingRecovery(address)", ["address"], [record.wallet],
                                             ["(address,uint40,bytes32)"])
        if eta:
            pending.append((record.wallet, str(to_checksum_address(successor)), "0x" + bytes(evidence).hex()))
    minters = {}
    for minter in dict.fromkeys(_address(log["topics"][1]) for log in read.logs(coin, _MINTER_CONFIGURED)):
        if read.call(coin, "isMinter(address)", ["address"], [minter], ["bool"]):
            minters[minter] = int(read.call(coin, "minterAllowance(address)", ["address"], [minter], ["uint256"]))
    return Snapshot(
        chain_id=w3.eth.chain_id, block=block, coin=to_checksum_address(coin), registry=to_checksum_address(registry),
        supply=int(read.call(coin, "totalSupply()", [], [], ["uint256"])),
        policy=int(read.call(coin, "transferPolicy()", [], [], ["uint16"])),
        caps={str(int(level)): int(read.call(coin, "balanceCap(uint8)", ["uint8"], [int(level)], ["uint256"]))
              for level in (AssuranceLevel.CARD_AUTHENTICATED, AssuranceLevel.RESIDENT_OF_CITY)},
        recovery_delay=int(read.call(coin, "recoveryDelay()", [], [], ["uint256"])),
        coins=coins, freezes=freezes, records=records, rebinds=rebinds, pending=pending, minters=minters,
    )


# ---------------------------------------------------------------------------- applying to a new deployment
@dataclass(frozen=True)
class MigrationKeys:
    """The keys the ceremony uses, each for its own power (as in production: no key does two jobs but the admin's
    own: policy, caps, delay, the one-off minting)."""

    admin: LocalAccount  # DEFAULT_ADMIN_ROLE and MASTER_MINTER_ROLE on the new coin
    registrar: LocalAccount
    freezer: LocalAccount
    recovery: LocalAccount


@dataclass
class MigrationReport:
    """What the ceremony did, and what it could not copy exactly."""

    transactions: int = 0
    records: int = 0
    coins: int = 0
    grace_expiry: list[str] = field(default_factory=list)  # expired records re-attested with a short grace
    pending_requested: list[tuple[str, int]] = field(default_factory=list)  # (lost wallet, new eta)
    pending_dropped: list[tuple[str, str]] = field(default_factory=list)  # (lost wallet, why the chain refused it)


def apply_snapshot(w3: Web3, registry: IdentityRegistryClient, coin: RegionalCoinClient, snapshot: Snapshot,
                   keys: MigrationKeys) -> MigrationReport:
    """Rebuild ``snapshot`` on the new ``registry`` and ``coin`` (freshly deployed, nothing on them yet).

    Raises:
        MigrationError: the new coin already has coins, or the snapshot's figures do not add up.
        ContractLogicError: a step was refused by the chain (nothing is retried: fix, redeploy, run again).
    """
    if coin.total_supply() != 0:
        raise MigrationError("the new coin already holds coins: apply a snapshot to a fresh deployment only")
    if sum(snapshot.coins.values()) != snapshot.supply:
        raise MigrationError("the snapshot's balances do not add up to its supply")
    successors = dict(snapshot.rebinds)
    for lost in successors:  # a recovery moved the whole balance: what a lost wallet holds came later, by mistake
        if snapshot.coins.get(lost):
            raise MigrationError(f"{lost} was recovered from but holds coins: settle that before migrating")
    by_wallet = {record.wallet: record for record in snapshot.records}
    report = MigrationReport()

    def send(account: LocalAccount, call: Call) -> None:
        send_call(w3, account, call)
        report.transactions += 1

    def expiry(record: RecordSnapshot) -> int:
        """The record's expiry, or a short grace from the chain's time now when it is (about to be) past."""
        now = int(w3.eth.get_block("latest")["timestamp"])
        if record.expires_at > now + 60:
            return record.expires_at
        report.grace_expiry.append(record.wallet)
        return now + EXPIRED_GRACE_S

    # the ceremony's own settings, undone at the end
    admin = keys.admin
    send(admin, coin.configure_minter_call(admin.address, snapshot.supply))
    send(admin, coin.set_recovery_delay_call(0))
    for level in (AssuranceLevel.CARD_AUTHENTICATED, AssuranceLevel.RESIDENT_OF_CITY):
        send(admin, coin.set_balance_cap_call(level, _MAX_CAP))
    for kind in (Kind.MERCHANT, Kind.CITY):
        send(admin, coin.set_transfer_rule_call(Kind.NONE, kind, True))

    # Every record in the order it was bound (a subject has one live wallet at a time, so an ended one was bound
    # and ended before the next); a wallet recovered into is bound by its recovery, replayed in the chain's order
    # and renewed to what it became afterwards. Coins, then the end of the record.
    recovered_into = set(successors.values())
    for record in sorted((r for r in snapshot.records if r.wallet not in recovered_into), key=lambda r: r.bound_at):
        expires = expiry(record)
        if record.kind == Kind.RESIDENT:
            call = registry.attest_call(record.wallet, record.subject_key, AssuranceLevel(record.level), expires,
                                        record.evidence)
        elif record.kind == Kind.MERCHANT:
            call = registry.register_merchant_call(record.wallet, record.subject_key, expires, record.evidence)
        else:
            call = registry.register_city_account_call(record.wallet, record.subject_key, expires, record.evidence)
        send(keys.registrar, call)
        report.records += 1
        wallet = record.wallet
        while wallet in successors:  # its recoveries, in order: each moves the subject (no coins yet)
            successor = by_wallet[successors[wallet]]
            send(keys.recovery, coin.request_recovery_call(wallet, successor.wallet, successor.evidence))
            send(keys.recovery, coin.execute_recovery_call(wallet))
            inherited = by_wallet[wallet]
            if (successor.level, successor.expires_at) != (inherited.level, inherited.expires_at):
                send(keys.registrar, registry.renew_call(successor.wallet, AssuranceLevel(successor.level),
                                                         expiry(successor), successor.evidence))
            report.records += 1
            wallet = successor.wallet
        if amount := snapshot.coins.get(wallet, 0):
            send(admin, coin.mint_call(wallet, amount))
            report.coins += amount
        ended = by_wallet[wallet].reason
        if ended == RevocationReason.REVOKED:
            send(keys.registrar, registry.revoke_call(wallet))
        elif ended == RevocationReason.SUSPENDED:
            send(keys.registrar, registry.suspend_merchant_call(wallet))

    # freezes last (a lost wallet reported lost was recovered from first; an account may be frozen without a record)
    for account, frozen in sorted(snapshot.freezes.items()):
        call = coin.freeze_as_lost_call(account) if frozen == FreezeKind.REPORTED_LOST else coin.freeze_call(account)
        send(keys.freezer, call)

    # back to the city's settings, then what was in flight; minters as they were (the deployment plan's own
    # configured ones and the ceremony's are removed unless the old city had them)
    configured = _Reader(w3, w3.eth.block_number).logs(coin.address, _MINTER_CONFIGURED)
    for minter in dict.fromkeys(_address(log["topics"][1]) for log in configured):
        if minter not in snapshot.minters and coin.is_minter(minter):
            send(admin, coin.remove_minter_call(minter))
    for minter, allowance in snapshot.minters.items():
        send(admin, coin.configure_minter_call(minter, allowance))
    for level_value, cap in snapshot.caps.items():
        send(admin, coin.set_balance_cap_call(AssuranceLevel(int(level_value)), cap))
    for from_kind in Kind:
        for to_kind in Kind:
            allowed = bool(snapshot.policy >> (4 * from_kind + to_kind) & 1)
            if coin.is_transfer_allowed(from_kind, to_kind) != allowed:
                send(admin, coin.set_transfer_rule_call(from_kind, to_kind, allowed))
    send(admin, coin.set_recovery_delay_call(snapshot.recovery_delay))
    for lost, heir, evidence in snapshot.pending:
        call = coin.request_recovery_call(lost, heir, evidence)
        try:  # the chain decides whether it can still be requested (a frozen or revoked lost wallet, a taken successor)
            coin.simulate(call, keys.recovery.address)
        except ContractLogicError as exc:
            report.pending_dropped.append((lost, exc.name))
            continue
        send(keys.recovery, call)
        report.pending_requested.append((lost, coin.pending_recovery(lost).eta))
    return report


def verify(snapshot: Snapshot, registry: IdentityRegistryClient, coin: RegionalCoinClient,
           report: MigrationReport | None = None) -> list[str]:
    """Every difference between the snapshot and the new deployment (empty: the migration is complete).

    Expiry differences of the records ``report`` lists as re-attested with a grace are expected and skipped.
    """
    grace = set(report.grace_expiry) if report is not None else set()
    problems: list[str] = []

    def check(what: str, new: object, old: object) -> None:
        if new != old:
            problems.append(f"{what}: new {new!r}, old {old!r}")

    check("total supply", coin.total_supply(), snapshot.supply)
    for account in _accounts(snapshot):
        check(f"coins of {account}", coin.balance_of(account), snapshot.coins.get(account, 0))
        check(f"freeze of {account}", int(coin.freeze_kind(account)), snapshot.freezes.get(account, 0))
    for record in snapshot.records:
        new = registry.record_of(record.wallet)
        check(f"record of {record.wallet}", (int(new.kind), int(new.level), int(new.revocation_reason)),
              (record.kind, record.level, record.reason))
        if record.wallet not in grace:
            check(f"expiry of {record.wallet}", new.expires_at, record.expires_at)
        if not (new.holds_subject(record.subject_key) and new.holds_evidence(record.evidence)):
            problems.append(f"record of {record.wallet}: another subject or evidence")
    subjects = {record.subject_key for record in snapshot.records}
    live = {r.subject_key: r.wallet for r in snapshot.records if r.reason == RevocationReason.NONE}
    for subject in subjects:
        if subject in live:
            check(f"wallet of subject {subject[:10]}…", registry.wallet_of(subject), live[subject])
    for minter, allowance in snapshot.minters.items():
        check(f"allowance of minter {minter}", coin.minter_allowance(minter), allowance)
    check("transfer policy", coin.transfer_policy(), snapshot.policy)
    for level, cap in snapshot.caps.items():  # v1 caps above what an account word holds are set to that
        check(f"cap of level {level}", coin.balance_cap(AssuranceLevel(int(level))), min(cap, _MAX_COINS))
    check("recovery delay", coin.recovery_delay(), snapshot.recovery_delay)
    dropped = {lost for lost, _ in report.pending_dropped} if report is not None else set()
    for lost, successor, _ in snapshot.pending:
        if lost not in dropped:
            check(f"pending recovery of {lost}", coin.pending_recovery(lost).successor, successor)
    return problems


def _accounts(snapshot: Snapshot) -> Iterable[str]:
    return sorted(set(snapshot.coins) | set(snapshot.freezes) | {r.wallet for r in snapshot.records})

