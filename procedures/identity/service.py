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

This module runs the operations; ``records`` keeps the rows in step with the chain, ``evidence``
seals the bundle, ``views`` is what the operations return.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chain.contracts.coin import FreezeKind
from chain.contracts.registry import AssuranceLevel as ChainLevel
from chain.outbox import enqueue
from chain.plan import REGISTRY
from chain.storage import utcnow
from procedures.addresses import checksum
from procedures.auth.service import consume_challenge, issue_challenge, revoke_wallet_tokens
from procedures.crypto import Vault
from procedures.errors import ServiceError
from procedures.identity.certs import VerifiedCard
from procedures.identity.errors import (
    IdentityNotFound,
    LostWalletFrozen,
    LostWalletMismatch,
    RecoveryPending,
    SigningCertificateRequired,
    SubjectAlreadyLinked,
    SubjectMismatch,
    SubjectNotLinked,
)
from procedures.identity.evidence import open_evidence, seal_evidence
from procedures.identity.models import IdentityAction, IdentityStatus, RevokeReason, WalletIdentity
from procedures.identity.records import IdentityRecords, race
from procedures.identity.subjects import Pepper, SubjectDirectory
from procedures.identity.trust import IdentityTrust, build_trust
from procedures.identity.views import ChainView, ChallengeView, IdentityView
from procedures.runtime import Runtime
from protocol.errors import NonceExpired, NonceReused
from protocol.nonces import check_freshness
from protocol.statement import CardSignatures, LinkStatement, Purpose, check_context, verify_wallet_signature

__all__ = ["CHALLENGE_PURPOSES", "IdentityService"]

#: The recovery's note when the lost wallet still has coins in its offline reserve (see docs/offline.md).
OFFLINE_RESERVE_NOTE = ("the lost wallet's offline reserve holds {amount} coins: the recovery does not move them "
                        "(offline payments already signed against them may still be relayed), and once it has run "
                        "they cannot be released to the retired wallet; ask the city counter — moving a reserve to "
                        "the new wallet is not built yet")

log = logging.getLogger("machi.identity")

#: Challenge purposes in the shared ``challenges`` table (wallet login uses ``login``).
CHALLENGE_PURPOSES = {
    Purpose.LINK: "identity-link",
    Purpose.RECOVER: "identity-recover",
    Purpose.RENEW: "identity-renew",
}


class IdentityService:
    """Card linking on top of a ``Runtime`` (database, vault, chain, relayer outbox).

    Args:
        runtime: the service runtime.
        trust: verifier and renewal linkage; built from settings on first use when omitted.
    """

    def __init__(self, runtime: Runtime, trust: IdentityTrust | None = None) -> None:
        self.runtime = runtime
        self.records = IdentityRecords(runtime)
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
        return checksum(self.runtime.manifest.address(REGISTRY), "registry")

    @cached_property
    def _pepper(self) -> Pepper:
        return Pepper.derive(self.runtime.settings.secret_key.get_secret_value())

    def _sender(self, kind: str) -> str:
        # registry calls go out with the registrar key, the recovery request with the recovery key
        keys = self.runtime.keys
        return str((keys.recovery if kind == "coin.request_recovery" else keys.registrar).address)

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
        self, session: Session, statement: LinkStatement, card: CardSignatures, wallet_signature: bytes
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
                self.records.ensure_wallet_free(session, wallet)
                subject = self.subjects.resolve(session, verified)
                if subject is None:
                    subject = self.subjects.create(session)
                elif self.records.live_for_subject(session, subject.id) is not None:
                    raise SubjectAlreadyLinked()
                self.subjects.remember(session, subject.id, verified)
                row = WalletIdentity(
                    id=str(uuid.uuid4()), wallet=wallet, subject_id=subject.id, kind="resident",
                    level=int(verified.level), status=IdentityStatus.LINKED, last_action=IdentityAction.LINK,
                    expires_at=self._expiry(),
                )
                seal_evidence(session, self.runtime.vault, row, statement, card, wallet_signature, verified)
                call = self.runtime.registry.attest_call(
                    wallet, subject.subject_key, ChainLevel(int(verified.level)), row.expires_at,
                    row.evidence_commitment,
                )
                row.attest_intent_id = self._enqueue(session, call.to, call.data, "registry.attest", row.id)
                session.add(row)
                session.flush()
        except IntegrityError as exc:
            raise race(exc) from None
        log.info("identity linked: wallet %s level %s (intent %d)", wallet, verified.level.name, row.attest_intent_id)
        return self.records.view(session, row, note=verified.note)

    # ------------------------------------------------------------------ recover
    def recover(
        self,
        session: Session,
        statement: LinkStatement,
        card: CardSignatures,
        wallet_signature: bytes,
        lost_wallet: str,
    ) -> IdentityView:
        """Request the move of the card holder's identity and coins from ``lost_wallet`` to
        ``statement.wallet`` (a new wallet).

        Nothing moves now: ``RegionalCoin.requestRecovery(lost, new, evidence)`` is enqueued, the chain
        announces it and lets it run only after the recovery delay, and until then the lost wallet or the
        freezer can cancel it. The new wallet's row waits as ``recovering``; ``recovery.follow`` (a
        worker) executes it when due and retires the lost wallet then.

        Raises:
            SigningCertificateRequired: the card signed with its authentication certificate alone.
            SubjectNotLinked: the card holder has no live wallet.
            LostWalletMismatch: ``lost_wallet`` is not that wallet (or equals the new one).
            RecoveryPending: a recovery of this person is already waiting.
            LostWalletFrozen: the lost wallet is frozen (and not as reported lost).
            WalletAlreadyLinked, WalletRetired: the new wallet cannot take the identity.
            plus the statement, challenge, card and signature errors of ``link``.
        """
        self._open(session, statement, Purpose.RECOVER)
        try:
            with session.begin_nested():
                verified = self._verify(statement, card, wallet_signature)
                if verified.signing is None:
                    raise SigningCertificateRequired()
                new_wallet = statement.wallet
                lost = checksum(lost_wallet, "lost_wallet")
                if lost == new_wallet:
                    raise LostWalletMismatch("recover from a new wallet, not from the lost one")
                subject = self.subjects.resolve(session, verified)
                old = None if subject is None else self.records.live_for_subject(session, subject.id)
                if subject is None or old is None:
                    raise SubjectNotLinked()
                if old.wallet != lost:
                    raise LostWalletMismatch()
                waiting = session.scalar(select(WalletIdentity.id).where(
                    WalletIdentity.subject_id == subject.id, WalletIdentity.status == IdentityStatus.RECOVERING))
                coin = self.runtime.coin
                if waiting is not None or coin.pending_recovery(lost).pending:
                    raise RecoveryPending()
                if coin.freeze_kind(lost) is FreezeKind.FROZEN:
                    raise LostWalletFrozen()
                self.records.ensure_wallet_free(session, new_wallet)
                self.subjects.remember(session, subject.id, verified)
                row = WalletIdentity(
                    id=str(uuid.uuid4()), wallet=new_wallet, subject_id=subject.id, kind=old.kind, level=old.level,
                    status=IdentityStatus.RECOVERING, last_action=IdentityAction.RECOVER,
                    expires_at=old.expires_at, recovered_from=lost,
                )
                seal_evidence(session, self.runtime.vault, row, statement, card, wallet_signature, verified)
                request = coin.request_recovery_call(lost, new_wallet, row.evidence_commitment)
                row.attest_intent_id = self._enqueue(session, request.to, request.data, "coin.request_recovery",
                                                     row.id)
                session.add(row)
                session.flush()
        except IntegrityError as exc:
            raise race(exc) from None
        log.info("identity recovery requested: wallet %s to replace %s (intent %d)", new_wallet, lost,
                 row.attest_intent_id)
        # The recovery moves the lost wallet's balance, not its offline reserve (held by the reserve contract,
        # released only to the payer, which the recovery retires): say so rather than strand it quietly.
        stranded, _ = self.runtime.reserve.reserve_of(lost)
        note = verified.note
        if stranded:
            log.warning("identity recovery: the offline reserve of %s holds %d coins the recovery does not move",
                        lost, stranded)
            note = (f"{note}; " if note else "") + OFFLINE_RESERVE_NOTE.format(amount=stranded)
        return self.records.view(session, row, note=note)

    # ------------------------------------------------------------------ renew
    def renew(
        self, session: Session, statement: LinkStatement, card: CardSignatures, wallet_signature: bytes
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
            row = self.records.live_for_wallet(session, statement.wallet)
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
            seal_evidence(session, self.runtime.vault, row, statement, card, wallet_signature, verified)
            self.runtime.vault.erase(session, previous_key)
            call = self.runtime.registry.renew_call(row.wallet, ChainLevel(row.level), row.expires_at,
                                                 row.evidence_commitment)
            row.renew_intent_id = self._enqueue(session, call.to, call.data, "registry.renew",
                                                f"{row.id}:{uuid.uuid4().hex[:8]}")
            session.flush()
        log.info("identity renewed: wallet %s level %s (intent %d)", row.wallet, verified.level.name,
                 row.renew_intent_id)
        return self.records.view(session, row, note=verified.note)

    # ------------------------------------------------------------------ revoke
    def revoke(self, session: Session, wallet: str, reason: RevokeReason, actor: str) -> IdentityView:
        """Revoke the live identity of ``wallet`` (city decision) and enqueue the on-chain revocation.

        The chain gets ``revoke(wallet)`` without the reason; the reason stays in the database.
        At the holder's request (``REQUESTED``) every evidence bundle of the person — this wallet's
        and those of wallets they linked before — is crypto-erased in the same transaction: the
        basic facts and serials go; the subject and its card-serial hashes stay, so the person is
        still one person if they link again (docs/privacy.md, "Retention").

        Args:
            reason: ``MOVED_OUT``, ``DECEASED``, ``CARD_REVOKED`` or ``REQUESTED``.
            actor: who decided (staff id), kept for the audit trail.

        Raises:
            IdentityNotFound: the wallet has no live identity.
        """
        row = self.records.live_for_wallet(session, checksum(wallet))
        if row is None:
            raise IdentityNotFound()
        call = self.runtime.registry.revoke_call(row.wallet)
        row.status = IdentityStatus.REVOKED
        row.revocation_reason = reason.value
        row.revoked_by = actor
        row.revoked_at = utcnow()
        row.last_action = IdentityAction.REVOKE
        row.revoke_intent_id = self._enqueue(session, call.to, call.data, "registry.revoke", row.id)
        revoke_wallet_tokens(session, row.wallet)  # a revoked wallet is logged out at once
        if reason == RevokeReason.REQUESTED:
            for evidence_key in session.scalars(select(WalletIdentity.evidence_key_id)
                                                .where(WalletIdentity.subject_id == row.subject_id)):
                Vault.erase(session, evidence_key)
        session.flush()
        log.info("identity revoked: wallet %s reason %s (intent %d)", row.wallet, row.revocation_reason,
                 row.revoke_intent_id)
        return self.records.view(session, row)

    # ------------------------------------------------------------------ reads
    def get(self, session: Session, identity_id: str) -> IdentityView:
        """One identity by id.

        Raises:
            IdentityNotFound: no such identity.
        """
        row = session.get(WalletIdentity, identity_id)
        if row is None:
            raise IdentityNotFound("no such identity")
        self.records.settle(session, row)
        return self.records.view(session, row)

    def current(self, session: Session, wallet: str) -> IdentityView | None:
        """The newest identity of ``wallet`` (live or not), or ``None``."""
        row = self.records.newest(session, checksum(wallet))
        return None if row is None else self.records.view(session, row)

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
        self.records.wait(identity_id, timeout)

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

    def _verify(self, statement: LinkStatement, card: CardSignatures, wallet_signature: bytes) -> VerifiedCard:
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
        return SubjectDirectory(self._pepper, self.trust.renewals)

    # ------------------------------------------------------------------ evidence and chain
    def _expiry(self) -> datetime:
        expires = utcnow() + timedelta(days=self.runtime.settings.identity_attestation_days)
        return expires.replace(microsecond=0)

    def open_evidence(self, session: Session, identity_id: str) -> dict[str, Any]:
        """Decrypt an identity's evidence bundle (personal data: for audits, never for logs).

        Raises:
            IdentityNotFound: no such identity.
            RecordErased: the bundle was crypto-erased.
        """
        row = session.get(WalletIdentity, identity_id)
        if row is None:
            raise IdentityNotFound("no such identity")
        return open_evidence(session, self.runtime.vault, row)

    def _enqueue(self, session: Session, to: str, data: bytes, kind: str, reference: str) -> int:
        intent = enqueue(session, sender=self._sender(kind), to=to, data=data, kind=kind,
                         reference=f"identity:{kind}:{reference}")
        return int(intent.id)
