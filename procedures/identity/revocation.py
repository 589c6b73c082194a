"""Revocation checking for JPKI card certificates.

``RevocationChecker.check(cert, issuer, now)`` returns ``None`` when the certificate
is known good, raises ``CertificateRevoked`` when it is revoked, and raises
``RevocationUnavailable`` when its status cannot be established (stale CRL,
unreachable or unverifiable OCSP responder): verification fails closed.

Implementations:

* ``CrlRevocationChecker`` — CRLs from files (or bytes), checked as RFC 5280 §6.3 says: signed
  by the issuer (whose key may sign CRLs) with an accepted algorithm, current, in scope for the
  certificate (IssuingDistributionPoint), no critical extension it cannot process; a delta CRL
  only ever on top of the complete CRL it extends.  Files are reloaded when they change on
  disk, so a cron job can drop in the day's CRL without a restart.
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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol, TypeVar

from cryptography import x509
from cryptography.x509.oid import SignatureAlgorithmOID

from procedures.identity.der import subject_public_key_bits as _spki_bits
from procedures.identity.errors import CertificateRevoked, RevocationUnavailable

__all__ = [
    "DEFAULT_CLOCK_SKEW",
    "CrlRevocationChecker",
    "FirstAvailableRevocationChecker",
    "RevocationChecker",
    "reason_name",
    "signature_refusal",
]


class RevocationChecker(Protocol):
    def check(self, cert: x509.Certificate, issuer: x509.Certificate, now: datetime) -> None:
        """Return if good; raise ``CertificateRevoked`` or ``RevocationUnavailable``."""
        ...


#: Tolerance when comparing a CRL's or an OCSP response's times with now.
DEFAULT_CLOCK_SKEW = timedelta(minutes=5)

#: Signature algorithms a CRL, an OCSP response or an OCSP responder certificate may use.
#: SHA-1 is refused: a chosen-prefix collision lets a forger turn one signed object into another.
ACCEPTED_SIGNATURES = frozenset({
    SignatureAlgorithmOID.RSA_WITH_SHA256,
    SignatureAlgorithmOID.RSA_WITH_SHA384,
    SignatureAlgorithmOID.RSA_WITH_SHA512,
    SignatureAlgorithmOID.ECDSA_WITH_SHA256,
    SignatureAlgorithmOID.ECDSA_WITH_SHA384,
    SignatureAlgorithmOID.ECDSA_WITH_SHA512,
})
_SHA1_SIGNATURES = frozenset({
    SignatureAlgorithmOID.RSA_WITH_SHA1,
    SignatureAlgorithmOID._RSA_WITH_SHA1,
    SignatureAlgorithmOID.ECDSA_WITH_SHA1,
    SignatureAlgorithmOID.DSA_WITH_SHA1,
})


def signature_refusal(what: str, algorithm: x509.ObjectIdentifier) -> str | None:
    """Why ``what`` signed with ``algorithm`` is refused, or ``None`` if the algorithm is accepted."""
    if algorithm in ACCEPTED_SIGNATURES:
        return None
    if algorithm in _SHA1_SIGNATURES:
        return f"{what} is signed with SHA-1 (refused)"
    return f"{what} is signed with an algorithm that is not accepted ({algorithm.dotted_string})"


def reason_name(reason: x509.ReasonFlags | None) -> str | None:
    """The revocation reason as its RFC 5280 name (``key_compromise``…), or ``None``."""
    return None if reason is None else reason.name


# --- CRL ------------------------------------------------------------------------------

#: CRL extensions this checker processes, so they may be critical (RFC 5280 §5.2: a CRL with a
#: critical extension the reader cannot process must not be used).
_PROCESSED_CRL_EXTENSIONS = frozenset({x509.IssuingDistributionPoint.oid, x509.DeltaCRLIndicator.oid})
_PROCESSED_ENTRY_EXTENSIONS = frozenset({x509.CRLReason.oid, x509.InvalidityDate.oid})

Revoked = tuple[str | None, datetime]
_E = TypeVar("_E", bound=x509.ExtensionType)


@dataclass
class _LoadedCrl:
    """A parsed CRL and what ``check`` needs of it, read once."""

    crl: x509.CertificateRevocationList
    revoked: dict[int, Revoked]
    #: Serials a delta CRL takes off the list (removeFromCRL: a hold was released).
    removed: set[int]
    number: int | None
    #: A delta CRL's BaseCRLNumber; ``None`` for a complete CRL.
    base: int | None
    scope: x509.IssuingDistributionPoint | None
    #: Why this CRL can never be used, whatever the certificate.
    defect: str | None
    verified_by: set[bytes] = field(default_factory=set)


def _extension(extensions: x509.Extensions, kind: type[_E]) -> _E | None:
    try:
        return extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _load_crl(data: bytes | x509.CertificateRevocationList) -> _LoadedCrl:
    if isinstance(data, x509.CertificateRevocationList):
        crl = data
    elif b"-----BEGIN X509 CRL" in data:
        crl = x509.load_pem_x509_crl(data)
    else:
        crl = x509.load_der_x509_crl(data)
    defect = next((f"the CRL has a critical extension this service cannot process ({e.oid.dotted_string})"
                   for e in crl.extensions if e.critical and e.oid not in _PROCESSED_CRL_EXTENSIONS), None)
    number = _extension(crl.extensions, x509.CRLNumber)
    delta = _extension(crl.extensions, x509.DeltaCRLIndicator)
    revoked: dict[int, Revoked] = {}
    removed: set[int] = set()
    for entry in crl:
        for ext in entry.extensions:
            if ext.oid == x509.CertificateIssuer.oid:
                # Only indirect CRLs name another certificate issuer, and those are refused anyway.
                defect = defect or "the CRL names other certificate issuers (an indirect CRL)"
            elif ext.critical and ext.oid not in _PROCESSED_ENTRY_EXTENSIONS:
                defect = defect or f"a CRL entry has a critical extension this service cannot process " \
                                   f"({ext.oid.dotted_string})"
        reason_ext = _extension(entry.extensions, x509.CRLReason)
        reason = None if reason_ext is None else reason_ext.reason
        if reason is x509.ReasonFlags.remove_from_crl:
            removed.add(entry.serial_number)
            continue
        revoked[entry.serial_number] = (reason_name(reason), entry.revocation_date_utc)
    if removed and delta is None:
        defect = defect or "a complete CRL lists removeFromCRL entries (only delta CRLs may)"
    return _LoadedCrl(
        crl=crl, revoked=revoked, removed=removed, number=None if number is None else number.crl_number,
        base=None if delta is None else delta.crl_number,
        scope=_extension(crl.extensions, x509.IssuingDistributionPoint), defect=defect,
    )


def _is_ca(cert: x509.Certificate) -> bool:
    constraints = _extension(cert.extensions, x509.BasicConstraints)
    return constraints is not None and constraints.ca


def _full_names(name: x509.DistributionPoint | x509.IssuingDistributionPoint, issuer: x509.Name) -> set[object]:
    """A distribution point's names, a name relative to the CRL issuer made whole."""
    if name.full_name is not None:
        return set(name.full_name)
    if name.relative_name is not None:
        return {x509.DirectoryName(x509.Name([*issuer.rdns, name.relative_name]))}
    return set()


def _scope_refusal(scope: x509.IssuingDistributionPoint | None, cert: x509.Certificate) -> str | None:
    """Why a CRL with this IssuingDistributionPoint does not cover ``cert`` (RFC 5280 §5.2.5, §6.3.3 b)."""
    if scope is None:
        return None  # no IDP: the CRL covers every certificate of its issuer, for every reason
    if scope.indirect_crl:
        return "indirect CRLs are not supported"
    if scope.only_contains_attribute_certs:
        return "the CRL covers only attribute certificates"
    if scope.only_some_reasons is not None:
        return "the CRL covers only some revocation reasons, so it cannot show a certificate good"
    if scope.only_contains_user_certs and _is_ca(cert):
        return "the CRL covers only end-entity certificates"
    if scope.only_contains_ca_certs and not _is_ca(cert):
        return "the CRL covers only CA certificates"
    idp_names = _full_names(scope, cert.issuer)
    if idp_names:
        points = _extension(cert.extensions, x509.CRLDistributionPoints)
        named: set[object] = set()
        for point in points or ():
            named |= _full_names(point, cert.issuer)
        if not idp_names & named:
            return "the CRL is for a distribution point the certificate does not name"
    return None


class CrlRevocationChecker:
    """Revocation from CRLs (one or more per issuer; the freshest usable complete CRL decides,
    with the freshest delta CRL that extends it).

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
        refusals: list[str] = []
        complete: list[_LoadedCrl] = []
        deltas: list[_LoadedCrl] = []
        for item in candidates:
            refusal = self._refusal(item, cert, issuer, now)
            if refusal is not None:
                refusals.append(refusal)
            else:
                (complete if item.base is None else deltas).append(item)
        if not complete:
            if deltas:
                refusals.append("a delta CRL is never used without the complete CRL it extends")
            raise RevocationUnavailable("no usable CRL: " + "; ".join(dict.fromkeys(refusals)))
        base = max(complete, key=lambda i: (i.crl.last_update_utc, i.number or 0))
        hit = base.revoked.get(cert.serial_number)
        delta = self._delta_for(base, deltas)
        if delta is not None:
            if cert.serial_number in delta.removed:
                hit = None
            hit = delta.revoked.get(cert.serial_number, hit)
        if hit is not None:
            raise CertificateRevoked(reason=hit[0], revoked_at=hit[1])

    def _refusal(self, item: _LoadedCrl, cert: x509.Certificate, issuer: x509.Certificate,
                 now: datetime) -> str | None:
        """Why ``item`` cannot tell ``cert``'s status now (RFC 5280 §6.3.3), or ``None``."""
        if item.defect is not None:
            return item.defect
        refusal = signature_refusal("the CRL", item.crl.signature_algorithm_oid)
        if refusal is not None:
            return refusal
        usage = _extension(issuer.extensions, x509.KeyUsage)
        if usage is not None and not usage.crl_sign:
            return "the issuer's certificate may not sign CRLs (no cRLSign key usage)"
        issuer_key = issuer.public_key()
        issuer_id = _spki_bits(issuer_key)
        if issuer_id not in item.verified_by:
            if not item.crl.is_signature_valid(issuer_key):  # type: ignore[arg-type]
                return "the CRL is not signed by the certificate's issuer"
            item.verified_by.add(issuer_id)
        if item.crl.last_update_utc > now + self._skew:
            return "the CRL is dated in the future"
        next_update = item.crl.next_update_utc
        if next_update is None:
            return "the CRL has no nextUpdate"
        if next_update < now:
            return "the CRL is stale (nextUpdate passed)"
        return _scope_refusal(item.scope, cert)

    @staticmethod
    def _delta_for(base: _LoadedCrl, deltas: list[_LoadedCrl]) -> _LoadedCrl | None:
        """The freshest delta CRL that extends ``base``: same scope, a base no newer than it, and
        newer itself (RFC 5280 §5.2.4); ``None`` if there is none."""
        if base.number is None:
            return None
        applicable = [d for d in deltas if d.scope == base.scope and d.base is not None and d.number is not None
                      and d.base <= base.number < d.number]
        return max(applicable, key=lambda d: d.number or 0, default=None)


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
