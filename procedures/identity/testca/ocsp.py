"""The TEST CA's in-process OCSP responder (RFC 6960), answering like the J-LIS responder would.

NOT J-LIS: see ``procedures.identity.testca``. Mixed into ``TestCA``, whose roots, keys and
revocation records it reads.
"""

from __future__ import annotations

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
from procedures.identity.testca.certificates import key_usage

__all__ = ["OcspResponder"]


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
        delegated: bool = False,
        validity: timedelta = timedelta(hours=4),
    ) -> bytes:
        """Answer a DER OCSP request like the J-LIS responder would (signed by the
        root, or with ``delegated`` by a responder certificate it issued)."""
        now = now or datetime.now(UTC)
        req = ocsp.load_der_ocsp_request(request_der)
        kind = self._kind_for_request(req)
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
            next_update=now + validity,
            revocation_time=revocation_time,
            revocation_reason=reason,
        )
        try:
            nonce = req.extensions.get_extension_for_class(x509.OCSPNonce).value
            builder = builder.add_extension(nonce, critical=False)
        except x509.ExtensionNotFound:
            pass
        if delegated:
            responder_key, responder_cert = self._ocsp_responder(kind, now)
            builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, responder_cert)
            builder = builder.certificates([responder_cert])
        else:
            responder_key = self._root_keys[kind]
            builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, self._roots[kind])
        return builder.sign(responder_key, hashes.SHA256()).public_bytes(
            serialization.Encoding.DER
        )

    def ocsp_transport(
        self, *, now: datetime | None = None, delegated: bool = False
    ) -> Any:
        """An ``OcspTransport`` answered in-process by this CA's responder.  Requests
        are recorded in ``transport.requests`` as ``(url, der)``."""

        def transport(url: str, request_der: bytes) -> bytes:
            transport.requests.append((url, request_der))  # type: ignore[attr-defined]
            return self.ocsp_response(request_der, now=now, delegated=delegated)

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

    def _ocsp_responder(
        self, kind: CertKind, now: datetime
    ) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
        key = self._keys.get(f"{self._state['key_namespace']}-ocsp-{FILE[kind]}")
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"JPKI {self._state['label']}"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{self._state['label']} OCSP responder {FILE[kind]}"),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(self._roots[kind].subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
            .add_extension(key_usage(frozenset({"digital_signature"})), critical=True)
            .add_extension(x509.OCSPNoCheck(), critical=False)
            .sign(self._root_keys[kind], hashes.SHA256())
        )
        return key, cert
