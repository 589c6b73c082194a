"""Revocation reaches the chain: every linked card re-checked against fresh CRLs.

A card revoked after it was linked (lost, stolen, the holder's death) would otherwise stay verified on
chain until its attestation expires — up to a year. The sweep (a worker, at least daily) reads the
configured CRLs, keeps only those signed by a pinned J-LIS root, and matches their entries against the
linked cards the way the database knows them: ``HMAC(pepper, issuer ‖ serial)`` (``CardSerial``). No
serial is stored or logged; the CRL's serials are hashed in memory and compared. A live identity whose
card was revoked is revoked on chain (``RevokeReason.CARD_REVOKED``; the chain learns no reason).

Not revoked by the sweep: a certificate on hold (``certificateHold`` is temporary), and a certificate the
J-LIS renewal linkage says was renewed (the holder has a new card of the same subject).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from sqlalchemy import select

from procedures.identity.certs import CertRef, SerialLinkage, TrustAnchors
from procedures.identity.models import CardSerial, IdentityStatus, RevokeReason, WalletIdentity
from procedures.identity.service import IdentityService
from procedures.identity.subjects import SubjectDirectory
from procedures.identity.trust import test_ca_dir
from procedures.runtime import Runtime
from procedures.sweeps import run_every

__all__ = ["CRL_SWEEP_ACTOR", "SweepResult", "crl_sweep", "crl_worker", "revoked_refs"]

log = logging.getLogger("machi.identity.crl")

#: Who the audit trail names for a revocation the sweep made.
CRL_SWEEP_ACTOR = "crl-sweep"
_NOT_FINAL = (x509.ReasonFlags.certificate_hold, x509.ReasonFlags.remove_from_crl)


@dataclass
class SweepResult:
    """What one sweep did: CRLs read, entries seen, wallets revoked, CRLs refused (unsigned, unknown issuer)."""

    crls: int = 0
    entries: int = 0
    revoked: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def _load(path: Path) -> x509.CertificateRevocationList:
    data = path.read_bytes()
    return x509.load_pem_x509_crl(data) if data.lstrip().startswith(b"-----") else x509.load_der_x509_crl(data)


def _signed_by_a_root(crl: x509.CertificateRevocationList, anchors: TrustAnchors) -> bool:
    for root in (*anchors.auth, *anchors.signing):
        if root.subject == crl.issuer:
            try:
                if crl.is_signature_valid(root.public_key()):  # type: ignore[arg-type]
                    return True
            except (TypeError, ValueError):
                continue
    return False


def revoked_refs(paths: list[Path], anchors: TrustAnchors, result: SweepResult) -> list[CertRef]:
    """The certificates the CRLs at ``paths`` revoke for good, from CRLs a pinned root signed."""
    refs = []
    for path in paths:
        try:
            crl = _load(path)
        except (OSError, ValueError):
            log.warning("CRL sweep: cannot read %s", path.name)
            result.refused.append(path.name)
            continue
        if not _signed_by_a_root(crl, anchors):
            log.warning("CRL sweep: %s is not signed by a pinned root; ignored", path.name)
            result.refused.append(path.name)
            continue
        result.crls += 1
        issuer = crl.issuer.public_bytes()
        for entry in crl:
            result.entries += 1
            try:
                reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
            except x509.ExtensionNotFound:
                reason = None
            if reason not in _NOT_FINAL:
                refs.append(CertRef(issuer, entry.serial_number))
    return refs


def crl_sweep(runtime: Runtime, service: IdentityService | None = None) -> SweepResult:
    """Revoke (on chain, through the outbox) every live identity whose linked card a fresh CRL revokes.

    Args:
        service: the ``IdentityService`` to revoke through (the app's own); built on ``runtime`` if omitted.
    """
    result = SweepResult()
    settings = runtime.settings
    if not settings.jpki_crl_paths and not settings.jpki_auth_anchors and not test_ca_dir(settings).exists():
        return result  # nothing linked can exist yet: no J-LIS configuration and no TEST CA
    identity = service or IdentityService(runtime)
    trust = identity.trust
    paths = _crl_paths(runtime, trust.test_ca)
    anchors = trust.verifier.anchors
    refs = revoked_refs(paths, anchors, result)
    if not refs:
        return result
    directory: SubjectDirectory = identity.subjects
    renewals: SerialLinkage = trust.renewals
    with runtime.sessions() as session:
        linked: dict[str, str] = dict(session.execute(
            select(CardSerial.serial_hash, CardSerial.subject_id)
            .join(WalletIdentity, WalletIdentity.subject_id == CardSerial.subject_id)
            .where(WalletIdentity.status == IdentityStatus.LINKED)).all())
    subjects = set()
    for ref in refs:
        subject_id = linked.get(directory.serial_hash(ref))
        if subject_id is not None and renewals.successor(ref) is None:
            subjects.add(subject_id)
    for subject_id in sorted(subjects):
        with runtime.sessions() as session, session.begin():
            row = identity.records.live_for_subject(session, subject_id)
            if row is None:
                continue
            identity.revoke(session, row.wallet, RevokeReason.CARD_REVOKED, actor=CRL_SWEEP_ACTOR)
            result.revoked.append(row.wallet)
    if result.revoked:
        log.warning("CRL sweep: %d wallet(s) revoked because their card was revoked", len(result.revoked))
    return result


def _crl_paths(runtime: Runtime, test_ca: Path | None) -> list[Path]:
    paths = list(runtime.settings.jpki_crl_paths)
    if not paths and test_ca is not None:
        paths = sorted((test_ca / "crl").glob("*.crl"))
    return paths


#: The first sweep runs this long after start-up (or after one interval, if shorter).
FIRST_SWEEP_AFTER = 300.0


def crl_worker(runtime: Runtime, stop: threading.Event) -> None:
    """Worker: the CRL sweep every ``identity_crl_sweep_interval`` seconds (a day at most), the first one
    shortly after start-up."""
    run_every(runtime, stop, lambda r: r.settings.identity_crl_sweep_interval, lambda: crl_sweep(runtime),
              "CRL sweep", first_after=min(runtime.settings.identity_crl_sweep_interval, FIRST_SWEEP_AFTER))
