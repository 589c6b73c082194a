"""Typed client of ``IdentityRegistry``: who may hold the currency and file procedures.

Reads return plain Python values (``IdentityStatus``, ``IdentityRecord``, IntEnums mirroring
the Solidity enums); writes return ``Call`` calldata for the relayer's outbox. Every write
needs ``REGISTRAR_ROLE`` on chain; the re-binding of a lost wallet is the coin's delayed recovery
(``RegionalCoinClient.request_recovery_call``), which alone holds the registry's ``RECOVERY_ROLE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any

from eth_utils.address import to_checksum_address

from chain.contracts.base import Call, ContractClient, optional_address, role_id, to_bytes32

#: How many leading bytes of the subject key and of the evidence commitment a record keeps on chain.
SUBJECT_TAG_BYTES = 16
EVIDENCE_TAG_BYTES = 8


class Kind(IntEnum):
    """``IIdentityRegistry.Kind``: what a wallet is (``NONE`` = no record)."""

    NONE = 0
    RESIDENT = 1
    MERCHANT = 2
    CITY = 3


class AssuranceLevel(IntEnum):
    """``IIdentityRegistry.AssuranceLevel``: how strongly a resident was identified (others: ``NONE``)."""

    NONE = 0
    CARD_AUTHENTICATED = 1
    RESIDENT_OF_CITY = 2


class RevocationReason(IntEnum):
    """``IIdentityRegistry.RevocationReason``: how a record ended, never why (why a resident's record was
    revoked is personal and stays in the service's records). ``REVOKED`` by ``revoke``, ``REBOUND`` by a
    recovery, ``SUSPENDED`` by ``suspendMerchant``."""

    NONE = 0
    REVOKED = 1
    REBOUND = 2
    SUSPENDED = 3


@dataclass(frozen=True)
class IdentityStatus:
    """``status(wallet)``: the coin's view of a wallet.

    Attributes:
        kind: the record's kind (``Kind.NONE`` without a record).
        level: the resident's assurance level (``NONE`` for merchants and city accounts).
        verified: has a record that is neither revoked nor expired.
    """

    kind: Kind
    level: AssuranceLevel
    verified: bool


@dataclass(frozen=True)
class IdentityRecord:
    """``recordOf(wallet)``: the whole record, one storage word (all zero when the wallet has none).

    The chain keeps only the leading bytes of the subject key and the evidence commitment (the whole
    values are in the ``Attested`` / ``Renewed`` / ``Rebound`` events); ``holds_subject`` and
    ``holds_evidence`` compare a whole value against them.

    Attributes:
        kind, level: as in ``IdentityStatus``.
        revocation_reason: how it ended (``NONE`` while live).
        expires_at: unix seconds.
        subject_tag: the subject key's first 16 bytes (the key: HMAC of a random per-person id).
        evidence_tag: the first 8 bytes of the commitment to the encrypted off-chain evidence bundle.
    """

    kind: Kind
    level: AssuranceLevel
    revocation_reason: RevocationReason
    expires_at: int
    subject_tag: bytes
    evidence_tag: bytes

    @property
    def exists(self) -> bool:
        """The wallet was ever attested or registered."""
        return self.kind is not Kind.NONE

    @property
    def live(self) -> bool:
        """Exists and is not revoked (an expired record is still live: it keeps its subject)."""
        return self.exists and self.revocation_reason is RevocationReason.NONE

    @property
    def retired(self) -> bool:
        """Given up by a recovery: this wallet can never be attested again."""
        return self.revocation_reason is RevocationReason.REBOUND

    def holds_subject(self, subject_key: bytes | str) -> bool:
        """The record is bound to ``subject_key`` (its tag is the key's first 16 bytes)."""
        return self.exists and to_bytes32(subject_key, "subject key")[:SUBJECT_TAG_BYTES] == self.subject_tag

    def holds_evidence(self, evidence: bytes | str) -> bool:
        """The record's evidence commitment is ``evidence`` (its tag is the commitment's first 8 bytes)."""
        return self.exists and to_bytes32(evidence, "evidence")[:EVIDENCE_TAG_BYTES] == self.evidence_tag

    def verified_at(self, timestamp: int) -> bool:
        """What ``isVerified`` answers in a block with this timestamp."""
        return self.live and timestamp < self.expires_at


def unix_time(value: int | datetime) -> int:
    """Seconds since the epoch, from an int or a timezone-aware datetime.

    Raises:
        ValueError: a naive datetime (ambiguous) or a time that does not fit the contract's uint40.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("use a timezone-aware datetime for on-chain times")
        value = int(value.timestamp())
    if not 0 <= value < 2**40:
        raise ValueError(f"time {value} does not fit uint40")
    return int(value)


class IdentityRegistryClient(ContractClient):
    """The deployed ``IdentityRegistry``."""

    ARTIFACT = "IdentityRegistry"
    REGISTRAR_ROLE = role_id("REGISTRAR_ROLE")
    RECOVERY_ROLE = role_id("RECOVERY_ROLE")

    # ------------------------------------------------------------------ reads
    def is_verified(self, wallet: str) -> bool:
        """Has a record that is neither revoked nor expired (the chain checks expiry itself)."""
        return bool(self._read("isVerified", to_checksum_address(wallet)))

    def status(self, wallet: str) -> IdentityStatus:
        """Kind, level and verified, from one storage read on chain."""
        kind, level, verified = self._read("status", to_checksum_address(wallet))
        return IdentityStatus(Kind(kind), AssuranceLevel(level), bool(verified))

    def record_of(self, wallet: str) -> IdentityRecord:
        """The full record of ``wallet`` (all zero without one)."""
        return _record(self._read("recordOf", to_checksum_address(wallet)))

    def wallet_of(self, subject_key: bytes | str) -> str | None:
        """The wallet a subject is bound to (live, expired or revoked-but-not-moved), else ``None``."""
        return optional_address(self._read("walletOf", to_bytes32(subject_key, "subject key")))

    def successor_of(self, wallet: str) -> str | None:
        """The wallet that now holds ``wallet``'s subject, when it is another wallet, else ``None``.

        Set once a recovery ran (``RegionalCoin.executeRecovery``).
        """
        return optional_address(self._read("successorOf", to_checksum_address(wallet)))

    # ------------------------------------------------------------------ writes (REGISTRAR_ROLE)
    def attest_call(
        self,
        wallet: str,
        subject_key: bytes | str,
        level: AssuranceLevel,
        expires_at: int | datetime,
        evidence: bytes | str,
    ) -> Call:
        """Bind a resident's ``wallet`` to ``subject_key`` after the card-linking checks passed.

        Args:
            wallet: the resident's wallet (no live record, never retired by a recovery).
            subject_key: 32-byte opaque subject key (non-zero, not bound to another live wallet).
            level: ``CARD_AUTHENTICATED`` or ``RESIDENT_OF_CITY``.
            expires_at: when the record stops being valid (in the future).
            evidence: 32-byte commitment to the encrypted evidence bundle.

        Raises:
            ValueError: a value does not fit its Solidity type (the chain checks the rest).
        """
        return self._call(
            "attest",
            to_checksum_address(wallet),
            to_bytes32(subject_key, "subject key"),
            AssuranceLevel(level),
            unix_time(expires_at),
            to_bytes32(evidence, "evidence"),
        )

    def register_merchant_call(
        self, wallet: str, merchant_key: bytes | str, expires_at: int | datetime, evidence: bytes | str
    ) -> Call:
        """Register (or reinstate a suspended) merchant wallet under an opaque merchant key."""
        return self._call(
            "registerMerchant",
            to_checksum_address(wallet),
            to_bytes32(merchant_key, "merchant key"),
            unix_time(expires_at),
            to_bytes32(evidence, "evidence"),
        )

    def register_city_account_call(
        self, wallet: str, account_key: bytes | str, expires_at: int | datetime, evidence: bytes | str
    ) -> Call:
        """Register a city account (fee treasury, benefit payer) under an opaque account key."""
        return self._call(
            "registerCityAccount",
            to_checksum_address(wallet),
            to_bytes32(account_key, "account key"),
            unix_time(expires_at),
            to_bytes32(evidence, "evidence"),
        )

    def renew_call(self, wallet: str, level: AssuranceLevel, expires_at: int | datetime, evidence: bytes | str) -> Call:
        """Give a live (possibly expired) record a new level, expiry and evidence commitment.

        ``level`` must fit the record's kind: a resident level for residents, ``NONE`` otherwise.
        """
        return self._call(
            "renew",
            to_checksum_address(wallet),
            AssuranceLevel(level),
            unix_time(expires_at),
            to_bytes32(evidence, "evidence"),
        )

    def revoke_call(self, wallet: str) -> Call:
        """Revoke a live record; its subject becomes free for another wallet. No reason goes on chain."""
        return self._call("revoke", to_checksum_address(wallet))

    def suspend_merchant_call(self, wallet: str) -> Call:
        """Suspend a merchant: a revocation with reason ``SUSPENDED`` (``register_merchant_call``
        reinstates it)."""
        return self._call("suspendMerchant", to_checksum_address(wallet))


def _record(raw: Any) -> IdentityRecord:
    kind, level, reason, expires_at, subject_tag, evidence_tag = raw
    return IdentityRecord(
        kind=Kind(kind),
        level=AssuranceLevel(level),
        revocation_reason=RevocationReason(reason),
        expires_at=int(expires_at),
        subject_tag=bytes(subject_tag),
        evidence_tag=bytes(evidence_tag),
    )
