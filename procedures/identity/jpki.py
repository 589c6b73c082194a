"""JPKI (公的個人認証) certificate verification for My Number card linking.

The My Number card carries two RSA-2048 key pairs with certificates issued by J-LIS
(地方公共団体情報システム機構), each from its own single-tier CA:

* user authentication (利用者証明用電子証明書): no personal data; readable without a
  PIN; issuer ``C=JP, O=JPKI, OU=JPKI for user authentication, OU=Japan Agency for
  Local Authority Information Systems``.
* signing (署名用電子証明書): subjectAltName otherNames carry the four basic facts;
  readable only after the signing password; issuer ``... OU=JPKI for digital
  signature ...``.  Not issued to minors under 15.

The profile (OIDs, policies) is ``procedures.identity.certs``.

Key usage: digitalSignature on both; nonRepudiation as well on the signing
certificate.  The authentication certificate must allow TLS client authentication
(EKU ``id-kp-clientAuth``).  Card signatures are RSA PKCS#1 v1.5 over SHA-256 (the
card's COMPUTE DIGITAL SIGNATURE pads a DigestInfo).

Assurance levels: the authentication certificate plus a card signature over the
statement → ``CARD_AUTHENTICATED``; additionally a signing-key signature over the same
statement by a signing certificate whose address starts with a configured city prefix
→ ``RESIDENT_OF_CITY``.  A signing certificate alone proves nothing (certificates are
public), so it only counts together with its key's signature.

Privacy: personal data parsed from the signing certificate (``BasicFacts``) is for the
encrypted evidence bundle only.  ``repr`` of ``BasicFacts``, ``CertRef`` and
``VerifiedCard`` redact it, and no error message contains it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, SignatureAlgorithmOID

from procedures.identity.certs import (
    OID_ADDRESS,
    OID_ADDRESS_SUBSTITUTE,
    OID_BIRTH_DATE,
    OID_NAME,
    OID_NAME_SUBSTITUTE,
    OID_SEX,
    POLICY_ARC_AUTH,
    POLICY_ARC_SIGNING,
    AssuranceLevel,
    BasicFacts,
    CertKind,
    CertRef,
    TrustAnchors,
    VerifiedCard,
)
from procedures.identity.der import decode_directory_string
from procedures.identity.errors import (
    BadCardSignature,
    CertificateExpired,
    CertificateNotYetValid,
    CertificateRevoked,
    MalformedCertificate,
    UnknownRoot,
    WrongKeyUsage,
    WrongPolicy,
)
from procedures.identity.revocation import RevocationChecker

__all__ = ["JpkiVerifier", "parse_basic_facts", "utc_now"]

_MIN_RSA_BITS = 2048
_CARD_SIGNATURE_ALGORITHMS = {SignatureAlgorithmOID.RSA_WITH_SHA256}


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_basic_facts(cert: x509.Certificate) -> BasicFacts:
    """The four basic facts from a signing certificate's subjectAltName otherNames."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound as exc:
        raise MalformedCertificate("no subjectAltName", which=CertKind.SIGNING) from exc
    values: dict[x509.ObjectIdentifier, str] = {}
    for other in san.value.get_values_for_type(x509.OtherName):
        try:
            values[other.type_id] = decode_directory_string(other.value)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedCertificate(
                f"undecodable otherName {other.type_id.dotted_string}", which=CertKind.SIGNING
            ) from exc
    missing = [o.dotted_string for o in (OID_NAME, OID_SEX, OID_BIRTH_DATE, OID_ADDRESS)
               if o not in values]
    if missing:
        raise MalformedCertificate(
            f"missing basic-fact otherName(s) {', '.join(missing)}", which=CertKind.SIGNING
        )
    return BasicFacts(
        name=values[OID_NAME],
        birth_date_raw=values[OID_BIRTH_DATE],
        sex=values[OID_SEX],
        address=values[OID_ADDRESS],
        name_substitutes=values.get(OID_NAME_SUBSTITUTE),
        address_substitutes=values.get(OID_ADDRESS_SUBSTITUTE),
    )


def _normalize_address(s: str) -> str:
    return "".join(unicodedata.normalize("NFKC", s).split())


class JpkiVerifier:
    """Verifies card certificates and card signatures against pinned J-LIS roots.

    Args:
        trust_anchors: the user-authentication and signing roots.
        revocation: a ``RevocationChecker`` (CRL, OCSP, or a chain of them).
        city_address_prefixes: address prefixes of the city, e.g. ``["石川県加賀市"]``;
            compared after NFKC normalisation with whitespace removed.  Each must end
            with 市, 町, 村 or 区 so that a prefix cannot match a different town.
        clock: returns the current time (timezone-aware).
    """

    def __init__(
        self,
        trust_anchors: TrustAnchors,
        revocation: RevocationChecker,
        city_address_prefixes: Sequence[str],
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        prefixes = [_normalize_address(p) for p in city_address_prefixes]
        for p in prefixes:
            if not p or p[-1] not in "市町村区":
                raise ValueError(f"city address prefix must end with 市/町/村/区: {p!r}")
        self._anchors = trust_anchors
        self._revocation = revocation
        self._prefixes = tuple(prefixes)
        self._clock = clock
        self._roots: dict[CertKind, dict[bytes, list[x509.Certificate]]] = {}
        for kind in CertKind:
            by_name: dict[bytes, list[x509.Certificate]] = {}
            for root in trust_anchors.for_kind(kind):
                by_name.setdefault(root.subject.public_bytes(), []).append(root)
            self._roots[kind] = by_name

    # public API ---------------------------------------------------------------------
    @property
    def anchors(self) -> TrustAnchors:
        """The pinned roots this verifier trusts (the CRL sweep checks CRL signatures against them)."""
        return self._anchors


    def verify_card(
        self,
        auth_cert_der: bytes,
        signing_cert_der: bytes | None = None,
        *,
        message: bytes,
        auth_signature: bytes,
        signing_signature: bytes | None = None,
    ) -> VerifiedCard:
        """Verify the card's certificates and its signature(s) over ``message``.

        ``message`` is the canonical statement (``LinkStatement.canonical_bytes()``).
        Checks, in order: chain to a pinned root of the right kind, validity now, key
        usage / EKU / policy, the card signature(s) (cheap, before any network),
        revocation.

        Raises:
            MalformedCertificate, UnknownRoot, CertificateExpired,
            CertificateNotYetValid, WrongKeyUsage, WrongPolicy, BadCardSignature,
            CertificateRevoked, RevocationUnavailable.
        """
        now = self._clock()
        auth_cert, auth_root = self.verify_certificate_profile(auth_cert_der, CertKind.AUTH, now)
        signing: tuple[x509.Certificate, x509.Certificate] | None = None
        if signing_cert_der is not None:
            signing = self.verify_certificate_profile(signing_cert_der, CertKind.SIGNING, now)
            if signing_signature is None:
                raise BadCardSignature(
                    which=CertKind.SIGNING,
                    detail="a signing certificate was sent without its key's signature",
                )
        elif signing_signature is not None:
            raise BadCardSignature(
                which=CertKind.SIGNING, detail="a signing signature was sent without its certificate"
            )

        _verify_card_signature(auth_cert, auth_signature, message, CertKind.AUTH)
        if signing is not None:
            assert signing_signature is not None
            _verify_card_signature(signing[0], signing_signature, message, CertKind.SIGNING)

        self._check_revocation(auth_cert, auth_root, CertKind.AUTH, now)
        if signing is not None:
            self._check_revocation(signing[0], signing[1], CertKind.SIGNING, now)

        fingerprints = {"auth": auth_cert.fingerprint(hashes.SHA256()).hex()}
        if signing is None:
            return VerifiedCard(
                level=AssuranceLevel.CARD_AUTHENTICATED,
                auth=CertRef.of(auth_cert),
                signing=None,
                facts=None,
                in_city=None,
                note="user-authentication certificate only: card-authenticated",
                not_after=auth_cert.not_valid_after_utc,
                verified_at=now,
                fingerprints=fingerprints,
            )

        signing_cert = signing[0]
        facts = parse_basic_facts(signing_cert)
        address = _normalize_address(facts.address)
        in_city = any(address.startswith(p) for p in self._prefixes)
        fingerprints["signing"] = signing_cert.fingerprint(hashes.SHA256()).hex()
        return VerifiedCard(
            level=AssuranceLevel.RESIDENT_OF_CITY if in_city else AssuranceLevel.CARD_AUTHENTICATED,
            auth=CertRef.of(auth_cert),
            signing=CertRef.of(signing_cert),
            facts=facts,
            in_city=in_city,
            note="signing certificate address is in the city: resident of the city"
            if in_city
            else "signing certificate address is outside the city: stays card-authenticated",
            not_after=min(auth_cert.not_valid_after_utc, signing_cert.not_valid_after_utc),
            verified_at=now,
            fingerprints=fingerprints,
        )

    def verify_certificate(self, cert_der: bytes, kind: CertKind) -> x509.Certificate:
        """Chain, validity, profile and revocation of one certificate (no signature)."""
        now = self._clock()
        cert, root = self.verify_certificate_profile(cert_der, kind, now)
        self._check_revocation(cert, root, kind, now)
        return cert

    def verify_certificate_profile(
        self, cert_der: bytes, kind: CertKind, now: datetime
    ) -> tuple[x509.Certificate, x509.Certificate]:
        """Parse, chain to a ``kind`` root, check validity and the JPKI profile.

        Returns ``(certificate, issuing root)``.  Revocation is not checked here.
        """
        cert = _parse_certificate(cert_der, kind)
        root = self._find_issuer(cert, kind)
        if now < cert.not_valid_before_utc:
            raise CertificateNotYetValid(which=kind, not_before=cert.not_valid_before_utc)
        if now > cert.not_valid_after_utc:
            raise CertificateExpired(which=kind, not_after=cert.not_valid_after_utc)
        _check_key_usage(cert, kind)
        _check_policy(cert, kind)
        return cert, root

    # internals ----------------------------------------------------------------------

    def _find_issuer(self, cert: x509.Certificate, kind: CertKind) -> x509.Certificate:
        issuer_der = cert.issuer.public_bytes()
        candidates = self._roots[kind].get(issuer_der, [])
        for root in candidates:
            try:
                cert.verify_directly_issued_by(root)
            except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
                continue
            return root
        if candidates:
            raise UnknownRoot(which=kind, detail="issuer name matches but the signature does not")
        other = CertKind.SIGNING if kind is CertKind.AUTH else CertKind.AUTH
        if issuer_der in self._roots[other]:
            raise UnknownRoot(which=kind, detail=f"it chains to a {other} root instead")
        raise UnknownRoot(which=kind)

    def _check_revocation(
        self, cert: x509.Certificate, issuer: x509.Certificate, kind: CertKind, now: datetime
    ) -> None:
        try:
            self._revocation.check(cert, issuer, now)
        except CertificateRevoked as exc:
            raise CertificateRevoked(
                which=kind, reason=exc.reason, revoked_at=exc.revoked_at
            ) from exc


def _parse_certificate(der: bytes, kind: CertKind) -> x509.Certificate:
    if not isinstance(der, bytes | bytearray) or not der:
        raise MalformedCertificate("empty certificate", which=kind)
    try:
        cert = x509.load_der_x509_certificate(bytes(der))
        pub = cert.public_key()
        sig_oid = cert.signature_algorithm_oid
        cert.extensions  # noqa: B018 - force extension parsing now, not later
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise MalformedCertificate("not a DER X.509 certificate", which=kind) from exc
    if cert.version is not x509.Version.v3:
        raise MalformedCertificate("not an X.509 v3 certificate", which=kind)
    if not isinstance(pub, rsa.RSAPublicKey) or pub.key_size < _MIN_RSA_BITS:
        raise MalformedCertificate("the key is not RSA-2048 or larger", which=kind)
    if sig_oid not in _CARD_SIGNATURE_ALGORITHMS:
        raise MalformedCertificate("not signed with sha256WithRSAEncryption", which=kind)
    return cert


def _check_key_usage(cert: x509.Certificate, kind: CertKind) -> None:
    exts = cert.extensions
    try:
        bc = exts.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is not None and bc.ca:
        raise WrongKeyUsage("it is a CA certificate, not a card certificate", which=kind)
    try:
        ku = exts.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound as exc:
        raise WrongKeyUsage("no keyUsage extension", which=kind) from exc
    if not ku.digital_signature:
        raise WrongKeyUsage("digitalSignature is not allowed", which=kind)
    if kind is CertKind.SIGNING and not ku.content_commitment:
        raise WrongKeyUsage("nonRepudiation is not allowed", which=kind)
    if ku.key_cert_sign or ku.crl_sign:
        raise WrongKeyUsage("certificate/CRL signing is allowed on a card key", which=kind)
    if kind is CertKind.AUTH:
        try:
            eku = exts.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound as exc:
            raise WrongKeyUsage("no extendedKeyUsage (client authentication)", which=kind) from exc
        if ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
            raise WrongKeyUsage("extendedKeyUsage lacks client authentication", which=kind)


def _check_policy(cert: x509.Certificate, kind: CertKind) -> None:
    arc = POLICY_ARC_AUTH if kind is CertKind.AUTH else POLICY_ARC_SIGNING
    try:
        policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    except x509.ExtensionNotFound as exc:
        raise WrongPolicy("no certificatePolicies extension", which=kind) from exc
    oids = [p.policy_identifier.dotted_string for p in policies]
    if not any(o.startswith(arc + ".") for o in oids):
        raise WrongPolicy(f"no policy under {arc}", which=kind)


def _verify_card_signature(
    cert: x509.Certificate, signature: bytes, message: bytes, kind: CertKind
) -> None:
    pub = cert.public_key()
    assert isinstance(pub, rsa.RSAPublicKey)
    if not isinstance(signature, bytes | bytearray) or len(signature) != pub.key_size // 8:
        raise BadCardSignature(which=kind, detail="wrong signature length")
    try:
        pub.verify(bytes(signature), message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise BadCardSignature(which=kind) from exc
