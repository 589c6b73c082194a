"""Identity service: link a wallet to a My Number card, recover a lost wallet, renew, revoke.

A link runs in the request's database transaction, in this order:

1. the statement targets this chain and registry, with the expected purpose, and is fresh;
2. its nonce is a challenge issued to this wallet for this purpose, consumed now (single use —
   also when a later check fails: the route commits the consumption, see ``routes.py``);
3. the card: certificate chain to the pinned J-LIS roots, validity, key usage, policy, the
   card signature(s) over the canonical statement, revocation (``JpkiVerifier``);
4. the wallet's EIP-712 signature over the same statement;
5. the card → the internal subject (serial linkage, across J-LIS renewals), or a new subject;
6. one live wallet per subject, one live identity per wallet;
7. the evidence bundle (verification outcome, basic facts, signatures — never the raw
   certificates) sealed under a fresh per-record key;
8. ``IdentityRegistry.attest(wallet, HMAC(pepper, subject id), level, expiry, keccak(sealed))``
   enqueued in the relayer's outbox, committed together with everything above.

Nothing personal reaches the chain or the logs: the subject key is a keyed hash of a random
id, the evidence commitment a hash of ciphertext, and the expiry a fixed lifetime from settings
(a certificate's expiry is the holder's birthday).
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chain.contracts.registry import AssuranceLevel as ChainLevel
from chain.contracts.registry import RevocationReason
from chain.outbox import IntentStatus, IntentTimeout, TxIntent, enqueue, wait_for_intent
from chain.plan import REGISTRY
from chain.storage import utcnow
from procedures.addresses import checksum
from procedures.auth.service import consume_challenge, issue_challenge
from procedures.errors import ServiceError
from procedures.identity.certs import AssuranceLevel, VerifiedCard
from procedures.identity.errors import (
    IdentityNotFound,
    LostWalletMismatch,
    SubjectAlreadyLinked,
    SubjectMismatch,
    SubjectNotLinked,
    WalletAlreadyLinked,
    WalletRetired,
)
from procedures.identity.models import IdentityAction, IdentityStatus, IdentitySubject, WalletIdentity
from procedures.identity.subjects import SubjectDirectory
from procedures.identity.trust import IdentityTrust, build_trust
from procedures.runtime import Runtime
from protocol.errors import NonceExpired, NonceReused
from protocol.nonces import check_freshness
from protocol.statement import LinkStatement, Purpose, check_context, verify_wallet_signature

__all__ = [
    "CHALLENGE_PURPOSES",
    "CardProof",
    "ChainView",
    "ChallengeView",
    "IdentityService",
    "IdentityView",
    "IntentView",
    "OperationStatus",
]

log = logging.getLogger("machi.identity")

#: Challenge purposes in the shared ``challenges`` table (wallet login uses ``login``).
CHALLENGE_PURPOSES = {
    Purpose.LINK: "identity-link",
    Purpose.RECOVER: "identity-recover",
    Purpose.RENEW: "identity-renew",
}
_EVIDENCE_PURPOSE = "identity-evidence"
#: A recovered identity expiring sooner than this is renewed as part of the recovery.
_RECOVERY_RENEW_MARGIN = timedelta(days=1)


class OperationStatus:
    """Aggregate state of an operation's chain intents."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    FAILED = "failed"


@dataclass(frozen=True)
class CardProof:
    """What the card produced: DER certificates and PKCS#1 v1.5 signatures over the statement."""

    auth_certificate: bytes
    auth_signature: bytes
    signing_certificate: bytes | None = None
    signing_signature: bytes | None = None


@dataclass(frozen=True)
class ChallengeView:
    """A fresh challenge and the statement the resident signs with card and wallet."""

    nonce: str
    purpose: Purpose
    wallet: str
    expires_at: datetime
    statement: LinkStatement


@dataclass(frozen=True)
class IntentView:
    """One chain write of an operation, as the outbox sees it."""

    id: int
    kind: str
    status: str
    tx_hash: str | None
    block_number: int | None
    error_code: str | None
    error_message: str | None


@dataclass(frozen=True)
class IdentityView:
    """A wallet identity and the state of its last operation (no personal data)."""

    id: str
    wallet: str
    kind: str
    level: AssuranceLevel
    status: str
    action: str
    expires_at: datetime
    evidence_commitment: str
    attest_tx_hash: str | None
    operation_status: str
    intents: list[IntentView]
    recovered_from: str | None
    rebound_to: str | None
    revocation_reason: str | None
    created_at: datetime
    note: str | None = None


@dataclass(frozen=True)
class ChainView:
    """What the chain says about a wallet."""

    kind: str
    level: int
    verified: bool
    expires_at: datetime | None
    balance: int


class IdentityService:
    """Card linking on top of a ``Runtime`` (database, vault, chain, relayer outbox).

    Args:
        runtime: the service runtime.
        trust: verifier and renewal linkage; built from settings on first use when omitted.
    """

    def __init__(self, runtime: Runtime, trust: IdentityTrust | None = None) -> None:
        self.runtime = runtime
        self._trust = trust
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ wiring
    @property
    def trust(self) -> IdentityTrust:
        """The verifier and renewal linkage (built once, on first use).

        Raises:
            Unavailable: production without configured J-LIS anchors.
        """
        if self._trust is None:
            with self._lock:
                if self._trust is None:
                    self._trust = build_trust(self.runtime.settings)
        return self._trust

    @property
    def chain_id(self) -> int:
        return self.runtime.manifest.chain_id

    @property
    def registry_address(self) -> str:
        return to_checksum_address(self.runtime.manifest.address(REGISTRY))

    @property
    def _secret(self) -> str:
        return self.runtime.settings.secret_key.get_secret_value()

    @property
    def _relayer(self) -> str:
        return str(self.runtime.keys.relayer.address)

    # ------------------------------------------------------------------ challenge
    def challenge(self, session: Session, wallet: str, purpose: Purpose) -> ChallengeView:
        """Issue a single-use nonce bound to ``wallet`` and ``purpose``, and the statement to sign.

        The statement carries the server's time as ``issued_at`` so client clocks do not matter.

        Raises:
            InvalidRequest: ``wallet`` is not an address.
        """
        ttl = timedelta(seconds=self.runtime.settings.identity_challenge_ttl)
        row = issue_challenge(session, CHALLENGE_PURPOSES[purpose], wallet, ttl=ttl)
        statement = LinkStatement.create(
            purpose=purpose,
            wallet=row.wallet,
            chain_id=self.chain_id,
            registry=self.registry_address,
            nonce=row.nonce,
            issued_at=utcnow(),
        )
        return ChallengeView(row.nonce, purpose, row.wallet, row.expires_at, statement)

    # ------------------------------------------------------------------ link
    def link(
        self, session: Session, statement: LinkStatement, card: CardProof, wallet_signature: bytes
    ) -> IdentityView:
        """Link ``statement.wallet`` to the card holder and enqueue the on-chain attestation.

        Args:
            session: the request's transaction (committed by the caller).
            statement: the signed statement (purpose ``link``).
            card: certificates and the card's signature(s) over ``statement.canonical_bytes()``.
            wallet_signature: the wallet's 65-byte EIP-712 signature over the statement.

        Raises:
            MalformedStatement, NonceExpired, NonceReused: statement or challenge problems.
            CertificateError, SignatureError: the card or the wallet signature failed verification.
            WalletAlreadyLinked, WalletRetired: the wallet cannot take a new identity.
            SubjectAlreadyLinked: the card holder already has another live wallet.
            CertificateMismatch: the card's certificates are known under different persons.
        """
        self._open(session, statement, Purpose.LINK)
        try:
            with session.begin_nested():
                verified = self._verify(statement, card, wallet_signature)
                wallet = statement.wallet
                self._ensure_wallet_free(session, wallet)
                subject = self.subjects.resolve(session, verified)
                if subject is None:
                    subject = self.subjects.create(session)
                elif self._live_for_subject(session, subject.id) is not None:
                    raise SubjectAlreadyLinked()
                self.subjects.remember(session, subject.id, verified)
                row = WalletIdentity(
                    id=str(uuid.uuid4()), wallet=wallet, subject_id=subject.id, kind="resident",
                    level=int(verified.level), status=IdentityStatus.LINKED, last_action=IdentityAction.LINK,
                    expires_at=self._expiry(),
                )
                self._seal(session, row, statement, card, wallet_signature, verified)
                call = self.runtime.registry.attest_call(
                    wallet, subject.subject_key, ChainLevel(int(verified.level)), row.expires_at,
                    row.evidence_commitment,
                )
                row.attest_intent_id = self._enqueue(session, call.to, call.data, "registry.attest", row.id)
                session.add(row)
                session.flush()
        except IntegrityError as exc:
            raise _race(exc) from None
        log.info("identity linked: wallet %s level %s (intent %d)", wallet, verified.level.name, row.attest_intent_id)
        return self._view(session, row, note=verified.note)

    # ------------------------------------------------------------------ recover
    def recover(
        self,
        session: Session,
        statement: LinkStatement,
        card: CardProof,
        wallet_signature: bytes,
        lost_wallet: str,
    ) -> IdentityView:
        """Move the card holder's identity from ``lost_wallet`` to ``statement.wallet`` (a new wallet)
        and its coin balance with it.

        Enqueues ``IdentityRegistry.rebind`` (the new wallet inherits level and expiry; the lost one
        is retired for good), a ``renew`` when the inherited expiry is (nearly) over, then
        ``RegionalCoin.recover(lost_wallet)``, which moves the whole balance to the new wallet.

        Raises:
            SubjectNotLinked: the card holder has no live wallet.
            LostWalletMismatch: ``lost_wallet`` is not that wallet (or equals the new one).
            WalletAlreadyLinked, WalletRetired: the new wallet cannot take the identity.
            plus the statement, challenge, card and signature errors of ``link``.
        """
        self._open(session, statement, Purpose.RECOVER)
        try:
            with session.begin_nested():
                verified = self._verify(statement, card, wallet_signature)
                new_wallet = statement.wallet
                lost = checksum(lost_wallet, "lost_wallet")
                if lost == new_wallet:
                    raise LostWalletMismatch("recover from a new wallet, not from the lost one")
                subject = self.subjects.resolve(session, verified)
                old = None if subject is None else self._live_for_subject(session, subject.id)
                if subject is None or old is None:
                    raise SubjectNotLinked()
                if old.wallet != lost:
                    raise LostWalletMismatch()
                self._ensure_wallet_free(session, new_wallet)
                self.subjects.remember(session, subject.id, verified)
                now = utcnow()
                old.status = IdentityStatus.REBOUND
                old.rebound_to = new_wallet
                old.revoked_at = now
                old.revocation_reason = "rebound"
                session.flush()  # the old row leaves the "one live wallet" index before the new row enters
                row = WalletIdentity(
                    id=str(uuid.uuid4()), wallet=new_wallet, subject_id=subject.id, kind=old.kind, level=old.level,
                    status=IdentityStatus.LINKED, last_action=IdentityAction.RECOVER, expires_at=old.expires_at,
                    recovered_from=lost,
                )
                self._seal(session, row, statement, card, wallet_signature, verified)
                registry, coin = self.runtime.registry, self.runtime.coin
                rebind = registry.rebind_call(subject.subject_key, new_wallet, row.evidence_commitment)
                row.attest_intent_id = self._enqueue(session, rebind.to, rebind.data, "registry.rebind", row.id)
                if row.expires_at <= now + _RECOVERY_RENEW_MARGIN:
                    row.expires_at = self._expiry()
                    renew = registry.renew_call(new_wallet, ChainLevel(row.level), row.expires_at,
                                                row.evidence_commitment)
                    row.renew_intent_id = self._enqueue(session, renew.to, renew.data, "registry.renew", row.id)
                move = coin.recover_call(lost)
                row.recover_intent_id = self._enqueue(session, move.to, move.data, "coin.recover", row.id)
                session.add(row)
                session.flush()
        except IntegrityError as exc:
            raise _race(exc) from None
        log.info("identity recovered: wallet %s replaces %s (intent %d)", new_wallet, lost, row.attest_intent_id)
        return self._view(session, row, note=verified.note)

    # ------------------------------------------------------------------ renew
    def renew(
        self, session: Session, statement: LinkStatement, card: CardProof, wallet_signature: bytes
    ) -> IdentityView:
        """Re-verify the card holder of ``statement.wallet``: new level, a fresh expiry and new
        evidence (the previous evidence bundle is crypto-erased).  A renewed card (new serials)
        is recognised through the J-LIS renewal linkage.

        Raises:
            IdentityNotFound: the wallet has no live identity.
            SubjectMismatch: the card belongs to somebody else.
            plus the statement, challenge, card and signature errors of ``link``.
        """
        self._open(session, statement, Purpose.RENEW)
        with session.begin_nested():
            verified = self._verify(statement, card, wallet_signature)
            row = self._live_for_wallet(session, statement.wallet)
            if row is None:
                raise IdentityNotFound()
            subject = self.subjects.resolve(session, verified)
            if subject is None or subject.id != row.subject_id:
                raise SubjectMismatch()
            self.subjects.remember(session, subject.id, verified)
            previous_key = row.evidence_key_id
            row.level = int(verified.level)
            row.expires_at = self._expiry()
            row.last_action = IdentityAction.RENEW
            self._seal(session, row, statement, card, wallet_signature, verified)
            self.runtime.vault.erase(session, previous_key)
            call = self.runtime.registry.renew_call(row.wallet, ChainLevel(row.level), row.expires_at,
                                                 row.evidence_commitment)
            row.renew_intent_id = self._enqueue(session, call.to, call.data, "registry.renew",
                                                f"{row.id}:{uuid.uuid4().hex[:8]}")
            session.flush()
        log.info("identity renewed: wallet %s level %s (intent %d)", row.wallet, verified.level.name,
                 row.renew_intent_id)
        return self._view(session, row, note=verified.note)

    # ------------------------------------------------------------------ revoke
    def revoke(self, session: Session, wallet: str, reason: RevocationReason, actor: str) -> IdentityView:
        """Revoke the live identity of ``wallet`` (city decision) and enqueue the on-chain revocation.

        Args:
            reason: ``MOVED_OUT``, ``DECEASED``, ``CARD_REVOKED`` or ``REQUESTED``.
            actor: who decided (staff id), kept for the audit trail.

        Raises:
            IdentityNotFound: the wallet has no live identity.
        """
        row = self._live_for_wallet(session, checksum(wallet))
        if row is None:
            raise IdentityNotFound()
        call = self.runtime.registry.revoke_call(row.wallet, reason)
        row.status = IdentityStatus.REVOKED
        row.revocation_reason = reason.name.lower()
        row.revoked_by = actor
        row.revoked_at = utcnow()
        row.last_action = IdentityAction.REVOKE
        row.revoke_intent_id = self._enqueue(session, call.to, call.data, "registry.revoke", row.id)
        session.flush()
        log.info("identity revoked: wallet %s reason %s (intent %d)", row.wallet, row.revocation_reason,
                 row.revoke_intent_id)
        return self._view(session, row)

    # ------------------------------------------------------------------ reads
    def get(self, session: Session, identity_id: str) -> IdentityView:
        """One identity by id.

        Raises:
            IdentityNotFound: no such identity.
        """
        row = session.get(WalletIdentity, identity_id)
        if row is None:
            raise IdentityNotFound("no such identity")
        self._settle(session, row)
        return self._view(session, row)

    def current(self, session: Session, wallet: str) -> IdentityView | None:
        """The newest identity of ``wallet`` (live or not), or ``None``."""
        row = session.scalar(
            select(WalletIdentity).where(WalletIdentity.wallet == checksum(wallet))
            .order_by(WalletIdentity.created_at.desc()).limit(1)
        )
        if row is None:
            return None
        self._settle(session, row)
        return self._view(session, row)

    def chain_status(self, wallet: str) -> ChainView:
        """Kind, level, verified, expiry and coin balance of ``wallet`` as the chain has them."""
        registry = self.runtime.registry
        status = registry.status(wallet)
        record = registry.record_of(wallet)
        expires = datetime.fromtimestamp(record.expires_at, tz=UTC) if record.exists else None
        return ChainView(
            kind=status.kind.name.lower(), level=int(status.level), verified=status.verified, expires_at=expires,
            balance=self.runtime.coin.balance_of(wallet),
        )

    def wait(self, identity_id: str, timeout: float) -> None:
        """Block until the identity's last operation reached the chain (or ``timeout`` passed)."""
        with self.runtime.sessions() as session:
            row = session.get(WalletIdentity, identity_id)
            ids = [] if row is None else _operation_intents(row)
        deadline = time.monotonic() + timeout
        for intent_id in ids:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                intent = wait_for_intent(self.runtime.sessions, intent_id, timeout=remaining)
            except IntentTimeout:
                return
            if intent.status == IntentStatus.FAILED:
                return

    # ------------------------------------------------------------------ verification
    def _open(self, session: Session, statement: LinkStatement, purpose: Purpose) -> None:
        """Statement context and freshness, then consume its nonce."""
        check_context(statement, chain_id=self.chain_id, registry=self.registry_address, purpose=purpose)
        max_age = timedelta(seconds=self.runtime.settings.identity_challenge_ttl)
        check_freshness(statement, now=utcnow(), max_age=max_age)
        try:
            consume_challenge(session, "0x" + statement.nonce_hex, CHALLENGE_PURPOSES[purpose], statement.wallet)
        except ServiceError as exc:
            if exc.code == "nonce_reused":
                raise NonceReused() from None
            raise NonceExpired("the challenge expired" if exc.code == "nonce_expired" else
                               "no such challenge for this wallet and purpose") from None

    def _verify(self, statement: LinkStatement, card: CardProof, wallet_signature: bytes) -> VerifiedCard:
        verified = self.trust.verifier.verify_card(
            card.auth_certificate,
            card.signing_certificate,
            message=statement.canonical_bytes(),
            auth_signature=card.auth_signature,
            signing_signature=card.signing_signature,
        )
        verify_wallet_signature(statement, wallet_signature)
        return verified

    # ------------------------------------------------------------------ subjects
    @property
    def subjects(self) -> SubjectDirectory:
        """Card → internal subject, across J-LIS renewals."""
        return SubjectDirectory(self._secret, self.trust.renewals)

    # ------------------------------------------------------------------ wallets
    def _live_for_subject(self, session: Session, subject_id: str) -> WalletIdentity | None:
        rows = session.scalars(
            select(WalletIdentity).where(WalletIdentity.subject_id == subject_id,
                                         WalletIdentity.status == IdentityStatus.LINKED)
        ).all()
        return self._first_live(session, rows)

    def _live_for_wallet(self, session: Session, wallet: str) -> WalletIdentity | None:
        rows = session.scalars(
            select(WalletIdentity).where(WalletIdentity.wallet == wallet,
                                         WalletIdentity.status == IdentityStatus.LINKED)
        ).all()
        return self._first_live(session, rows)

    def _first_live(self, session: Session, rows: Sequence[WalletIdentity]) -> WalletIdentity | None:
        for row in rows:
            self._settle(session, row)
            if row.status == IdentityStatus.LINKED:
                return row
        return None

    def _ensure_wallet_free(self, session: Session, wallet: str) -> None:
        """No live identity here and none on chain (a merchant, say); never a retired wallet."""
        if self._live_for_wallet(session, wallet) is not None:
            raise WalletAlreadyLinked()
        retired = session.scalar(
            select(WalletIdentity.id).where(WalletIdentity.wallet == wallet,
                                            WalletIdentity.status == IdentityStatus.REBOUND).limit(1)
        )
        if retired is not None:
            raise WalletRetired()
        record = self.runtime.registry.record_of(wallet)
        if record.retired:
            raise WalletRetired()
        if record.live:
            raise WalletAlreadyLinked()

    def _settle(self, session: Session, row: WalletIdentity) -> None:
        """Fold the outbox's outcome into the row: the tx hash, and a failed link or recovery."""
        intent = session.get(TxIntent, row.attest_intent_id)
        if intent is None:
            return
        if intent.tx_hash and row.attest_tx_hash != intent.tx_hash:
            row.attest_tx_hash = intent.tx_hash
        if intent.status != IntentStatus.FAILED or row.status != IdentityStatus.LINKED:
            return
        if row.last_action not in (IdentityAction.LINK, IdentityAction.RECOVER):
            return
        if self._on_chain(session, row):
            # A duplicate of a call that already took effect was refused (at-least-once relaying):
            # the chain binds this subject here, so the database must keep doing so too.
            log.warning("identity %s of wallet %s: a repeated call was refused (%s) but the chain has it",
                        row.last_action, row.wallet, intent.error_code)
            return
        log.warning("identity %s of wallet %s never reached the chain (%s)", row.last_action, row.wallet,
                    intent.error_code)
        row.status = IdentityStatus.FAILED
        if row.recovered_from:
            old = session.scalar(
                select(WalletIdentity).where(WalletIdentity.wallet == row.recovered_from,
                                             WalletIdentity.status == IdentityStatus.REBOUND,
                                             WalletIdentity.rebound_to == row.wallet)
            )
            if old is not None:
                session.flush()
                old.status, old.rebound_to, old.revoked_at, old.revocation_reason = (
                    IdentityStatus.LINKED, None, None, None)
        session.flush()

    def _on_chain(self, session: Session, row: WalletIdentity) -> bool:
        """Whether the registry already shows the row's last operation (its subject, its evidence;
        or its revocation), whatever the outbox says about the calls that carried it."""
        record = self.runtime.registry.record_of(row.wallet)
        if row.last_action == IdentityAction.REVOKE:
            return record.exists and not record.live
        subject = session.get(IdentitySubject, row.subject_id)
        return (
            subject is not None
            and record.live
            and "0x" + record.subject_key.hex() == subject.subject_key
            and "0x" + record.evidence.hex() == row.evidence_commitment
        )

    # ------------------------------------------------------------------ evidence and chain
    def _expiry(self) -> datetime:
        expires = utcnow() + timedelta(days=self.runtime.settings.identity_attestation_days)
        return expires.replace(microsecond=0)

    def _seal(
        self,
        session: Session,
        row: WalletIdentity,
        statement: LinkStatement,
        card: CardProof,
        wallet_signature: bytes,
        verified: VerifiedCard,
    ) -> None:
        """Seal the evidence bundle under a fresh data key; commit to it with keccak(ciphertext)."""
        bundle: dict[str, Any] = {
            "version": 1,
            "statement": statement.canonical_bytes().decode(),
            "verification": verified.evidence(),
            "note": verified.note,
            "signatures": {
                "auth": _b64(card.auth_signature),
                "signing": None if card.signing_signature is None else _b64(card.signing_signature),
                "wallet": "0x" + wallet_signature.hex(),
            },
        }
        vault = self.runtime.vault
        key_id = vault.new_key(session, _EVIDENCE_PURPOSE)
        blob = vault.seal_json(session, key_id, bundle, aad=_evidence_aad(row.id))
        row.evidence_key_id = key_id
        row.evidence = blob
        row.evidence_commitment = "0x" + keccak(blob).hex()

    def open_evidence(self, session: Session, identity_id: str) -> dict[str, Any]:
        """Decrypt an identity's evidence bundle (personal data: for audits, never for logs).

        Raises:
            IdentityNotFound: no such identity.
            RecordErased: the bundle was crypto-erased.
        """
        row = session.get(WalletIdentity, identity_id)
        if row is None:
            raise IdentityNotFound("no such identity")
        bundle: dict[str, Any] = self.runtime.vault.open_json(
            session, row.evidence_key_id, row.evidence, aad=_evidence_aad(row.id)
        )
        return bundle

    def _enqueue(self, session: Session, to: str, data: bytes, kind: str, reference: str) -> int:
        intent = enqueue(session, sender=self._relayer, to=to, data=data, kind=kind,
                         reference=f"identity:{kind}:{reference}")
        return int(intent.id)

    def _view(self, session: Session, row: WalletIdentity, note: str | None = None) -> IdentityView:
        intents = [session.get(TxIntent, i) for i in _operation_intents(row)]
        views = [_intent_view(i) for i in intents if i is not None]
        failed = [v for v in views if v.status == IntentStatus.FAILED]
        if failed and not self._excused(session, row, views, failed):
            state = OperationStatus.FAILED
        elif views and all(v.status in (IntentStatus.CONFIRMED, IntentStatus.FAILED) for v in views):
            state = OperationStatus.CONFIRMED
        else:
            state = OperationStatus.PENDING
        return IdentityView(
            id=row.id, wallet=row.wallet, kind=row.kind, level=AssuranceLevel(row.level), status=row.status,
            action=row.last_action, expires_at=row.expires_at, evidence_commitment=row.evidence_commitment,
            attest_tx_hash=row.attest_tx_hash, operation_status=state, intents=views,
            recovered_from=row.recovered_from, rebound_to=row.rebound_to, revocation_reason=row.revocation_reason,
            created_at=row.created_at, note=note,
        )


    def _excused(self, session: Session, row: WalletIdentity, views: list[IntentView],
                 failed: list[IntentView]) -> bool:
        """Registry calls refused only because they had already taken effect count as done."""
        if any(not v.kind.startswith("registry.") for v in failed):
            return False
        if any(v.status not in (IntentStatus.CONFIRMED, IntentStatus.FAILED) for v in views):
            return False
        return self._on_chain(session, row)


def _operation_intents(row: WalletIdentity) -> list[int]:
    """The intents of the row's last operation, in the order the relayer sends them."""
    if row.last_action == IdentityAction.REVOKE:
        return [i for i in (row.revoke_intent_id,) if i is not None]
    if row.last_action == IdentityAction.RENEW:
        return [i for i in (row.renew_intent_id,) if i is not None]
    ids = [row.attest_intent_id]
    if row.last_action == IdentityAction.RECOVER:
        ids += [i for i in (row.renew_intent_id, row.recover_intent_id) if i is not None]
    return ids


def _intent_view(intent: TxIntent) -> IntentView:
    return IntentView(
        id=intent.id, kind=intent.kind, status=intent.status, tx_hash=intent.tx_hash,
        block_number=intent.block_number, error_code=intent.error_code, error_message=intent.error_message,
    )


def _race(exc: IntegrityError) -> Exception:
    """A unique index caught a concurrent request doing the same thing."""
    text = str(exc.orig).lower()
    if "live_wallet" in text or "identity_wallets.wallet" in text:
        return WalletAlreadyLinked()
    return SubjectAlreadyLinked()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _evidence_aad(identity_id: str) -> bytes:
    return f"identity-evidence|{identity_id}".encode()

