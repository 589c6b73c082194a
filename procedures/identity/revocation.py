"""Revocation checking for JPKI card certificates.

``RevocationChecker.check(cert, issuer, now)`` returns ``None`` when the certificate
is known good, raises ``CertificateRevoked`` when it is revoked, and raises
``RevocationUnavailable`` when its status cannot be established (stale CRL,
unreachable or unverifiable OCSP responder): verification fails closed.

Implementations:

* ``CrlRevocationChecker`` — full CRLs from files (or bytes).  Files are reloaded when
  they change on disk, so a cron job can drop in the day's CRL without a restart.
* ``OcspRevocationChecker`` (``procedures.identity.ocsp``) — RFC 6960 request/response; the
  HTTP exchange is an injected ``OcspTransport`` callable (``httpx_ocsp_transport`` for
  production, the test CA's in-process responder in tests).
* ``FirstAvailableRevocationChecker`` — e.g. OCSP first, CRL when OCSP is down.

A platform-operator (プラットフォーム事業者) adapter implements the same protocol.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from cryptography import x509

from procedures.identity.der import subject_public_key_bits as _spki_bits
from procedures.identity.errors import CertificateRevoked, RevocationUnavailable

__all__ = [
    "DEFAULT_CLOCK_SKEW",
    "CrlRevocationChecker",
    "FirstAvailableRevocationChecker",
    "RevocationChecker",
    "reason_name",
]


class RevocationChecker(Protocol):
    def check(self, cert: x509.Certificate, issuer: x509.Certificate, now: datetime) -> None:
        """Return if good; raise ``CertificateRevoked`` or ``RevocationUnavailable``."""
        ...


#: Tolerance when comparing a CRL's or an OCSP response's times with now.
DEFAULT_CLOCK_SKEW = timedelta(minutes=5)


def reason_name(reason: x509.ReasonFlags | None) -> str | None:
    """The revocation reason as its RFC 5280 name (``key_compromise``…), or ``None``."""
    return None if reason is None else reason.name


# --- CRL ------------------------------------------------------------------------------


@dataclass
class _LoadedCrl:
    crl: x509.CertificateRevocationList
    revoked: dict[int, tuple[str | None, datetime]]
    verified_by: set[bytes]


def _load_crl(data: bytes | x509.CertificateRevocationList) -> _LoadedCrl:
    if isinstance(data, x509.CertificateRevocationList):
        crl = data
    elif b"-----BEGIN X509 CRL" in data:
        crl = x509.load_pem_x509_crl(data)
    else:
        crl = x509.load_der_x509_crl(data)
    revoked: dict[int, tuple[str | None, datetime]] = {}
    for entry in crl:
        try:
            reason: x509.ReasonFlags | None = entry.extensions.get_extension_for_class(
                x509.CRLReason
            ).value.reason
        except x509.ExtensionNotFound:
            reason = None
        if reason is x509.ReasonFlags.remove_from_crl:
            continue
        revoked[entry.serial_number] = (reason_name(reason), entry.revocation_date_utc)
    return _LoadedCrl(crl=crl, revoked=revoked, verified_by=set())


class CrlRevocationChecker:
    """Revocation from full CRLs (one or more per issuer; the freshest valid one wins).

    Args:
        crls: CRLs as DER/PEM bytes or parsed objects.
        paths: CRL files (DER or PEM); re-read whenever a file changes on disk.
        clock_skew: tolerance when comparing ``thisUpdate`` with now.
    """

    def __init__(
        self,
        crls: Iterable[bytes | x509.CertificateRevocationList] = (),
        *,
        paths: Iterable[str | Path] = (),
        clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    ) -> None:
        self._static = [_load_crl(c) for c in crls]
        self._paths = [Path(p) for p in paths]
        self._skew = clock_skew
        self._lock = threading.Lock()
        self._stamps: list[tuple[int, int, int] | None] = []
        self._from_files: list[_LoadedCrl] = []
        self._by_issuer: dict[bytes, list[_LoadedCrl]] = {}
        self._reload_if_changed(force=True)

    @classmethod
    def from_files(cls, *paths: str | Path) -> CrlRevocationChecker:
        return cls(paths=paths)

    def _reload_if_changed(self, force: bool = False) -> None:
        stamps: list[tuple[int, int, int] | None] = []
        for p in self._paths:
            try:
                st = os.stat(p)
                stamps.append((st.st_mtime_ns, st.st_size, st.st_ino))
            except FileNotFoundError:
                stamps.append(None)
        if not force and stamps == self._stamps:
            return
        with self._lock:
            loaded: list[_LoadedCrl] = []
            for p, stamp in zip(self._paths, stamps, strict=True):
                if stamp is None:
                    continue
                try:
                    loaded.append(_load_crl(p.read_bytes()))
                except (OSError, ValueError):
                    continue  # an unreadable CRL is simply absent: check() fails closed
            by_issuer: dict[bytes, list[_LoadedCrl]] = {}
            for item in [*self._static, *loaded]:
                by_issuer.setdefault(item.crl.issuer.public_bytes(), []).append(item)
            self._by_issuer = by_issuer
            self._stamps = stamps

    def check(self, cert: x509.Certificate, issuer: x509.Certificate, now: datetime) -> None:
        if self._paths:
            self._reload_if_changed()
        candidates = self._by_issuer.get(cert.issuer.public_bytes(), [])
        if not candidates:
            raise RevocationUnavailable("no CRL for this issuer")
        issuer_key = issuer.public_key()
        issuer_id = _spki_bits(issuer_key)
        usable: list[_LoadedCrl] = []
        for item in candidates:
            if issuer_id not in item.verified_by:
                if not item.crl.is_signature_valid(issuer_key):  # type: ignore[arg-type]
                    continue
                item.verified_by.add(issuer_id)
            if item.crl.last_update_utc > now + self._skew:
                continue
            next_update = item.crl.next_update_utc
            if next_update is None or next_update < now:
                continue
            usable.append(item)
        if not usable:
            raise RevocationUnavailable("no current CRL signed by the issuer (stale or invalid)")
        freshest = max(usable, key=lambda i: i.crl.last_update_utc)
        hit = freshest.revoked.get(cert.serial_number)
        if hit is not None:
            raise CertificateRevoked(reason=hit[0], revoked_at=hit[1])


# --- composition ----------------------------------------------------------------------


class FirstAvailableRevocationChecker:
    """Ask each checker in turn; the first definite answer (good or revoked) wins."""

    def __init__(self, *checkers: RevocationChecker) -> None:
        if not checkers:
            raise ValueError("at least one checker is required")
        self._checkers = checkers

    def check(self, cert: x509.Certificate, issuer: x509.Certificate, now: datetime) -> None:
        reasons: list[str] = []
        for checker in self._checkers:
            try:
                checker.check(cert, issuer, now)
            except RevocationUnavailable as exc:
                reasons.append(exc.message)
                continue
            return
        raise RevocationUnavailable("; ".join(reasons))
