"""A TEST certification authority that mimics the J-LIS JPKI profiles.

NOT J-LIS.  Every certificate it makes says TEST in its issuer (``O=JPKI TEST``) and
subject CN.  It exists so tests and the demo can exercise the real verification code:

* two self-signed roots (user authentication, digital signature) with J-LIS-shaped
  issuer names;
* cards for ``TestResident``\\s: an authentication certificate (no personal data,
  clientAuth EKU, policy ``1.2.392.200149.8.5.1.3.30``) and, for adults, a signing
  certificate (nonRepudiation, policy ``1.2.392.200149.8.5.1.1.20``, the four basic
  facts as subjectAltName otherNames — see ``procedures.identity.jpki``);
* revocation → CRLs rewritten on disk, and an in-process OCSP responder;
* renewal → new keys and serials, old certificates revoked (superseded) and a
  serial-linkage record old → new;
* negative cases: validity windows in the past or future, other key usages / EKUs /
  policies (``CertProfile``), and independent CAs (a different ``label`` or
  ``key_namespace``) whose cards chain to an unknown root.

RSA-2048 key generation is the slow part, so keys come from an ``RsaKeyCache``
directory (labels → PEM files).  Point several CAs, or several test sessions, at the
same cache and keys are generated once.  Keys are stored unencrypted: TEST ONLY.

State (certificates, revocations, linkage) lives under the CA directory, so
``TestCA.load(dir)`` resumes where ``TestCA.create(dir)`` left off.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from procedures.identity.certs import (
    OID_ADDRESS,
    OID_BIRTH_DATE,
    OID_NAME,
    OID_SEX,
    CertKind,
    CertRef,
    InMemorySerialLinkage,
    TrustAnchors,
)
from procedures.identity.der import der_printablestring, der_utf8string, subject_public_key_bits

__all__ = [
    "AUTH_PROFILE",
    "POLICY_AUTH",
    "POLICY_SIGNING",
    "SIGNING_PROFILE",
    "CertProfile",
    "RsaKeyCache",
    "Sex",
    "TestCA",
    "TestCard",
    "TestResident",
    "era_birth_date",
]

POLICY_SIGNING = "1.2.392.200149.8.5.1.1.20"
POLICY_AUTH = "1.2.392.200149.8.5.1.3.30"
_AGENCY = "Japan Agency for Local Authority Information Systems"
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_KINDS = (CertKind.AUTH, CertKind.SIGNING)
_FILE = {CertKind.AUTH: "auth", CertKind.SIGNING: "signing"}


class Sex(StrEnum):
    """住民基本台帳 sex codes (OID 1.2.392.200149.8.5.5.3)."""

    MALE = "1"
    FEMALE = "2"
    UNSPECIFIED = "3"


@dataclass(frozen=True)
class TestResident:
    """A fictional card holder.  Minors get no signing certificate (as under 15)."""

    __test__: ClassVar[bool] = False

    name: str
    birth_date: date
    sex: Sex | str
    address: str
    minor: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "birth_date": self.birth_date.isoformat(),
            "sex": Sex(self.sex).value,
            "address": self.address,
            "minor": self.minor,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TestResident:
        return cls(
            name=data["name"],
            birth_date=date.fromisoformat(data["birth_date"]),
            sex=Sex(data["sex"]),
            address=data["address"],
            minor=bool(data["minor"]),
        )


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


def _key_usage(flags: frozenset[str]) -> x509.KeyUsage:
    unknown = flags - set(_KU_FLAGS)
    if unknown:
        raise ValueError(f"unknown key usage flags: {sorted(unknown)}")
    args: dict[str, bool] = {f: f in flags for f in _KU_FLAGS}
    return x509.KeyUsage(**args, encipher_only=False, decipher_only=False)


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


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class RsaKeyCache:
    """RSA-2048 private keys by label, generated on first use and kept as PEM files.

    Safe for concurrent processes (atomic writes; the first writer wins).
    """

    def __init__(self, directory: str | Path, key_size: int = 2048) -> None:
        self.directory = Path(directory)
        self.key_size = key_size
        self._memory: dict[str, rsa.RSAPrivateKey] = {}

    def get(self, label: str) -> rsa.RSAPrivateKey:
        if not _ID.fullmatch(label.replace("/", "_")):
            raise ValueError(f"bad key label {label!r}")
        if label in self._memory:
            return self._memory[label]
        path = self.directory / f"{label.replace('/', '_')}.pem"
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except FileNotFoundError:
            key = rsa.generate_private_key(public_exponent=65537, key_size=self.key_size)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            if not path.exists():
                _write_atomic(path, pem)
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        self._memory[label] = key
        return key


@dataclass
class TestCard:
    """A TEST My Number card: keys, certificates and PINs."""

    __test__: ClassVar[bool] = False

    card_id: str
    resident: TestResident
    auth_cert: x509.Certificate
    auth_key: rsa.RSAPrivateKey
    signing_cert: x509.Certificate | None
    signing_key: rsa.RSAPrivateKey | None
    pin: str
    signing_password: str | None
    auth_ca: x509.Certificate
    signing_ca: x509.Certificate
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def auth_cert_der(self) -> bytes:
        return self.auth_cert.public_bytes(serialization.Encoding.DER)

    @property
    def signing_cert_der(self) -> bytes | None:
        if self.signing_cert is None:
            return None
        return self.signing_cert.public_bytes(serialization.Encoding.DER)

    @property
    def auth_ref(self) -> CertRef:
        return CertRef.of(self.auth_cert)

    @property
    def signing_ref(self) -> CertRef | None:
        return None if self.signing_cert is None else CertRef.of(self.signing_cert)

    def sign_auth(self, data: bytes) -> bytes:
        """What the card's authentication key returns: PKCS#1 v1.5 over SHA-256."""
        return self.auth_key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def sign_signing(self, data: bytes) -> bytes:
        if self.signing_key is None:
            raise ValueError("this card has no signing key")
        return self.signing_key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def pkcs12(self, kind: CertKind = CertKind.AUTH) -> bytes:
        """PKCS#12 of one key (password: the PIN, or the signing password)."""
        if kind is CertKind.AUTH:
            key, cert, ca, password = self.auth_key, self.auth_cert, self.auth_ca, self.pin
        else:
            if self.signing_key is None or self.signing_cert is None or not self.signing_password:
                raise ValueError("this card has no signing key")
            key, cert, ca = self.signing_key, self.signing_cert, self.signing_ca
            password = self.signing_password
        encryption = (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(2048)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
            .build(password.encode())
        )
        name = f"JPKI TEST {_FILE[kind]} {self.card_id}".encode()
        return pkcs12.serialize_key_and_certificates(name, key, cert, [ca], encryption)

    def write_soft_card(self, path: str | Path) -> tuple[Path, Path | None]:
        """Write the software card: ``path`` (authentication key, password = PIN) and,
        for adults, ``<stem>.sign.p12`` next to it (signing key, password = signing
        password).  Returns both paths."""
        path = Path(path)
        _write_atomic(path, self.pkcs12(CertKind.AUTH))
        if self.signing_key is None:
            return path, None
        signing_path = path.with_name(path.stem + ".sign.p12")
        _write_atomic(signing_path, self.pkcs12(CertKind.SIGNING))
        return path, signing_path


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "ca"


class TestCA:
    """The TEST CA.  Use ``create``, ``load`` or ``open`` (load-or-create)."""

    __test__: ClassVar[bool] = False

    def __init__(self, directory: Path, state: dict[str, Any], keys: RsaKeyCache) -> None:
        self.directory = directory
        self._state = state
        self._keys = keys
        ns = state["key_namespace"]
        self._root_keys = {k: keys.get(f"{ns}-root-{_FILE[k]}") for k in _KINDS}
        self._roots = {
            k: x509.load_pem_x509_certificate((directory / "roots" / f"{_FILE[k]}.pem").read_bytes())
            for k in _KINDS
        }

    # construction -------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        directory: str | Path,
        *,
        label: str = "TEST",
        key_namespace: str | None = None,
        key_cache: RsaKeyCache | str | Path | None = None,
        now: datetime | None = None,
    ) -> TestCA:
        """Make a new CA in ``directory`` (which must not hold one).

        ``label`` goes into every DN (``O=JPKI <label>``) and must contain TEST;
        ``key_namespace`` (default: from ``label``) keeps keys of different CAs apart
        in a shared key cache — two CAs with equal labels but different namespaces
        have identical names and different keys (an impostor).
        """
        if "TEST" not in label:
            raise ValueError("the label must contain TEST: this CA must never pass for J-LIS")
        directory = Path(directory)
        if (directory / "ca.json").exists():
            raise FileExistsError(f"a test CA already exists in {directory}")
        keys = _key_cache(key_cache, directory)
        ns = _slug(key_namespace or label)
        now = now or datetime.now(UTC)
        state: dict[str, Any] = {
            "label": label,
            "key_namespace": ns,
            "cards": {},
            "issued": {_FILE[k]: [] for k in _KINDS},
            "revoked": {_FILE[k]: {} for k in _KINDS},
            "linkage": [],
            "counter": 0,
        }
        for kind in _KINDS:
            key = keys.get(f"{ns}-root-{_FILE[kind]}")
            name = cls._root_name(label, kind)
            ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
            cert = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(days=1))
                .not_valid_after(now + timedelta(days=365 * 20))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(
                    _key_usage(frozenset({"key_cert_sign", "crl_sign"})), critical=True
                )
                .add_extension(ski, critical=False)
                .sign(key, hashes.SHA256())
            )
            _write_atomic(directory / "roots" / f"{_FILE[kind]}.pem", _pem(cert))
        ca = cls(directory, state, keys)
        ca._save()
        ca.write_crls(now=now)
        return ca

    @classmethod
    def load(
        cls, directory: str | Path, *, key_cache: RsaKeyCache | str | Path | None = None
    ) -> TestCA:
        directory = Path(directory)
        state = json.loads((directory / "ca.json").read_text(encoding="utf-8"))
        return cls(directory, state, _key_cache(key_cache, directory))

    @classmethod
    def open(cls, directory: str | Path, **kwargs: Any) -> TestCA:
        """``load`` if ``directory`` holds a CA, else ``create``."""
        if (Path(directory) / "ca.json").exists():
            return cls.load(directory, key_cache=kwargs.get("key_cache"))
        return cls.create(directory, **kwargs)

    @staticmethod
    def _root_name(label: str, kind: CertKind) -> x509.Name:
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

    # public accessors ---------------------------------------------------------------

    @property
    def label(self) -> str:
        return str(self._state["label"])

    @property
    def auth_root(self) -> x509.Certificate:
        return self._roots[CertKind.AUTH]

    @property
    def signing_root(self) -> x509.Certificate:
        return self._roots[CertKind.SIGNING]

    def root(self, kind: CertKind) -> x509.Certificate:
        return self._roots[kind]

    def trust_anchors(self) -> TrustAnchors:
        return TrustAnchors(auth=(self.auth_root,), signing=(self.signing_root,))

    def ocsp_url(self, kind: CertKind) -> str:
        return f"http://ocsp.{self._state['key_namespace']}.jpki-test.invalid/{_FILE[kind]}"

    def crl_url(self, kind: CertKind) -> str:
        return f"http://crl.{self._state['key_namespace']}.jpki-test.invalid/{_FILE[kind]}.crl"

    def crl_path(self, kind: CertKind) -> Path:
        return self.directory / "crl" / f"{_FILE[kind]}.crl"

    # cards --------------------------------------------------------------------------

    def issue_card(
        self,
        resident: TestResident,
        *,
        card_id: str | None = None,
        pin: str = "1234",
        signing_password: str = "TESTPASS1",  # noqa: S107 - TEST card default
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        now: datetime | None = None,
        auth_profile: CertProfile = AUTH_PROFILE,
        signing_profile: CertProfile = SIGNING_PROFILE,
    ) -> TestCard:
        """Issue a card (auth certificate; signing certificate unless a minor)."""
        now = now or datetime.now(UTC)
        if card_id is None:
            self._state["counter"] += 1
            card_id = f"card{self._state['counter']:04d}"
        if not _ID.fullmatch(card_id):
            raise ValueError(f"bad card id {card_id!r}")
        if card_id in self._state["cards"]:
            raise ValueError(f"card {card_id!r} already issued")
        signing_password = signing_password.upper()  # a card's is upper case; wallets upper-case what is typed
        if not resident.minor and not re.fullmatch(r"[A-Z0-9]{6,16}", signing_password):
            raise ValueError("the signing password is 6-16 letters and digits")
        not_before = not_before or now - timedelta(minutes=5)
        not_after = not_after or now + timedelta(days=365 * 5)
        record: dict[str, Any] = {
            "resident": resident.to_json(),
            "pin": pin,
            "signing_password": None if resident.minor else signing_password,
            "serials": {},
        }
        card_dir = self.directory / "cards" / card_id
        kinds = (CertKind.AUTH,) if resident.minor else _KINDS
        for kind in kinds:
            key = self._keys.get(f"{self._state['key_namespace']}-card-{card_id}-{_FILE[kind]}")
            profile = auth_profile if kind is CertKind.AUTH else signing_profile
            cert = self._issue_cert(kind, key, resident, profile, not_before, not_after)
            record["serials"][_FILE[kind]] = format(cert.serial_number, "x")
            self._state["issued"][_FILE[kind]].append(format(cert.serial_number, "x"))
            _write_atomic(card_dir / f"{_FILE[kind]}.pem", _pem(cert))
        self._state["cards"][card_id] = record
        self._save()
        return self.card(card_id)

    def card(self, card_id: str) -> TestCard:
        """Load an issued card."""
        record = self._state["cards"][card_id]
        card_dir = self.directory / "cards" / card_id
        ns = self._state["key_namespace"]
        signing_cert = None
        signing_key = None
        if (card_dir / "signing.pem").exists():
            signing_cert = x509.load_pem_x509_certificate((card_dir / "signing.pem").read_bytes())
            signing_key = self._keys.get(f"{ns}-card-{card_id}-signing")
        return TestCard(
            card_id=card_id,
            resident=TestResident.from_json(record["resident"]),
            auth_cert=x509.load_pem_x509_certificate((card_dir / "auth.pem").read_bytes()),
            auth_key=self._keys.get(f"{ns}-card-{card_id}-auth"),
            signing_cert=signing_cert,
            signing_key=signing_key,
            pin=record["pin"],
            signing_password=record["signing_password"],
            auth_ca=self.auth_root,
            signing_ca=self.signing_root,
        )

    def cards(self) -> list[str]:
        return list(self._state["cards"])

    def revoke(
        self,
        card: TestCard | str,
        *,
        reason: x509.ReasonFlags = x509.ReasonFlags.key_compromise,
        which: Iterable[CertKind] = _KINDS,
        at: datetime | None = None,
    ) -> None:
        """Revoke a card's certificates; CRLs are rewritten, OCSP answers revoked."""
        card_id = card if isinstance(card, str) else card.card_id
        at = at or datetime.now(UTC)
        serials = self._state["cards"][card_id]["serials"]
        for kind in which:
            serial = serials.get(_FILE[kind])
            if serial is None:
                continue
            self._state["revoked"][_FILE[kind]][serial] = {
                "reason": reason.value,
                "at": at.isoformat(),
            }
        self._save()
        self.write_crls()

    def renew(self, card: TestCard | str, *, now: datetime | None = None) -> TestCard:
        """Renew a card: new keys and serials; old certificates revoked (superseded)
        and linked old → new in ``serial_linkage()``."""
        old = self.card(card) if isinstance(card, str) else card
        now = now or datetime.now(UTC)
        record = self._state["cards"][old.card_id]
        generation = int(record.get("generation", 1)) + 1
        base = record.get("base_id", old.card_id)
        new = self.issue_card(
            old.resident,
            card_id=f"{base}-r{generation}",
            pin=old.pin,
            signing_password=old.signing_password or "TESTPASS1",
            now=now,
        )
        new_record = self._state["cards"][new.card_id]
        new_record["generation"] = generation
        new_record["base_id"] = base
        for kind in _KINDS:
            old_serial = record["serials"].get(_FILE[kind])
            new_serial = new_record["serials"].get(_FILE[kind])
            if old_serial and new_serial:
                self._state["linkage"].append(
                    {"kind": _FILE[kind], "old": old_serial, "new": new_serial}
                )
        self._save()
        self.revoke(old, reason=x509.ReasonFlags.superseded, at=now)
        return new

    def serial_linkage(self) -> InMemorySerialLinkage:
        """The renewal linkage records (what J-LIS provides to platform operators)."""
        linkage = InMemorySerialLinkage()
        for rec in self._state["linkage"]:
            kind = CertKind.AUTH if rec["kind"] == "auth" else CertKind.SIGNING
            name = self._roots[kind].subject
            issuer = name.public_bytes()
            rfc = name.rfc4514_string()
            linkage.add(
                CertRef(issuer, int(rec["old"], 16), rfc), CertRef(issuer, int(rec["new"], 16), rfc)
            )
        return linkage

    # CRL and OCSP -------------------------------------------------------------------

    def crl(self, kind: CertKind, *, now: datetime | None = None,
            next_update: timedelta = timedelta(days=1)) -> bytes:
        """A DER CRL of ``kind``'s root as of ``now``."""
        now = now or datetime.now(UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self._roots[kind].subject)
            .last_update(now)
            .next_update(now + next_update)
        )
        for serial, info in self._state["revoked"][_FILE[kind]].items():
            revoked_at = datetime.fromisoformat(info["at"])
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(int(serial, 16))
                .revocation_date(revoked_at)
                .add_extension(x509.CRLReason(x509.ReasonFlags(info["reason"])), critical=False)
                .build()
            )
        crl = builder.sign(self._root_keys[kind], hashes.SHA256())
        return crl.public_bytes(serialization.Encoding.DER)

    def write_crls(self, *, now: datetime | None = None) -> list[Path]:
        paths = []
        for kind in _KINDS:
            _write_atomic(self.crl_path(kind), self.crl(kind, now=now))
            paths.append(self.crl_path(kind))
        return paths

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
        revoked = self._state["revoked"][_FILE[kind]].get(serial)
        if revoked is not None:
            status = ocsp.OCSPCertStatus.REVOKED
            revocation_time: datetime | None = datetime.fromisoformat(revoked["at"])
            reason: x509.ReasonFlags | None = x509.ReasonFlags(revoked["reason"])
        elif serial in self._state["issued"][_FILE[kind]]:
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

    # internals ----------------------------------------------------------------------

    def _kind_for_request(self, req: ocsp.OCSPRequest) -> CertKind | None:
        for kind in _KINDS:
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
        key = self._keys.get(f"{self._state['key_namespace']}-ocsp-{_FILE[kind]}")
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"JPKI {self.label}"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{self.label} OCSP responder {_FILE[kind]}"),
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
            .add_extension(_key_usage(frozenset({"digital_signature"})), critical=True)
            .add_extension(x509.OCSPNoCheck(), critical=False)
            .sign(self._root_keys[kind], hashes.SHA256())
        )
        return key, cert

    def _issue_cert(
        self,
        kind: CertKind,
        key: rsa.RSAPrivateKey,
        resident: TestResident,
        profile: CertProfile,
        not_before: datetime,
        not_after: datetime,
    ) -> x509.Certificate:
        root = self._roots[kind]
        # Random 64-bit serials: unique, and long enough that a privacy scan for them
        # has no chance of false positives.
        serial = secrets.randbits(63) | (1 << 62)
        tag = "AUTH" if kind is CertKind.AUTH else "SIGN"
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{self.label} {tag} {secrets.token_hex(8).upper()}"),
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
            .add_extension(_key_usage(profile.key_usage), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self._root_keys[kind].public_key()
                ),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            full_name=[x509.UniformResourceIdentifier(self.crl_url(kind))],
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
                            x509.UniformResourceIdentifier(self.ocsp_url(kind)),
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
        return builder.sign(self._root_keys[kind], hashes.SHA256())

    def _save(self) -> None:
        data = json.dumps(self._state, ensure_ascii=False, indent=1, sort_keys=True)
        _write_atomic(self.directory / "ca.json", data.encode("utf-8"))


def _key_cache(key_cache: RsaKeyCache | str | Path | None, directory: Path) -> RsaKeyCache:
    if isinstance(key_cache, RsaKeyCache):
        return key_cache
    return RsaKeyCache(key_cache if key_cache is not None else directory / "keys")
