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

Test and development tooling only: the production trust path never imports this package
(``procedures.identity.trust`` loads it when no J-LIS anchors are configured outside production,
``machi test-ca`` when asked). Rooms: ``cards`` (residents, keys, software cards),
``certificates`` (roots and card certificates by profile), ``authority`` (``TestCA``), ``ocsp``
(its responder).

RSA-2048 key generation is the slow part, so the CA's own keys (roots, OCSP responders) come
from an ``RsaKeyCache`` directory (labels → PEM files).  Point several CAs, or several test
sessions, at the same cache and keys are generated once.  Those keys are stored unencrypted:
TEST ONLY.  Card keys are never stored by the CA: they live in the software card's PKCS#12
files (encrypted under the PIN and the signing password), like a real card's in its chip.

State (certificates, revocations, linkage) lives under the CA directory, so
``TestCA.load(dir)`` resumes where ``TestCA.create(dir)`` left off.
"""

from procedures.identity.testca.authority import TestCA
from procedures.identity.testca.cards import RsaKeyCache, Sex, TestCard, TestResident
from procedures.identity.testca.certificates import (
    AUTH_PROFILE,
    POLICY_AUTH,
    POLICY_SIGNING,
    SIGNING_PROFILE,
    CertProfile,
    era_birth_date,
)
from procedures.identity.testca.ocsp import OcspAnswer

__all__ = [
    "AUTH_PROFILE",
    "POLICY_AUTH",
    "POLICY_SIGNING",
    "SIGNING_PROFILE",
    "CertProfile",
    "OcspAnswer",
    "RsaKeyCache",
    "Sex",
    "TestCA",
    "TestCard",
    "TestResident",
    "era_birth_date",
]
