"""JPKI (公的個人認証) certificate verification for My Number card linking.

The My Number card carries two RSA-2048 key pairs with certificates issued by J-LIS
(地方公共団体情報システム機構), each from its own single-tier CA:

* user authentication (利用者証明用電子証明書): no personal data; readable without a
  PIN; issuer ``C=JP, O=JPKI, OU=JPKI for user authentication, OU=Japan Agency for
  Local Authority Information Systems``.
* signing (署名用電子証明書): subjectAltName otherNames carry the four basic facts;
  readable only after the signing password; issuer ``... OU=JPKI for digital
  signature ...``.  Not issued to minors under 15.

Profile facts this module relies on (J-LIS certificate profile; identifiers agree with
public card tools such as jpki/myna):

==============================  ==================================================
OID                             meaning
==============================  ==================================================
1.2.392.200149.8.5.1            JPKI certificate-policy arc
1.2.392.200149.8.5.1.1.*        signing certificate policy (test CA uses .1.1.20)
1.2.392.200149.8.5.1.3.*        user-authentication policy (test CA uses .1.3.30)
1.2.392.200149.8.5.5.1          name 氏名 (UTF8String)
1.2.392.200149.8.5.5.2          substitute-character positions in the name
1.2.392.200149.8.5.5.3          sex 性別 (PrintableString code, see ``SEX_CODES``)
1.2.392.200149.8.5.5.4          birth date 生年月日 (PrintableString ``EYYYYMMDD``:
                                era digit 1=明治 2=大正 3=昭和 4=平成 5=令和, then the
                                Gregorian date)
1.2.392.200149.8.5.5.5          address 住所 (UTF8String)
1.2.392.200149.8.5.5.6          substitute-character positions in the address
==============================  ==================================================

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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, SignatureAlgorithmOID

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

__all__ = [
    "OID_ADDRESS",
    "OID_ADDRESS_SUBSTITUTE",
    "OID_BIRTH_DATE",
    "OID_NAME",
    "OID_NAME_SUBSTITUTE",
    "OID_SEX",
    "POLICY_ARC",
    "POLICY_ARC_AUTH",
    "POLICY_ARC_SIGNING",
    "SEX_CODES",
    "AssuranceLevel",
    "BasicFacts",
    "CertKind",
    "CertRef",
    "InMemorySerialLinkage",
    "JpkiVerifier",
    "RevocationCheck",
    "SerialLinkage",
    "TrustAnchors",
    "VerifiedCard",
    "load_certificates",
    "parse_basic_facts",
    "subject_public_key_bits",
    "utc_now",
]

# --- OIDs ---------------------------------------------------------------------------

POLICY_ARC = "1.2.392.200149.8.5.1"
POLICY_ARC_SIGNING = "1.2.392.200149.8.5.1.1"
POLICY_ARC_AUTH = "1.2.392.200149.8.5.1.3"

OID_NAME = x509.ObjectIdentifier("1.2.392.200149.8.5.5.1")
OID_NAME_SUBSTITUTE = x509.ObjectIdentifier("1.2.392.200149.8.5.5.2")
OID_SEX = x509.ObjectIdentifier("1.2.392.200149.8.5.5.3")
OID_BIRTH_DATE = x509.ObjectIdentifier("1.2.392.200149.8.5.5.4")
OID_ADDRESS = x509.ObjectIdentifier("1.2.392.200149.8.5.5.5")
OID_ADDRESS_SUBSTITUTE = x509.ObjectIdentifier("1.2.392.200149.8.5.5.6")

#: 住民基本台帳 sex codes as carried in OID .5.5.3.
SEX_CODES = {"1": "male", "2": "female", "3": "unspecified"}

_MIN_RSA_BITS = 2048
_CARD_SIGNATURE_ALGORITHMS = {SignatureAlgorithmOID.RSA_WITH_SHA256}


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- minimal DER (only what the profile needs) --------------------------------------


def der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def der_tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + der_length(len(content)) + content


def der_integer(n: int) -> bytes:
    body = n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=True)
    return der_tlv(0x02, body)


def der_utf8string(s: str) -> bytes:
    return der_tlv(0x0C, s.encode("utf-8"))


def der_printablestring(s: str) -> bytes:
    return der_tlv(0x13, s.encode("ascii"))


def der_read(data: bytes, offset: int = 0) -> tuple[int, bytes, int]:
    """Read one TLV at ``offset``: ``(tag, content, next_offset)``; strict definite DER."""
    if offset + 2 > len(data):
        raise ValueError("truncated DER")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise ValueError("multi-byte tags are not supported")
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or pos + n > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos : pos + n], "big")
        if length < 0x80 or data[pos] == 0:
            raise ValueError("non-minimal DER length")
        pos += n
    end = pos + length
    if end > len(data):
        raise ValueError("truncated DER")
    return tag, data[pos:end], end


def decode_directory_string(value: bytes) -> str:
    """Decode a DER UTF8String / PrintableString / IA5String / BMPString value."""
    tag, content, end = der_read(value)
    if end != len(value):
        raise ValueError("trailing bytes after string")
    if tag == 0x0C:
        return content.decode("utf-8")
    if tag in (0x13, 0x16):
        return content.decode("ascii")
    if tag == 0x1E:
        return content.decode("utf-16-be")
    raise ValueError(f"unexpected string tag 0x{tag:02x}")


def subject_public_key_bits(public_key: Any) -> bytes:
    """Contents of the subjectPublicKey BIT STRING (what OCSP key hashes cover)."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _, seq, _ = der_read(spki)
    _, _, pos = der_read(seq)  # AlgorithmIdentifier
    tag, bits, _ = der_read(seq, pos)
    if tag != 0x03 or not bits or bits[0] != 0:
        raise ValueError("unexpected SubjectPublicKeyInfo")
    return bits[1:]


# --- value types --------------------------------------------------------------------


class AssuranceLevel(IntEnum):
    """Assurance level attested on chain (numbering shared with IdentityRegistry)."""

    CARD_AUTHENTICATED = 1
    RESIDENT_OF_CITY = 2


class CertKind(StrEnum):
    AUTH = "user-authentication"
    SIGNING = "signing"


@dataclass(frozen=True)
class CertRef:
    """Issuer + serial number of a card certificate (the subject-id linkage key).

    Equality and hashing use ``issuer_der`` (DER of the issuer Name) and ``serial``;
    ``issuer`` is the RFC 4514 rendering, for display.  ``issuer_and_serial()`` is the
    DER ``IssuerAndSerialNumber`` (RFC 5652): a canonical byte string to key lookups or
    HMACs on.  The serial is personal data in this system, so ``repr`` hides it.
    """

    issuer_der: bytes
    serial: int
    issuer: str = field(default="", compare=False)

    @classmethod
    def of(cls, cert: x509.Certificate) -> CertRef:
        return cls(cert.issuer.public_bytes(), cert.serial_number, cert.issuer.rfc4514_string())

    def issuer_and_serial(self) -> bytes:
        return der_tlv(0x30, self.issuer_der + der_integer(self.serial))

    def __repr__(self) -> str:
        return f"CertRef(issuer={self.issuer!r}, serial=<redacted>)"


@dataclass(frozen=True, repr=False)
class BasicFacts:
    """The four basic facts (基本4情報) of the signing certificate.  Personal data.

    ``birth_date_raw`` is the certificate value (``EYYYYMMDD``); ``birth_date`` is its
    Gregorian date, or ``None`` where the register holds a partial date.  ``sex`` is the
    raw code (see ``SEX_CODES``).
    """

    name: str
    birth_date_raw: str
    sex: str
    address: str
    name_substitutes: str | None = None
    address_substitutes: str | None = None

    @property
    def birth_date(self) -> date | None:
        raw = self.birth_date_raw
        if len(raw) != 9 or not raw.isdigit():
            return None
        try:
            return date(int(raw[1:5]), int(raw[5:7]), int(raw[7:9]))
        except ValueError:
            return None

    def to_evidence(self) -> dict[str, Any]:
        """Plain dict for the encrypted evidence bundle (never log it)."""
        return {
            "name": self.name,
            "birth_date": self.birth_date_raw,
            "sex": self.sex,
            "address": self.address,
            "name_substitutes": self.name_substitutes,
            "address_substitutes": self.address_substitutes,
        }

    def __repr__(self) -> str:
        return "BasicFacts(<personal data redacted>)"

    __str__ = __repr__


@dataclass(frozen=True, repr=False)
class VerifiedCard:
    """Outcome of a successful ``JpkiVerifier.verify_card``.

    ``auth`` / ``signing`` identify the certificates for the subject-id linkage;
    ``facts`` (signing certificate only) go to the encrypted evidence bundle;
    ``in_city`` is ``None`` without a signing certificate, else whether its address
    matched a configured city prefix; ``note`` explains the level in one sentence;
    ``not_after`` is the earliest certificate expiry (cap the attestation with it).

    Privacy: JPKI certificates expire on the holder's birthday (the 5th after
    issuance), so ``not_after`` is personal data — do not publish it on chain as is.
    """

    level: AssuranceLevel
    auth: CertRef
    signing: CertRef | None
    facts: BasicFacts | None
    in_city: bool | None
    note: str
    not_after: datetime
    verified_at: datetime
    fingerprints: dict[str, str] = field(default_factory=dict)

    def evidence(self) -> dict[str, Any]:
        """Evidence bundle content (encrypt before storing; personal data inside)."""
        return {
            "level": int(self.level),
            "verified_at": self.verified_at.isoformat(),
            "not_after": self.not_after.isoformat(),
            "auth": {"issuer": self.auth.issuer, "serial": format(self.auth.serial, "x")},
            "signing": None
            if self.signing is None
            else {"issuer": self.signing.issuer, "serial": format(self.signing.serial, "x")},
            "certificate_sha256": dict(self.fingerprints),
            "in_city": self.in_city,
            "facts": None if self.facts is None else self.facts.to_evidence(),
        }

    def __repr__(self) -> str:
        return (
            f"VerifiedCard(level={self.level.name}, signing={'yes' if self.signing else 'no'}, "
            f"in_city={self.in_city}, <personal data redacted>)"
        )

    __str__ = __repr__


# --- trust anchors, linkage, revocation interface ------------------------------------


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Certificates from PEM (one or many) or a single DER blob."""
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


@dataclass(frozen=True)
class TrustAnchors:
    """Pinned J-LIS roots: user-authentication CAs and signing CAs (several each, for
    key rollovers).  Anchors are trusted as configured (RFC 5280 trust-anchor
    semantics: their own validity dates are not checked)."""

    auth: tuple[x509.Certificate, ...]
    signing: tuple[x509.Certificate, ...]

    def __post_init__(self) -> None:
        if not self.auth:
            raise ValueError("at least one user-authentication trust anchor is required")

    @classmethod
    def from_files(
        cls, *, auth: Iterable[str | Path], signing: Iterable[str | Path]
    ) -> TrustAnchors:
        def load(paths: Iterable[str | Path]) -> tuple[x509.Certificate, ...]:
            return tuple(c for p in paths for c in load_certificates(Path(p).read_bytes()))

        return cls(auth=load(auth), signing=load(signing))

    def for_kind(self, kind: CertKind) -> tuple[x509.Certificate, ...]:
        return self.auth if kind is CertKind.AUTH else self.signing


class RevocationCheck(Protocol):
    """Structural twin of ``revocation.RevocationChecker`` (kept here to avoid a cycle)."""

    def check(self, cert: x509.Certificate, issuer: x509.Certificate, now: datetime) -> None: ...


class SerialLinkage(Protocol):
    """Certificate-serial linkage across renewals (J-LIS 紐付け information).

    A renewal (or an address change, for the signing certificate) revokes the old
    certificate and issues a new one with a new serial; the linkage tells the service
    that both belong to the same person so the internal subject id survives."""

    def successor(self, ref: CertRef) -> CertRef | None: ...

    def predecessor(self, ref: CertRef) -> CertRef | None: ...


class InMemorySerialLinkage:
    """``SerialLinkage`` over a list of (old, new) records."""

    def __init__(self, records: Iterable[tuple[CertRef, CertRef]] = ()) -> None:
        self._next: dict[CertRef, CertRef] = {}
        self._prev: dict[CertRef, CertRef] = {}
        for old, new in records:
            self.add(old, new)

    def add(self, old: CertRef, new: CertRef) -> None:
        if old == new:
            raise ValueError("a certificate cannot succeed itself")
        self._next[old] = new
        self._prev[new] = old

    def successor(self, ref: CertRef) -> CertRef | None:
        return self._next.get(ref)

    def predecessor(self, ref: CertRef) -> CertRef | None:
        return self._prev.get(ref)

    def lineage(self, ref: CertRef) -> list[CertRef]:
        """All certificates of this chain of renewals, oldest first."""
        chain = [ref]
        seen = {ref}
        while (prev := self._prev.get(chain[0])) is not None and prev not in seen:
            chain.insert(0, prev)
            seen.add(prev)
        while (nxt := self._next.get(chain[-1])) is not None and nxt not in seen:
            chain.append(nxt)
            seen.add(nxt)
        return chain


# --- verification -------------------------------------------------------------------


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
        revocation: RevocationCheck,
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
