"""Identity tables: internal subjects, card-serial linkage, wallet identities.

Privacy: no table holds a raw certificate, a serial number or a basic fact in the clear.
Certificates are known only by a keyed hash of issuer ‖ serial; the four basic facts live
only in ``WalletIdentity.evidence``, sealed with a data key of its own (``procedures.crypto.Vault``),
so erasing that key erases them.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from chain.storage import Base, UTCDateTime, utcnow

__all__ = ["CardSerial", "IdentityAction", "IdentityStatus", "IdentitySubject", "RevokeReason", "WalletIdentity"]


class IdentityStatus(enum.StrEnum):
    """Life of a wallet identity.

    ``linked``: attested (or being attested) on chain — the subject's one live wallet.
    ``revoked``: revoked by the city (moved out, deceased, card revoked, requested).
    ``recovering``: a new wallet waiting for a requested recovery (announced on chain, cancellable by the
    lost wallet or the freezer) to run; it becomes ``linked`` and the lost wallet ``rebound`` when it does.
    ``rebound``: given up by lost-wallet recovery; the wallet is retired for good.
    ``cancelled``: a recovery that was cancelled before it ran (the lost wallet stays linked).
    ``failed``: the attestation (or the recovery request) never made it on chain (its intent failed).
    """

    LINKED = "linked"
    RECOVERING = "recovering"
    REVOKED = "revoked"
    REBOUND = "rebound"
    CANCELLED = "cancelled"
    FAILED = "failed"


class RevokeReason(enum.StrEnum):
    """Why the city revoked an identity. Kept here only: the chain learns that a record was revoked,
    never why (moving out or dying are personal facts)."""

    MOVED_OUT = "moved_out"
    DECEASED = "deceased"
    CARD_REVOKED = "card_revoked"
    REQUESTED = "requested"


class IdentityAction(enum.StrEnum):
    """The last operation on a wallet identity (what a client waits for)."""

    LINK = "link"
    RECOVER = "recover"
    RENEW = "renew"
    REVOKE = "revoke"


class IdentitySubject(Base):
    """One person, as the city knows them internally: created at the first link, kept across
    card renewals and lost wallets.  The chain only ever sees ``subject_key`` =
    HMAC(pepper, id)."""

    __tablename__ = "identity_subjects"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_key: Mapped[str] = mapped_column(String(66), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CardSerial(Base):
    """A card certificate seen at a successful link, known only by HMAC(pepper, issuer ‖ serial)."""

    __tablename__ = "identity_card_serials"

    serial_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("identity_subjects.id"), index=True)
    certificate: Mapped[str] = mapped_column(String(24))  # user-authentication | signing
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WalletIdentity(Base):
    """A wallet linked to a subject, and the on-chain intents that made it so.

    At most one ``linked`` row per subject and per wallet (partial unique indexes): one person,
    one live wallet, even under concurrent requests.
    """

    __tablename__ = "identity_wallets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    wallet: Mapped[str] = mapped_column(String(42), index=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("identity_subjects.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="resident")
    level: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=IdentityStatus.LINKED)
    last_action: Mapped[str] = mapped_column(String(16), default=IdentityAction.LINK)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    evidence_key_id: Mapped[str] = mapped_column(String(36))
    evidence: Mapped[bytes] = mapped_column(LargeBinary)
    evidence_commitment: Mapped[str] = mapped_column(String(66))
    attest_intent_id: Mapped[int] = mapped_column(Integer)
    attest_tx_hash: Mapped[str | None] = mapped_column(String(66))
    recover_intent_id: Mapped[int | None] = mapped_column(Integer)  # executeRecovery (attest: requestRecovery)
    cancel_intent_id: Mapped[int | None] = mapped_column(Integer)  # cancelRecovery(WithSignature)
    recovery_eta: Mapped[datetime | None] = mapped_column(UTCDateTime)  # from when the recovery may run
    renew_intent_id: Mapped[int | None] = mapped_column(Integer)
    revoke_intent_id: Mapped[int | None] = mapped_column(Integer)
    recovered_from: Mapped[str | None] = mapped_column(String(42))
    rebound_to: Mapped[str | None] = mapped_column(String(42))
    revocation_reason: Mapped[str | None] = mapped_column(String(16))
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index(
            "uq_identity_wallets_live_subject",
            "subject_id",
            unique=True,
            sqlite_where=text("status = 'linked'"),
            postgresql_where=text("status = 'linked'"),
        ),
        Index(
            "uq_identity_wallets_live_wallet",
            "wallet",
            unique=True,
            sqlite_where=text("status = 'linked'"),
            postgresql_where=text("status = 'linked'"),
        ),
    )
