"""Card holders as internal subjects: certificate → subject id, across card renewals.

The database knows a certificate only as ``HMAC(pepper, issuer ‖ serial)`` (``CardSerial``), never
by its serial.  A renewed card has new serials; the J-LIS renewal linkage (``SerialLinkage``)
names the certificate it replaced, so the lookup walks back through renewals until it finds a
certificate seen before.  The chain only ever sees ``HMAC(pepper, subject id)``.

The pepper is two HMAC keys derived from ``MACHI_SECRET_KEY`` under labels of their own (``Pepper``):
without it the subject keys on chain cannot be linked to a card or to each other. It must never
change for a running city: a new pepper makes every known card look new, so a person linking again
would get a second subject — and a second wallet past the registry's one-person-one-wallet rule
(docs/privacy.md, "Keys").
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from chain.storage import utcnow
from procedures.crypto import derive_key
from procedures.identity.certs import CertKind, CertRef, SerialLinkage, VerifiedCard
from procedures.identity.errors import CertificateMismatch
from procedures.identity.models import CardSerial, IdentitySubject

__all__ = ["Pepper", "SubjectDirectory"]

_SUBJECT_KEY_PURPOSE = "identity subject key v1"
_SERIAL_PURPOSE = "identity card serial v1"
#: How far back a renewal chain is followed (a card is renewed every 5 or 10 years).
_MAX_RENEWALS = 32


@dataclass(frozen=True, repr=False)
class Pepper:
    """The identity pepper: one HMAC key for subject keys, one for card serials (HKDF-SHA256 of
    ``MACHI_SECRET_KEY`` under the labels above — the same since the first link, and pinned by a test)."""

    subject: bytes
    serial: bytes

    @classmethod
    def derive(cls, secret: str) -> Pepper:
        return cls(derive_key(secret, _SUBJECT_KEY_PURPOSE), derive_key(secret, _SERIAL_PURPOSE))


class SubjectDirectory:
    """Maps verified cards to internal subjects.

    Args:
        pepper: the identity pepper.
        renewals: the J-LIS renewal linkage (old certificate → new one).
    """

    def __init__(self, pepper: Pepper, renewals: SerialLinkage) -> None:
        self._pepper = pepper
        self._renewals = renewals

    def subject_key(self, subject_id: str) -> str:
        """``HMAC(pepper, subject id)`` as 0x-hex: the only subject identifier the chain sees."""
        return "0x" + hmac.new(self._pepper.subject, uuid.UUID(subject_id).bytes, hashlib.sha256).hexdigest()

    def serial_hash(self, ref: CertRef) -> str:
        """``HMAC(pepper, issuer ‖ serial)``: how the database knows a certificate."""
        return hmac.new(self._pepper.serial, ref.issuer_and_serial(), hashlib.sha256).hexdigest()

    def create(self, session: Session) -> IdentitySubject:
        """A new subject with a random id (a person linking for the first time)."""
        subject_id = str(uuid.uuid4())
        subject = IdentitySubject(id=subject_id, subject_key=self.subject_key(subject_id))
        session.add(subject)
        session.flush()
        return subject

    def resolve(self, session: Session, card: VerifiedCard) -> IdentitySubject | None:
        """The subject the card's certificates (or the ones they renewed) were linked to, if any.

        Raises:
            CertificateMismatch: the user-authentication and signing certificates are known under
                different subjects (two people's keys combined).
        """
        found = {subject for ref, _ in _refs(card) if (subject := self._lookup(session, ref)) is not None}
        if len(found) > 1:
            raise CertificateMismatch()
        return session.get(IdentitySubject, found.pop()) if found else None

    def remember(self, session: Session, subject_id: str, card: VerifiedCard) -> None:
        """Record the card's certificates under ``subject_id`` (idempotent).

        Raises:
            CertificateMismatch: a certificate is already known under another subject.
        """
        now = utcnow()
        for ref, kind in _refs(card):
            digest = self.serial_hash(ref)
            row = session.get(CardSerial, digest)
            if row is None:
                session.add(CardSerial(serial_hash=digest, subject_id=subject_id, certificate=kind.value,
                                       created_at=now, last_used_at=now))
            elif row.subject_id != subject_id:
                raise CertificateMismatch()
            else:
                row.last_used_at = now
        session.flush()

    def _lookup(self, session: Session, ref: CertRef) -> str | None:
        current: CertRef | None = ref
        for _ in range(_MAX_RENEWALS):
            if current is None:
                return None
            row = session.get(CardSerial, self.serial_hash(current))
            if row is not None:
                return row.subject_id
            current = self._renewals.predecessor(current)
        return None


def _refs(card: VerifiedCard) -> list[tuple[CertRef, CertKind]]:
    refs = [(card.auth, CertKind.AUTH)]
    if card.signing is not None:
        refs.append((card.signing, CertKind.SIGNING))
    return refs
