"""The TEST CA's in-process OCSP responder (RFC 6960), answering like the J-LIS responder would.

NOT J-LIS: see ``procedures.identity.testca``. Mixed into ``TestCA``, whose roots, keys and
revocation records it reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from procedures.identity.certs import CertKind
from procedures.identity.der import subject_public_key_bits
from procedures.identity.testca.cards import FILE, KINDS, RsaKeyCache
from procedures.identity.testca.certificates import key_usage, sha1_resigned

__all__ = ["OcspAnswer", "OcspResponder"]


@dataclass(frozen=True)
class OcspAnswer:
    """How the TEST responder answers: like J-LIS by default; vary it for the responses a checker
    must refuse.

    Attributes:
        delegated: signed by a responder certificate the root issued, not by the root itself.
        responder_ekus: the responder certificate's extended key usages.
        responder_nocheck: the responder certificate carries id-pkix-ocsp-nocheck.
        responder_valid: the responder certificate's validity, from ``now``.
        responder_sha1: the responder certificate is signed with SHA-1.
        sha1: the response is signed with SHA-1.
        echo_nonce: the response echoes the request's nonce.
        next_update: the response's nextUpdate after thisUpdate (``None``: none).
    """

    delegated: bool = False
    responder_ekus: tuple[x509.ObjectIdentifier, ...] = (ExtendedKeyUsageOID.OCSP_SIGNING,)
    responder_nocheck: bool = True
    responder_valid: tuple[timedelta, timedelta] = (timedelta(hours=-1), timedelta(days=30))
    responder_sha1: bool = False
    sha1: bool = False
    echo_nonce: bool = True
    next_update: timedelta | None = timedelta(hours=4)


class OcspResponder:
    """OCSP answers from the CA's own records (``TestCA`` provides the attributes below)."""

    _roots: dict[CertKind, x509.Certificate]
    _root_keys: dict[CertKind, rsa.RSAPrivateKey]
    _state: dict[str, Any]
    _keys: RsaKeyCache

    def ocsp_response(
        self,
        request_der: bytes,
        *,
        now: datetime | None = None,
        answer: OcspAnswer = OcspAnswer(),  # noqa: B008 - frozen, so one shared default is safe
        as_kind: CertKind | None = None,
    ) -> bytes:
        """Answer a DER OCSP request like the J-LIS responder would, shaped by ``answer``.

        ``as_kind`` answers as that root even when the request names another issuer (an impostor
        answering for the genuine CA); by default a request for an unknown issuer is refused.
        """
        now = now or datetime.now(UTC)
        req = ocsp.load_der_ocsp_request(request_der)
        kind = as_kind or self._kind_for_request(req)
        if kind is None:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.UNAUTHORIZED
            ).public_bytes(serialization.Encoding.DER)
        serial = format(req.serial_number, "x")
        revoked = self._state["revoked"][FILE[kind]].get(serial)
        if revoked is not None:
            status = ocsp.OCSPCertStatus.REVOKED
            revocation_time: datetime | None = datetime.fromisoformat(revoked["at"])
            reason: x509.ReasonFlags | None = x509.ReasonFlags(revoked["reason"])
        elif serial in self._state["issued"][FILE[kind]]:
            status, revocation_time, reason = ocsp.OCSPCertStatus.GOOD, None, None
        else:
            status, revocation_time, reason = ocsp.OCSPCertStatus.UNKNOWN, None, None
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=req.issuer_name_hash,
            issuer_key_hash=req.issuer_key_hash,
            serial_number=req.serial_number,
            algorithm=req.hash_algorithm,
            cert_status=status,
            this_update=now,
            next_update=None if answer.next_update is None else now + answer.next_update,
            revocation_time=revocation_time,
            revocation_reason=reason,
        )
        try:
            nonce = req.extensions.get_extension_for_class(x509.OCSPNonce).value
            if answer.echo_nonce:
                builder = builder.add_extension(nonce, critical=False)
        except x509.ExtensionNotFound:
            pass
        if answer.delegated:
            responder_key, responder_cert = self.ocsp_responder(kind, now, answer)
            builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, responder_cert)
            builder = builder.certificates([responder_cert])
        else:
            responder_key = self._root_keys[kind]
            builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, self._roots[kind])
        response = builder.sign(responder_key, hashes.SHA256())
        der = response.public_bytes(serialization.Encoding.DER)
        if answer.sha1:
            return sha1_resigned(der, response.tbs_response_bytes, response.signature, responder_key)
        return der

    def ocsp_transport(
        self, *, now: datetime | None = None, answer: OcspAnswer = OcspAnswer(),  # noqa: B008 - frozen
        as_kind: CertKind | None = None,
    ) -> Any:
        """An ``OcspTransport`` answered in-process by this CA's responder.  Requests
        are recorded in ``transport.requests`` as ``(url, der)``."""

        def transport(url: str, request_der: bytes) -> bytes:
            transport.requests.append((url, request_der))  # type: ignore[attr-defined]
            return self.ocsp_response(request_der, now=now, answer=answer, as_kind=as_kind)

        transport.requests = []  # type: ignore[attr-defined]
        return transport

    def _kind_for_request(self, req: ocsp.OCSPRequest) -> CertKind | None:
        for kind in KINDS:
            root = self._roots[kind]
            h = hashes.Hash(req.hash_algorithm)
            h.update(subject_public_key_bits(root.public_key()))
            key_hash = h.finalize()
            h = hashes.Hash(req.hash_algorithm)
            h.update(root.subject.public_bytes())
            if key_hash == req.issuer_key_hash and h.finalize() == req.issuer_name_hash:
                return kind
        return None

    def ocsp_responder(
        self, kind: CertKind, now: datetime, answer: OcspAnswer = OcspAnswer()  # noqa: B008 - frozen
    ) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
        """The key and a certificate of ``kind``'s delegated responder, shaped by ``answer``."""
        key = self._keys.get(f"{self._state['key_namespace']}-ocsp-{FILE[kind]}")
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"JPKI {self._state['label']}"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{self._state['label']} OCSP responder {FILE[kind]}"),
            ]
        )
        start, end = answer.responder_valid
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(self._roots[kind].subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + start)
            .not_valid_after(now + end)
            .add_extension(key_usage(frozenset({"digital_signature"})), critical=True)
        )
        if answer.responder_ekus:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(answer.responder_ekus)), critical=False)
        if answer.responder_nocheck:
            builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
        cert = builder.sign(self._root_keys[kind], hashes.SHA256())
        if answer.responder_sha1:
            der = sha1_resigned(cert.public_bytes(serialization.Encoding.DER), cert.tbs_certificate_bytes,
                                cert.signature, self._root_keys[kind])
            cert = x509.load_der_x509_certificate(der)
        return key, cert
