"""The JPKI card-certificate profile as data, and the value types card verification deals in.

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

Privacy: ``BasicFacts`` (personal data), ``CertRef`` (serials are personal data here) and
``VerifiedCard`` redact themselves in ``repr``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509

from procedures.identity.der import der_integer, der_tlv

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
    "SerialLinkage",
    "TrustAnchors",
    "VerifiedCard",
    "load_certificates",
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


# --- trust anchors and renewal linkage -----------------------------------------------


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
