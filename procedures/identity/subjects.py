"""Card holders as internal subjects: certificate → subject id, across card renewals.

The database knows a certificate only as ``HMAC(pepper, issuer ‖ serial)`` (``CardSerial``), never
by its serial.  A renewed card has new serials; the J-LIS renewal linkage (``SerialLinkage``)
names the certificate it replaced, so the lookup walks back through renewals until it finds a
certificate seen before.  The chain only ever sees ``HMAC(pepper, subject id)``.

The pepper is derived from ``MACHI_SECRET_KEY`` (``procedures.crypto.keyed_hash``): without it the
subject keys on chain cannot be linked to a card or to each other.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from chain.storage import utcnow
from procedures.crypto import keyed_hash
from procedures.identity.certs import CertKind, CertRef, SerialLinkage, VerifiedCard
from procedures.identity.errors import CertificateMismatch
from procedures.identity.models import CardSerial, IdentitySubject

__all__ = ["SubjectDirectory"]

_SUBJECT_KEY_PURPOSE = "identity subject key v1"
_SERIAL_PURPOSE = "identity card serial v1"
#: How far back a renewal chain is followed (a card is renewed every 5 or 10 years).
_MAX_RENEWALS = 32


class SubjectDirectory:
    """Maps verified cards to internal subjects.

    Args:
        secret: the service secret the pepper is derived from.
        renewals: the J-LIS renewal linkage (old certificate → new one).
    """

    def __init__(self, secret: str, renewals: SerialLinkage) -> None:
        self._secret = secret
        self._renewals = renewals

    def subject_key(self, subject_id: str) -> str:
        """``HMAC(pepper, subject id)`` as 0x-hex: the only subject identifier the chain sees."""
        return "0x" + keyed_hash(self._secret, _SUBJECT_KEY_PURPOSE, uuid.UUID(subject_id).bytes).hex()

    def serial_hash(self, ref: CertRef) -> str:
        """``HMAC(pepper, issuer ‖ serial)``: how the database knows a certificate."""
        return keyed_hash(self._secret, _SERIAL_PURPOSE, ref.issuer_and_serial()).hex()

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
