"""``TestCA``: the TEST certification authority (create, load, issue, revoke, renew, CRLs).

NOT J-LIS: see ``procedures.identity.testca``. State (certificates, revocations, linkage) lives
under the CA directory, so ``TestCA.load(dir)`` resumes where ``TestCA.create(dir)`` left off.

Card private keys are not part of that state: like J-LIS, the CA never keeps a card's key. It lives
in the card — the software card's PKCS#12 files, encrypted under the PIN and the signing password —
and, in the process that issued it, in memory (``TestCA.card``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from procedures.identity.certs import CertKind, CertRef, InMemorySerialLinkage, TrustAnchors
from procedures.identity.testca.cards import FILE, ID, KINDS, RsaKeyCache, TestCard, TestResident, pem, write_atomic
from procedures.identity.testca.certificates import (
    AUTH_PROFILE,
    SIGNING_PROFILE,
    CertProfile,
    Issuer,
    card_certificate,
    root_certificate,
    sha1_resigned,
    without_next_update,
)
from procedures.identity.testca.ocsp import OcspResponder

__all__ = ["TestCA"]


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "ca"


class TestCA(OcspResponder):
    """The TEST CA.  Use ``create``, ``load`` or ``open`` (load-or-create)."""

    __test__: ClassVar[bool] = False

    def __init__(self, directory: Path, state: dict[str, Any], keys: RsaKeyCache) -> None:
        self.directory = directory
        self._state = state
        self._keys = keys
        self._card_keys: dict[str, dict[CertKind, rsa.RSAPrivateKey]] = {}
        ns = state["key_namespace"]
        self._root_keys = {k: keys.get(f"{ns}-root-{FILE[k]}") for k in KINDS}
        self._roots = {
            k: x509.load_pem_x509_certificate((directory / "roots" / f"{FILE[k]}.pem").read_bytes())
            for k in KINDS
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
            "issued": {FILE[k]: [] for k in KINDS},
            "revoked": {FILE[k]: {} for k in KINDS},
            "linkage": [],
            "counter": 0,
        }
        for kind in KINDS:
            cert = root_certificate(keys.get(f"{ns}-root-{FILE[kind]}"), label, kind, now)
            write_atomic(directory / "roots" / f"{FILE[kind]}.pem", pem(cert))
        ca = cls(directory, state, keys)
        ca._save()
        ca.write_crls(now=now)
        return ca

    @classmethod
    def load(
        cls, directory: str | Path, *, key_cache: RsaKeyCache | str | Path | None = None
    ) -> TestCA:
        """Resume the CA in ``directory``.  Card keys an older version left in its own key directory
        are deleted: the cards written from them hold them, encrypted."""
        directory = Path(directory)
        state = json.loads((directory / "ca.json").read_text(encoding="utf-8"))
        if key_cache is None:
            for leftover in (directory / "keys").glob(f"{state['key_namespace']}-card-*.pem"):
                leftover.unlink(missing_ok=True)
        return cls(directory, state, _key_cache(key_cache, directory))

    @classmethod
    def open(cls, directory: str | Path, **kwargs: Any) -> TestCA:
        """``load`` if ``directory`` holds a CA, else ``create``."""
        if (Path(directory) / "ca.json").exists():
            return cls.load(directory, key_cache=kwargs.get("key_cache"))
        return cls.create(directory, **kwargs)

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

    def reissued_root(self, kind: CertKind, *, key_usage: frozenset[str]) -> x509.Certificate:
        """``kind``'s root issued again (same name and key) with other key usages — e.g. one that
        may no longer sign CRLs."""
        return root_certificate(self._root_keys[kind], self.label, kind, datetime.now(UTC), usages=key_usage)

    def trust_anchors(self) -> TrustAnchors:
        return TrustAnchors(auth=(self.auth_root,), signing=(self.signing_root,))

    def ocsp_url(self, kind: CertKind) -> str:
        return f"http://ocsp.{self._state['key_namespace']}.jpki-test.invalid/{FILE[kind]}"

    def crl_url(self, kind: CertKind) -> str:
        return f"http://crl.{self._state['key_namespace']}.jpki-test.invalid/{FILE[kind]}.crl"

    def crl_path(self, kind: CertKind) -> Path:
        return self.directory / "crl" / f"{FILE[kind]}.crl"

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
        if not ID.fullmatch(card_id):
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
        kinds = (CertKind.AUTH,) if resident.minor else KINDS
        keys = self._card_keys[card_id] = {}
        for kind in kinds:
            key = keys[kind] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            profile = auth_profile if kind is CertKind.AUTH else signing_profile
            cert = card_certificate(kind, key, resident, profile, not_before, not_after, self._issuer(kind))
            record["serials"][FILE[kind]] = format(cert.serial_number, "x")
            self._state["issued"][FILE[kind]].append(format(cert.serial_number, "x"))
            write_atomic(card_dir / f"{FILE[kind]}.pem", pem(cert))
        self._state["cards"][card_id] = record
        self._save()
        return self.card(card_id)

    def card(self, card_id: str) -> TestCard:
        """An issued card, keys included — only in the process that issued it (the CA keeps no card keys).

        Raises:
            KeyError: no such card, or it was issued by another process (its keys are in its .p12 files).
        """
        record = self._state["cards"][card_id]
        keys = self._card_keys.get(card_id)
        if keys is None:
            raise KeyError(f"the TEST CA keeps no card keys: card {card_id!r} is its PKCS#12 files")
        card_dir = self.directory / "cards" / card_id
        signing_cert = None
        if (card_dir / "signing.pem").exists():
            signing_cert = x509.load_pem_x509_certificate((card_dir / "signing.pem").read_bytes())
        return TestCard(
            card_id=card_id,
            resident=TestResident.from_json(record["resident"]),
            auth_cert=x509.load_pem_x509_certificate((card_dir / "auth.pem").read_bytes()),
            auth_key=keys[CertKind.AUTH],
            signing_cert=signing_cert,
            signing_key=keys.get(CertKind.SIGNING),
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
        which: Iterable[CertKind] = KINDS,
        at: datetime | None = None,
    ) -> None:
        """Revoke a card's certificates; CRLs are rewritten, OCSP answers revoked."""
        card_id = card if isinstance(card, str) else card.card_id
        at = at or datetime.now(UTC)
        serials = self._state["cards"][card_id]["serials"]
        for kind in which:
            serial = serials.get(FILE[kind])
            if serial is None:
                continue
            self._state["revoked"][FILE[kind]][serial] = {
                "reason": reason.value,
                "at": at.isoformat(),
            }
        self._save()
        self.write_crls()

    def renew(self, card: TestCard | str, *, now: datetime | None = None) -> TestCard:
        """Renew a card: new keys and serials; old certificates revoked (superseded)
        and linked old → new in ``serial_linkage()``."""
        old_id = card if isinstance(card, str) else card.card_id
        now = now or datetime.now(UTC)
        record = self._state["cards"][old_id]
        generation = int(record.get("generation", 1)) + 1
        base = record.get("base_id", old_id)
        new = self.issue_card(
            TestResident.from_json(record["resident"]),
            card_id=f"{base}-r{generation}",
            pin=record["pin"],
            signing_password=record["signing_password"] or "TESTPASS1",
            now=now,
        )
        new_record = self._state["cards"][new.card_id]
        new_record["generation"] = generation
        new_record["base_id"] = base
        for kind in KINDS:
            old_serial = record["serials"].get(FILE[kind])
            new_serial = new_record["serials"].get(FILE[kind])
            if old_serial and new_serial:
                self._state["linkage"].append(
                    {"kind": FILE[kind], "old": old_serial, "new": new_serial}
                )
        self._save()
        self.revoke(old_id, reason=x509.ReasonFlags.superseded, at=now)
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

    # CRLs (OCSP: ``OcspResponder``) ---------------------------------------------------

    def crl(
        self,
        kind: CertKind,
        *,
        now: datetime | None = None,
        next_update: timedelta | None = timedelta(days=1),
        number: int | None = None,
        delta_of: int | None = None,
        entries: Mapping[int, x509.ReasonFlags] | None = None,
        scope: x509.IssuingDistributionPoint | None = None,
        extensions: Iterable[tuple[x509.ExtensionType, bool]] = (),
        sha1: bool = False,
    ) -> bytes:
        """A DER CRL of ``kind``'s root as of ``now``: the CA's revocations, numbered by time.

        The rest makes the CRLs a checker must refuse or combine: ``next_update=None`` (none),
        ``delta_of`` (a delta CRL on top of complete CRL number ``delta_of``), ``entries`` (exactly
        these serials and reasons instead of the CA's records), ``scope`` (an
        IssuingDistributionPoint, critical as RFC 5280 wants), ``extensions`` (more, with their
        criticality) and ``sha1`` (signed with SHA-1).
        """
        now = now or datetime.now(UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self._roots[kind].subject)
            .last_update(now)
            .add_extension(x509.CRLNumber(number if number is not None else int(now.timestamp() * 1000)),
                           critical=False)
        )
        builder = builder.next_update(now + (next_update or timedelta(days=1)))
        if delta_of is not None:
            builder = builder.add_extension(x509.DeltaCRLIndicator(delta_of), critical=True)
        if scope is not None:
            builder = builder.add_extension(scope, critical=True)
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        if entries is None:
            records = self._state["revoked"][FILE[kind]].items()
            listed = {int(serial, 16): (x509.ReasonFlags(info["reason"]), datetime.fromisoformat(info["at"]))
                      for serial, info in records}
        else:
            listed = {serial: (reason, now) for serial, reason in entries.items()}
        for serial, (reason, revoked_at) in listed.items():
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(revoked_at)
                .add_extension(x509.CRLReason(reason), critical=False)
                .build()
            )
        key = self._root_keys[kind]
        crl = builder.sign(key, hashes.SHA256())
        if next_update is None:
            crl = x509.load_der_x509_crl(without_next_update(crl, key))
        der = crl.public_bytes(serialization.Encoding.DER)
        return sha1_resigned(der, crl.tbs_certlist_bytes, crl.signature, key) if sha1 else der

    def write_crls(self, *, now: datetime | None = None) -> list[Path]:
        paths = []
        for kind in KINDS:
            write_atomic(self.crl_path(kind), self.crl(kind, now=now))
            paths.append(self.crl_path(kind))
        return paths

    # internals ----------------------------------------------------------------------

    def _issuer(self, kind: CertKind) -> Issuer:
        return Issuer(self._roots[kind], self._root_keys[kind], self.label, self.crl_url(kind), self.ocsp_url(kind))

    def _save(self) -> None:
        data = json.dumps(self._state, ensure_ascii=False, indent=1, sort_keys=True)
        write_atomic(self.directory / "ca.json", data.encode("utf-8"))


def _key_cache(key_cache: RsaKeyCache | str | Path | None, directory: Path) -> RsaKeyCache:
    if isinstance(key_cache, RsaKeyCache):
        return key_cache
    return RsaKeyCache(key_cache if key_cache is not None else directory / "keys")
