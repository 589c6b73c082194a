"""What the service trusts for card linking, built from settings: pinned J-LIS roots, revocation,
and the J-LIS renewal linkage.

Production configures the real J-LIS anchors and CRLs (``MACHI_JPKI_*``).  In development and
test, when no anchors are configured, the service opens — or creates — a TEST CA under
``var/jpki-test-ca`` (``procedures.identity.testca``: clearly marked TEST, never J-LIS) so the demo
works end to end; ``machi test-ca issue`` makes software cards from it.  Production without
anchors refuses to link anyone.  The TEST CA is imported only on that development path, never
at module level: a production service does not load it at all.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509

from procedures.config import Settings
from procedures.errors import Unavailable
from procedures.identity.certs import CertKind, CertRef, InMemorySerialLinkage, SerialLinkage, TrustAnchors
from procedures.identity.jpki import JpkiVerifier
from procedures.identity.ocsp import OcspRevocationChecker, httpx_ocsp_transport
from procedures.identity.revocation import CrlRevocationChecker, FirstAvailableRevocationChecker, RevocationChecker

__all__ = ["IdentityTrust", "JlisLinkageFile", "build_trust", "test_ca_dir"]

log = logging.getLogger("machi.identity")

_KIND_NAMES = {"auth": CertKind.AUTH, "signing": CertKind.SIGNING}
#: Rewrite the TEST CA's CRLs once they are this old (they are valid for a day).
_TEST_CRL_REFRESH = timedelta(hours=12)


@dataclass(frozen=True)
class IdentityTrust:
    """Everything card verification needs.

    Attributes:
        verifier: checks certificates and card signatures against the pinned roots.
        renewals: the J-LIS renewal linkage (old certificate → new one after a renewal).
        test_ca: the TEST CA directory when the service runs on it (development/test), else ``None``.
    """

    verifier: JpkiVerifier
    renewals: SerialLinkage
    test_ca: Path | None = None


class JlisLinkageFile:
    """``SerialLinkage`` over a JSON file of J-LIS renewal records, re-read when it changes.

    The file holds ``{"linkage": [{"kind": "auth" | "signing", "old": "<hex serial>",
    "new": "<hex serial>", "issuer": "<hex DER issuer Name>" (optional)}, …]}`` — the shape the
    TEST CA keeps in its ``ca.json``.  Without ``issuer``, a record applies under every pinned
    root of its kind.  A missing or unreadable file is an empty linkage (renewed cards then get
    a new subject until the records arrive; they never get someone else's).
    """

    def __init__(self, path: str | Path, anchors: TrustAnchors) -> None:
        self.path = Path(path)
        self._issuers = {
            kind: [root.subject for root in anchors.for_kind(kind)] for kind in (CertKind.AUTH, CertKind.SIGNING)
        }
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._linkage = InMemorySerialLinkage()

    def successor(self, ref: CertRef) -> CertRef | None:
        return self._current().successor(ref)

    def predecessor(self, ref: CertRef) -> CertRef | None:
        return self._current().predecessor(ref)

    def _current(self) -> InMemorySerialLinkage:
        try:
            st = os.stat(self.path)
            stamp: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp:
            return self._linkage
        with self._lock:
            linkage = InMemorySerialLinkage()
            if stamp is not None:
                try:
                    records = json.loads(self.path.read_text(encoding="utf-8")).get("linkage", [])
                    for record in records:
                        self._add(linkage, record)
                except (OSError, ValueError, KeyError, TypeError, AttributeError):
                    log.warning("ignoring unreadable J-LIS linkage file %s", self.path)
                    linkage = InMemorySerialLinkage()
            self._linkage, self._stamp = linkage, stamp
        return linkage

    def _add(self, linkage: InMemorySerialLinkage, record: dict[str, Any]) -> None:
        kind = _KIND_NAMES[record["kind"]]
        if record.get("issuer"):
            issuers = [bytes.fromhex(record["issuer"])]
        else:
            issuers = [name.public_bytes() for name in self._issuers[kind]]
        old, new = int(record["old"], 16), int(record["new"], 16)
        for issuer_der in issuers:
            linkage.add(CertRef(issuer_der, old), CertRef(issuer_der, new))


def test_ca_dir(settings: Settings) -> Path:
    """Where the development TEST CA lives (``MACHI_JPKI_TEST_CA_DIR`` or ``var/jpki-test-ca``)."""
    return settings.jpki_test_ca_dir or settings.var_dir / "jpki-test-ca"


class _FreshTestCrls:
    """Keeps the TEST CA's one-day CRLs current for a long-running development server."""

    def __init__(self, directory: Path, inner: RevocationChecker) -> None:
        self._directory = directory
        self._inner = inner
        self._lock = threading.Lock()

    def check(self, cert: x509.Certificate, issuer: x509.Certificate, now: datetime) -> None:
        crl = self._directory / "crl" / "auth.crl"
        try:
            age = now - datetime.fromtimestamp(crl.stat().st_mtime, UTC)
        except FileNotFoundError:
            age = _TEST_CRL_REFRESH
        if age >= _TEST_CRL_REFRESH:
            from procedures.identity.testca import TestCA  # development only (see the module docstring)

            with self._lock:
                TestCA.load(self._directory).write_crls()
        self._inner.check(cert, issuer, now)


def _revocation(settings: Settings, crl_paths: list[Path]) -> RevocationChecker:
    crls = CrlRevocationChecker(paths=crl_paths)
    if not settings.jpki_ocsp:
        return crls
    # The CRLs also answer for a delegated OCSP responder's own certificate (when it lacks nocheck).
    ocsp = OcspRevocationChecker(httpx_ocsp_transport(), nonce=settings.jpki_ocsp_nonce, responder_revocation=crls)
    return FirstAvailableRevocationChecker(ocsp, crls)


def build_trust(settings: Settings) -> IdentityTrust:
    """Build the verifier and the renewal linkage from settings.

    Raises:
        Unavailable: production without configured J-LIS anchors (503 ``identity_not_configured``; the
            J-LIS renewal linkage, MACHI_JPKI_LINKAGE_PATH, the settings themselves require there).
        ValueError: a configured city address prefix is unusable.
    """
    prefixes = settings.city_address_prefixes
    if settings.jpki_auth_anchors:
        anchors = TrustAnchors.from_files(auth=settings.jpki_auth_anchors, signing=settings.jpki_signing_anchors)
        renewals: SerialLinkage = (
            JlisLinkageFile(settings.jpki_linkage_path, anchors)
            if settings.jpki_linkage_path
            else InMemorySerialLinkage()
        )
        verifier = JpkiVerifier(anchors, _revocation(settings, list(settings.jpki_crl_paths)), prefixes)
        return IdentityTrust(verifier=verifier, renewals=renewals)
    if settings.environment == "production":
        raise Unavailable(
            "My Number card linking is not configured: set MACHI_JPKI_AUTH_ANCHORS, MACHI_JPKI_SIGNING_ANCHORS "
            "and MACHI_JPKI_CRL_PATHS to the J-LIS certificates",
            code="identity_not_configured",
        )
    from procedures.identity.testca import TestCA  # development only: never loaded in production

    directory = test_ca_dir(settings)
    ca = TestCA.open(directory)
    log.warning("card linking trusts the TEST CA in %s (NOT J-LIS; development and tests only)", directory)
    anchors = ca.trust_anchors()
    crl_paths = [ca.crl_path(CertKind.AUTH), ca.crl_path(CertKind.SIGNING)]
    revocation = _FreshTestCrls(directory, _revocation(settings, crl_paths))
    verifier = JpkiVerifier(anchors, revocation, prefixes)
    return IdentityTrust(verifier=verifier, renewals=JlisLinkageFile(directory / "ca.json", anchors), test_ca=directory)
