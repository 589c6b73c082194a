"""OCSP (RFC 6960) revocation checking of JPKI card certificates: ``OcspRevocationChecker``.

The HTTP exchange is an injected ``OcspTransport`` (``httpx_ocsp_transport`` in production; the
TEST CA answers in-process in tests). Any doubt — unreachable, unsigned, signed with SHA-1, signed by
someone the CA did not authorize, stale, a missing or wrong nonce, unknown certificate — is
``RevocationUnavailable``: verification fails closed.

Nonces (RFC 6960 §4.4.1, RFC 8954): every request carries a fresh 32-byte nonce and the response must
echo it, so a recorded "good" answer cannot be replayed after the card is revoked.  A responder
that pre-produces its answers (the RFC 5019 profile) cannot echo one; for such a responder the
nonce is switched off (``nonce=False``, ``MACHI_JPKI_OCSP_NONCE=false``) and the response's own
thisUpdate/nextUpdate window is then the only bound on a replay.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from procedures.identity.der import subject_public_key_bits as _spki_bits
from procedures.identity.errors import CertificateRevoked, RevocationUnavailable
from procedures.identity.revocation import DEFAULT_CLOCK_SKEW, RevocationChecker, reason_name, signature_refusal

__all__ = ["NONCE_BYTES", "OcspRevocationChecker", "OcspTransport", "httpx_ocsp_transport"]

#: ``(url, DER OCSP request) -> DER OCSP response``; raise on transport failure.
OcspTransport = Callable[[str, bytes], bytes]
#: Length of the request nonce (RFC 8954: at least 1, at most 32 octets; 32 makes guessing hopeless).
NONCE_BYTES = 32


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
        hash_algorithm: CertID hash (SHA-1 is what RFC 5019 responders expect; it names the
            certificate, it signs nothing).
        nonce: send a nonce and require it back (see the module docstring before turning it off).
        responder_revocation: checks a delegated responder's own certificate when it does not
            carry id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1); without it such a responder is refused.
        max_age: oldest acceptable ``thisUpdate`` when a response has no ``nextUpdate``.
        clock_skew: tolerance for ``thisUpdate`` in the future / ``nextUpdate`` past.
    """

    def __init__(
        self,
        transport: OcspTransport,
        *,
        responder_url: str | None = None,
        hash_algorithm: hashes.HashAlgorithm | None = None,
        nonce: bool = True,
        responder_revocation: RevocationChecker | None = None,
        max_age: timedelta = timedelta(hours=1),
        clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    ) -> None:
        self._transport = transport
        self._url = responder_url
        self._hash = hash_algorithm or hashes.SHA1()  # noqa: S303 - OCSP CertID, not a signature
        self._nonce = nonce
        self._responder_revocation = responder_revocation
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
        nonce = os.urandom(NONCE_BYTES) if self._nonce else None
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
        """Check an OCSP response for ``cert`` to a request that carried ``nonce`` (``None``: none);
        raise or return as ``check`` does."""
        try:
            resp = ocsp.load_der_ocsp_response(response_der)
        except ValueError as exc:
            raise RevocationUnavailable("unparseable OCSP response") from exc
        if resp.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            raise RevocationUnavailable(f"OCSP responder said {resp.response_status.name}")

        refusal = signature_refusal("the OCSP response", resp.signature_algorithm_oid)
        if refusal is not None:
            raise RevocationUnavailable(refusal)
        signer_key = self._responder_key(resp, issuer, now)
        if not _verify_signature(
            signer_key, resp.signature, resp.tbs_response_bytes, resp.signature_hash_algorithm
        ):
            raise RevocationUnavailable("OCSP response signature does not verify")

        if nonce is not None:
            try:
                echoed: bytes | None = resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
            except x509.ExtensionNotFound:
                echoed = None
            if echoed is None:
                raise RevocationUnavailable("OCSP response does not echo the nonce of the request")
            if echoed != nonce:
                raise RevocationUnavailable("OCSP response nonce does not match the request")

        if resp.produced_at_utc > now + self._skew:
            raise RevocationUnavailable("OCSP response is dated in the future")
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
                reason=reason_name(single.revocation_reason),
                revoked_at=single.revocation_time_utc,
            )
        raise RevocationUnavailable("OCSP responder does not know the certificate")

    def _responder_key(
        self, resp: ocsp.OCSPResponse, issuer: x509.Certificate, now: datetime
    ) -> object:
        """The key the response must be signed with: the CA's own, or that of a responder the CA
        authorized (RFC 6960 §4.2.2.2)."""
        if self._identifies(resp, issuer):
            return issuer.public_key()
        refusals: list[str] = []
        for candidate in resp.certificates:
            if not self._identifies(resp, candidate):
                continue
            refusal = self._delegation_refusal(candidate, issuer, now)
            if refusal is None:
                return candidate.public_key()
            refusals.append(refusal)
        detail = f" ({'; '.join(refusals)})" if refusals else ""
        raise RevocationUnavailable(f"OCSP response is not signed by the issuer or a responder it authorized{detail}")

    def _delegation_refusal(self, responder: x509.Certificate, issuer: x509.Certificate,
                            now: datetime) -> str | None:
        """Why ``responder`` may not answer for ``issuer``'s certificates, or ``None`` if it may:
        issued directly by the CA with an accepted signature, id-kp-OCSPSigning, a key usage that
        allows signing, valid now, and not revoked itself."""
        refusal = signature_refusal("the responder certificate", responder.signature_algorithm_oid)
        if refusal is not None:
            return refusal
        try:
            responder.verify_directly_issued_by(issuer)
        except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
            return "the responder certificate was not issued by the certificate's CA"
        try:
            eku = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            eku = None
        if eku is None or ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
            return "the responder certificate lacks id-kp-OCSPSigning"
        try:
            usage = responder.extensions.get_extension_for_class(x509.KeyUsage).value
            if not usage.digital_signature:
                return "the responder certificate's key may not sign"
        except x509.ExtensionNotFound:
            pass
        if not responder.not_valid_before_utc - self._skew <= now <= responder.not_valid_after_utc + self._skew:
            return "the responder certificate is not valid now"
        try:
            responder.extensions.get_extension_for_class(x509.OCSPNoCheck)
        except x509.ExtensionNotFound:
            return self._responder_status_refusal(responder, issuer, now)
        return None

    def _responder_status_refusal(self, responder: x509.Certificate, issuer: x509.Certificate,
                                  now: datetime) -> str | None:
        if self._responder_revocation is None:
            return "the responder certificate has no id-pkix-ocsp-nocheck and its status cannot be checked"
        try:
            self._responder_revocation.check(responder, issuer, now)
        except CertificateRevoked:
            return "the responder certificate is revoked"
        except RevocationUnavailable:
            return "the responder certificate's own revocation status is unavailable"
        return None

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
