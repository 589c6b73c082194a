"""Revocation checking for JPKI card certificates.

``RevocationChecker.check(cert, issuer, now)`` returns ``None`` when the certificate
is known good, raises ``CertificateRevoked`` when it is revoked, and raises
``RevocationUnavailable`` when its status cannot be established (stale CRL,
unreachable or unverifiable OCSP responder): verification fails closed.

Implementations:

* ``CrlRevocationChecker`` — full CRLs from files (or bytes).  Files are reloaded when
  they change on disk, so a cron job can drop in the day's CRL without a restart.
* ``OcspRevocationChecker`` — RFC 6960 request/response; the HTTP exchange is an
  injected ``OcspTransport`` callable (``httpx_ocsp_transport`` for production, the
  test CA's in-process responder in tests).
* ``FirstAvailableRevocationChecker`` — e.g. OCSP first, CRL when OCSP is down.

A platform-operator (プラットフォーム事業者) adapter implements the same protocol.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from procedures.identity.der import subject_public_key_bits as _spki_bits
from procedures.identity.errors import CertificateRevoked, RevocationUnavailable

__all__ = [
    "CrlRevocationChecker",
    "FirstAvailableRevocationChecker",
    "OcspRevocationChecker",
    "OcspTransport",
    "RevocationChecker",
    "httpx_ocsp_transport",
]


class RevocationChecker(Protocol):
    def check(self, cert: x509.Certificate, issuer: x509.Certificate, now: datetime) -> None:
        """Return if good; raise ``CertificateRevoked`` or ``RevocationUnavailable``."""
        ...


#: ``(url, DER OCSP request) -> DER OCSP response``; raise on transport failure.
OcspTransport = Callable[[str, bytes], bytes]

_DEFAULT_SKEW = timedelta(minutes=5)


def _reason_name(reason: x509.ReasonFlags | None) -> str | None:
    return None if reason is None else reason.name


def _verify_signature(
    public_key: object, signature: bytes, data: bytes, hash_alg: hashes.HashAlgorithm | None
) -> bool:
    if hash_alg is None:
        return False
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), hash_alg)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(hash_alg))
        else:
            return False
    except InvalidSignature:
        return False
    return True


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
        revoked[entry.serial_number] = (_reason_name(reason), entry.revocation_date_utc)
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
        clock_skew: timedelta = _DEFAULT_SKEW,
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


# --- OCSP -----------------------------------------------------------------------------


def httpx_ocsp_transport(timeout: float = 5.0) -> OcspTransport:
    """Production transport: HTTP POST (RFC 6960 appendix A) with httpx."""
    import httpx

    def transport(url: str, request_der: bytes) -> bytes:
        response = httpx.post(
            url,
            content=request_der,
            headers={"Content-Type": "application/ocsp-request"},
            timeout=timeout,
        )
        response.raise_for_status()
        return response.content

    return transport


class OcspRevocationChecker:
    """Revocation status by OCSP.

    Args:
        transport: performs the HTTP exchange (``(url, request) -> response``).
        responder_url: overrides the certificate's AIA OCSP URL.
        hash_algorithm: CertID hash (SHA-1 is what RFC 5019 responders expect).
        use_nonce: send a nonce; a nonce echoed back must match.
        require_nonce: reject responses that do not echo the nonce.
        max_age: oldest acceptable ``thisUpdate`` when a response has no ``nextUpdate``.
        clock_skew: tolerance for ``thisUpdate`` in the future / ``nextUpdate`` past.
    """

    def __init__(
        self,
        transport: OcspTransport,
        *,
        responder_url: str | None = None,
        hash_algorithm: hashes.HashAlgorithm | None = None,
        use_nonce: bool = True,
        require_nonce: bool = False,
        max_age: timedelta = timedelta(hours=1),
        clock_skew: timedelta = _DEFAULT_SKEW,
    ) -> None:
        self._transport = transport
        self._url = responder_url
        self._hash = hash_algorithm or hashes.SHA1()  # noqa: S303 - OCSP CertID, not a signature
        self._use_nonce = use_nonce or require_nonce
        self._require_nonce = require_nonce
        self._max_age = max_age
        self._skew = clock_skew

    def responder_url_for(self, cert: x509.Certificate) -> str:
        if self._url:
            return self._url
        try:
            aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        except x509.ExtensionNotFound as exc:
            raise RevocationUnavailable("no OCSP responder URL in the certificate") from exc
        for desc in aia:
            if desc.access_method == AuthorityInformationAccessOID.OCSP and isinstance(
                desc.access_location, x509.UniformResourceIdentifier
            ):
                return desc.access_location.value
        raise RevocationUnavailable("no OCSP responder URL in the certificate")

    def build_request(
        self, cert: x509.Certificate, issuer: x509.Certificate
    ) -> tuple[bytes, bytes | None]:
        """DER OCSP request and the nonce it carries (or ``None``)."""
        builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, self._hash)
        nonce = os.urandom(16) if self._use_nonce else None
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        return builder.build().public_bytes(serialization.Encoding.DER), nonce

    def check(self, cert: x509.Certificate, issuer: x509.Certificate, now: datetime) -> None:
        url = self.responder_url_for(cert)
        request, nonce = self.build_request(cert, issuer)
        try:
            response = self._transport(url, request)
        except Exception as exc:  # noqa: BLE001 - any transport failure means "unknown"
            raise RevocationUnavailable(f"OCSP responder unreachable ({type(exc).__name__})") from exc
        self.verify_response(response, cert, issuer, now, nonce=nonce)

    def verify_response(
        self,
        response_der: bytes,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        now: datetime,
        *,
        nonce: bytes | None = None,
    ) -> None:
        """Check an OCSP response for ``cert``; raise or return as ``check`` does."""
        try:
            resp = ocsp.load_der_ocsp_response(response_der)
        except ValueError as exc:
            raise RevocationUnavailable("unparseable OCSP response") from exc
        if resp.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            raise RevocationUnavailable(f"OCSP responder said {resp.response_status.name}")

        signer_key = self._responder_key(resp, issuer, now)
        if not _verify_signature(
            signer_key, resp.signature, resp.tbs_response_bytes, resp.signature_hash_algorithm
        ):
            raise RevocationUnavailable("OCSP response signature does not verify")

        if nonce is not None:
            try:
                echoed = resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
            except x509.ExtensionNotFound:
                echoed = None
            if echoed is None and self._require_nonce:
                raise RevocationUnavailable("OCSP response does not echo the nonce")
            if echoed is not None and echoed != nonce:
                raise RevocationUnavailable("OCSP response nonce does not match the request")

        single = self._find_single(resp, cert, issuer)
        this_update = single.this_update_utc
        if this_update > now + self._skew:
            raise RevocationUnavailable("OCSP response is dated in the future")
        next_update = single.next_update_utc
        if next_update is not None:
            if next_update < now - self._skew:
                raise RevocationUnavailable("OCSP response is stale (nextUpdate passed)")
        elif this_update < now - self._max_age:
            raise RevocationUnavailable("OCSP response is too old")

        status = single.certificate_status
        if status is ocsp.OCSPCertStatus.GOOD:
            return
        if status is ocsp.OCSPCertStatus.REVOKED:
            raise CertificateRevoked(
                reason=_reason_name(single.revocation_reason),
                revoked_at=single.revocation_time_utc,
            )
        raise RevocationUnavailable("OCSP responder does not know the certificate")

    def _responder_key(
        self, resp: ocsp.OCSPResponse, issuer: x509.Certificate, now: datetime
    ) -> object:
        issuer_key = issuer.public_key()
        if self._identifies(resp, issuer):
            return issuer_key
        # Delegated responder (RFC 6960 §4.2.2.2): issued directly by the CA, with the
        # OCSPSigning EKU, valid now.
        for candidate in resp.certificates:
            if not self._identifies(resp, candidate):
                continue
            try:
                candidate.verify_directly_issued_by(issuer)
                eku = candidate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm,
                    x509.ExtensionNotFound):
                continue
            if ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
                continue
            if not candidate.not_valid_before_utc <= now <= candidate.not_valid_after_utc:
                continue
            return candidate.public_key()
        raise RevocationUnavailable("OCSP response is not signed by the issuer or its responder")

    @staticmethod
    def _identifies(resp: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
        if resp.responder_key_hash is not None:
            sha1 = hashes.Hash(hashes.SHA1())  # noqa: S303 - ResponderID byKey is SHA-1 by spec
            sha1.update(_spki_bits(cert.public_key()))
            return resp.responder_key_hash == sha1.finalize()
        return resp.responder_name == cert.subject

    @staticmethod
    def _find_single(
        resp: ocsp.OCSPResponse, cert: x509.Certificate, issuer: x509.Certificate
    ) -> ocsp.OCSPSingleResponse:
        key_bits = _spki_bits(issuer.public_key())
        name_der = issuer.subject.public_bytes()
        for single in resp.responses:
            if single.serial_number != cert.serial_number:
                continue
            alg = single.hash_algorithm
            h = hashes.Hash(alg)
            h.update(name_der)
            name_hash = h.finalize()
            h = hashes.Hash(alg)
            h.update(key_bits)
            if single.issuer_name_hash == name_hash and single.issuer_key_hash == h.finalize():
                return single
        raise RevocationUnavailable("OCSP response does not cover this certificate")


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
