"""The X.509 certificates of the TEST CA: J-LIS-shaped roots, card certificates by profile.

NOT J-LIS: every name says TEST (see ``procedures.identity.testca``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from procedures.identity.certs import OID_ADDRESS, OID_BIRTH_DATE, OID_NAME, OID_SEX, CertKind
from procedures.identity.der import der_printablestring, der_read, der_tlv, der_utf8string
from procedures.identity.testca.cards import Sex, TestResident

__all__ = [
    "AUTH_PROFILE",
    "POLICY_AUTH",
    "POLICY_SIGNING",
    "SIGNING_PROFILE",
    "CertProfile",
    "Issuer",
    "card_certificate",
    "era_birth_date",
    "key_usage",
    "root_certificate",
    "sha1_resigned",
    "without_next_update",
]

POLICY_SIGNING = "1.2.392.200149.8.5.1.1.20"
POLICY_AUTH = "1.2.392.200149.8.5.1.3.30"
_AGENCY = "Japan Agency for Local Authority Information Systems"


@dataclass(frozen=True)
class CertProfile:
    """Extensions of a card certificate; vary it to make negative-test certificates.

    ``key_usage`` names ``x509.KeyUsage`` flags (``digital_signature``,
    ``content_commitment`` = nonRepudiation, ``key_cert_sign``, …).
    """

    key_usage: frozenset[str]
    extended_key_usages: tuple[x509.ObjectIdentifier, ...] = ()
    policy_oids: tuple[str, ...] = ()
    ca: bool = False


AUTH_PROFILE = CertProfile(
    key_usage=frozenset({"digital_signature"}),
    extended_key_usages=(ExtendedKeyUsageOID.CLIENT_AUTH,),
    policy_oids=(POLICY_AUTH,),
)
SIGNING_PROFILE = CertProfile(
    key_usage=frozenset({"digital_signature", "content_commitment"}),
    policy_oids=(POLICY_SIGNING,),
)

_KU_FLAGS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


def key_usage(flags: frozenset[str]) -> x509.KeyUsage:
    """``x509.KeyUsage`` with exactly ``flags`` set (names as in ``CertProfile.key_usage``)."""
    unknown = flags - set(_KU_FLAGS)
    if unknown:
        raise ValueError(f"unknown key usage flags: {sorted(unknown)}")
    args: dict[str, bool] = {f: f in flags for f in _KU_FLAGS}
    return x509.KeyUsage(**args, encipher_only=False, decipher_only=False)


_SHA256_WITH_RSA = bytes.fromhex("06092a864886f70d01010b")
_SHA1_WITH_RSA = bytes.fromhex("06092a864886f70d010105")


def sha1_resigned(der: bytes, tbs: bytes, signature: bytes, key: rsa.RSAPrivateKey) -> bytes:
    """``der`` (a certificate, CRL or OCSP response signed sha256WithRSA over ``tbs``) signed again
    with SHA-1 instead — what a checker must refuse.

    The builders of ``cryptography`` no longer sign with SHA-1, so the two algorithm identifiers
    (the one inside ``tbs``, if any, and the one after it) and the signature are swapped in place:
    both OIDs and both RSA signatures have the same length, so no DER length changes.
    """
    new_tbs = tbs.replace(_SHA256_WITH_RSA, _SHA1_WITH_RSA, 1)
    start = der.index(tbs)
    rest = der[start + len(tbs):].replace(_SHA256_WITH_RSA, _SHA1_WITH_RSA, 1)
    new_signature = key.sign(new_tbs, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 - the point of it
    assert len(new_signature) == len(signature) and signature in rest
    return der[:start] + new_tbs + rest.replace(signature, new_signature, 1)


def without_next_update(crl: x509.CertificateRevocationList, key: rsa.RSAPrivateKey) -> bytes:
    """``crl`` (signed sha256WithRSA by ``key``) without its nextUpdate, signed again — a CRL RFC 5280
    does not allow and ``cryptography`` will not build, but a checker may be handed."""
    times = (0x17, 0x18)  # UTCTime, GeneralizedTime: thisUpdate, then the optional nextUpdate
    _, content, _ = der_read(crl.tbs_certlist_bytes)
    kept, pos, seen = b"", 0, 0
    while pos < len(content):
        tag, value, end = der_read(content, pos)
        seen += tag in times
        if not (tag in times and seen == 2):
            kept += content[pos:end]
        pos = end
    tbs = der_tlv(0x30, kept)
    signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    algorithm = der_tlv(0x30, _SHA256_WITH_RSA + b"\x05\x00")
    return der_tlv(0x30, tbs + algorithm + der_tlv(0x03, b"\x00" + signature))


def era_birth_date(d: date) -> str:
    """JPKI birth-date value ``EYYYYMMDD`` (E: 1 明治, 2 大正, 3 昭和, 4 平成, 5 令和)."""
    if d >= date(2019, 5, 1):
        era = 5
    elif d >= date(1989, 1, 8):
        era = 4
    elif d >= date(1926, 12, 25):
        era = 3
    elif d >= date(1912, 7, 30):
        era = 2
    else:
        era = 1
    return f"{era}{d:%Y%m%d}"


def root_name(label: str, kind: CertKind) -> x509.Name:
    """The J-LIS-shaped name of the ``kind`` root, with ``label`` (TEST…) in it."""
    purpose = "user authentication" if kind is CertKind.AUTH else "digital signature"
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"JPKI {label}"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"JPKI {label} for {purpose}"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, _AGENCY),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{label} CA - NOT ISSUED BY J-LIS"),
        ]
    )


def root_certificate(key: rsa.RSAPrivateKey, label: str, kind: CertKind, now: datetime, *,
                     usages: frozenset[str] = frozenset({"key_cert_sign", "crl_sign"})) -> x509.Certificate:
    """A self-signed ``kind`` root, valid for twenty years from yesterday."""
    name = root_name(label, kind)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365 * 20))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage(usages), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )


@dataclass(frozen=True)
class Issuer:
    """What a card certificate needs of the root issuing it."""

    certificate: x509.Certificate
    key: rsa.RSAPrivateKey
    label: str
    crl_url: str
    ocsp_url: str


def card_certificate(
    kind: CertKind,
    key: rsa.RSAPrivateKey,
    resident: TestResident,
    profile: CertProfile,
    not_before: datetime,
    not_after: datetime,
    issuer: Issuer,
) -> x509.Certificate:
    """A ``kind`` card certificate for ``key`` with ``profile``'s extensions (and, for the signing
    kind, the resident's four basic facts as subjectAltName otherNames)."""
    root = issuer.certificate
    # Random 64-bit serials: unique, and long enough that a privacy scan for them
    # has no chance of false positives.
    serial = secrets.randbits(63) | (1 << 62)
    tag = "AUTH" if kind is CertKind.AUTH else "SIGN"
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{issuer.label} {tag} {secrets.token_hex(8).upper()}"),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(key_usage(profile.key_usage), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(issuer.crl_url)],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier(issuer.ocsp_url),
                    )
                ]
            ),
            critical=False,
        )
    )
    if profile.ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    if profile.extended_key_usages:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(list(profile.extended_key_usages)), critical=False
        )
    if profile.policy_oids:
        builder = builder.add_extension(
            x509.CertificatePolicies(
                [x509.PolicyInformation(x509.ObjectIdentifier(o), None) for o in profile.policy_oids]
            ),
            critical=False,
        )
    if kind is CertKind.SIGNING:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.OtherName(OID_NAME, der_utf8string(resident.name)),
                    x509.OtherName(OID_SEX, der_printablestring(Sex(resident.sex).value)),
                    x509.OtherName(
                        OID_BIRTH_DATE, der_printablestring(era_birth_date(resident.birth_date))
                    ),
                    x509.OtherName(OID_ADDRESS, der_utf8string(resident.address)),
                ]
            ),
            critical=False,
        )
    return builder.sign(issuer.key, hashes.SHA256())

