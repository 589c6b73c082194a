"""Revocation: CRL files and OCSP (answered in-process by the TEST CA's responder)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from procedures.identity.certs import CertKind
from procedures.identity.errors import CertificateRevoked, RevocationUnavailable
from procedures.identity.ocsp import OcspRevocationChecker
from procedures.identity.revocation import CrlRevocationChecker, FirstAvailableRevocationChecker
from procedures.identity.testca import TestCA

from .conftest import ADULT_KAGA, MINOR, card_signatures, make_statement


def now() -> datetime:
    return datetime.now(UTC)


# --- CRL ---------------------------------------------------------------------------------


def test_crl_good_then_revoked_after_the_file_is_rewritten(id_ca, crl_checker):
    card = id_ca.issue_card(MINOR)
    crl_checker.check(card.auth_cert, id_ca.auth_root, now())  # good

    id_ca.revoke(card, reason=x509.ReasonFlags.key_compromise)  # rewrites the CRL files

    with pytest.raises(CertificateRevoked) as exc:
        crl_checker.check(card.auth_cert, id_ca.auth_root, now())
    assert exc.value.code == "certificate_revoked"
    assert exc.value.reason == "key_compromise"


def test_revoked_card_fails_verification_end_to_end(verifier, id_ca, wallet):
    card = id_ca.issue_card(ADULT_KAGA)
    message = make_statement(wallet.address).canonical_bytes()
    verifier.verify_card(card.auth_cert_der, card.signing_cert_der, **card_signatures(card, message))

    id_ca.revoke(card, which=[CertKind.SIGNING], reason=x509.ReasonFlags.affiliation_changed)

    with pytest.raises(CertificateRevoked) as exc:
        verifier.verify_card(card.auth_cert_der, card.signing_cert_der, **card_signatures(card, message))
    assert "signing certificate" in exc.value.message
    assert "affiliation_changed" in exc.value.message
    # The authentication certificate alone is still good.
    verifier.verify_card(card.auth_cert_der, **card_signatures(card, message, signing=False))


def test_stale_crl_fails_closed(id_ca):
    card = id_ca.issue_card(MINOR)
    old = now() - timedelta(days=3)
    checker = CrlRevocationChecker([id_ca.crl(CertKind.AUTH, now=old, next_update=timedelta(days=1))])
    with pytest.raises(RevocationUnavailable, match="stale"):
        checker.check(card.auth_cert, id_ca.auth_root, now())


def test_crl_from_the_future_is_not_used(id_ca):
    card = id_ca.issue_card(MINOR)
    checker = CrlRevocationChecker([id_ca.crl(CertKind.AUTH, now=now() + timedelta(hours=2))])
    with pytest.raises(RevocationUnavailable):
        checker.check(card.auth_cert, id_ca.auth_root, now())


def test_crl_signed_by_an_impostor_is_ignored(id_ca, tmp_path_factory, id_keys):
    impostor = TestCA.create(tmp_path_factory.mktemp("crl-impostor"), key_namespace="crl-impostor",
                             key_cache=id_keys)
    card = id_ca.issue_card(MINOR)
    id_ca.revoke(card)
    # The impostor (same issuer name) publishes an empty CRL: it must not count.
    checker = CrlRevocationChecker([impostor.crl(CertKind.AUTH)])
    with pytest.raises(RevocationUnavailable):
        checker.check(card.auth_cert, id_ca.auth_root, now())
    # With the genuine CRL as well, the genuine one decides.
    checker = CrlRevocationChecker([impostor.crl(CertKind.AUTH), id_ca.crl(CertKind.AUTH)])
    with pytest.raises(CertificateRevoked):
        checker.check(card.auth_cert, id_ca.auth_root, now())


def test_no_crl_for_the_issuer(id_ca):
    card = id_ca.issue_card(MINOR)
    checker = CrlRevocationChecker([id_ca.crl(CertKind.SIGNING)])
    with pytest.raises(RevocationUnavailable, match="no CRL"):
        checker.check(card.auth_cert, id_ca.auth_root, now())


def test_freshest_crl_wins(id_ca):
    card = id_ca.issue_card(MINOR)
    before = id_ca.crl(CertKind.AUTH, now=now() - timedelta(minutes=10))
    id_ca.revoke(card)
    after = id_ca.crl(CertKind.AUTH)
    with pytest.raises(CertificateRevoked):
        CrlRevocationChecker([before, after]).check(card.auth_cert, id_ca.auth_root, now())


def test_pem_crl_and_missing_file(tmp_path, id_ca):
    card = id_ca.issue_card(MINOR)
    pem = x509.load_der_x509_crl(id_ca.crl(CertKind.AUTH)).public_bytes(Encoding.PEM)
    path = tmp_path / "auth.pem"
    checker = CrlRevocationChecker(paths=[path])
    with pytest.raises(RevocationUnavailable):  # file not there yet
        checker.check(card.auth_cert, id_ca.auth_root, now())
    path.write_bytes(pem)
    checker.check(card.auth_cert, id_ca.auth_root, now())  # picked up without a restart


# --- OCSP --------------------------------------------------------------------------------


def test_ocsp_good_uses_the_aia_url_and_a_nonce(id_ca):
    card = id_ca.issue_card(MINOR)
    transport = id_ca.ocsp_transport()
    OcspRevocationChecker(transport).check(card.auth_cert, id_ca.auth_root, now())

    [(url, request_der)] = transport.requests
    assert url == id_ca.ocsp_url(CertKind.AUTH)
    request = ocsp.load_der_ocsp_request(request_der)
    assert request.serial_number == card.auth_cert.serial_number
    assert request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce


def test_ocsp_revoked(id_ca, make_verifier, wallet):
    card = id_ca.issue_card(ADULT_KAGA)
    checker = OcspRevocationChecker(id_ca.ocsp_transport())
    checker.check(card.signing_cert, id_ca.signing_root, now())

    id_ca.revoke(card, reason=x509.ReasonFlags.superseded)

    with pytest.raises(CertificateRevoked) as exc:
        checker.check(card.signing_cert, id_ca.signing_root, now())
    assert exc.value.reason == "superseded"
    verifier = make_verifier(revocation=checker)
    message = make_statement(wallet.address).canonical_bytes()
    with pytest.raises(CertificateRevoked):
        verifier.verify_card(card.auth_cert_der, card.signing_cert_der, **card_signatures(card, message))


def test_ocsp_delegated_responder(id_ca):
    card = id_ca.issue_card(MINOR)
    OcspRevocationChecker(id_ca.ocsp_transport(delegated=True)).check(card.auth_cert, id_ca.auth_root, now())
    id_ca.revoke(card)
    with pytest.raises(CertificateRevoked):
        OcspRevocationChecker(id_ca.ocsp_transport(delegated=True)).check(card.auth_cert, id_ca.auth_root, now())


def test_ocsp_unknown_certificate(id_ca, tmp_path_factory, id_keys):
    impostor = TestCA.create(tmp_path_factory.mktemp("ocsp-impostor"), key_namespace="ocsp-impostor",
                             key_cache=id_keys)
    stranger = impostor.issue_card(MINOR)
    checker = OcspRevocationChecker(id_ca.ocsp_transport())
    # Issuer key hash of another CA: the genuine responder refuses to answer.
    with pytest.raises(RevocationUnavailable, match="UNAUTHORIZED"):
        checker.check(stranger.auth_cert, impostor.auth_root, now())
    # Genuine issuer, but a serial it never issued: status "unknown" is not "good".
    with pytest.raises(RevocationUnavailable, match="does not know"):
        checker.check(stranger.auth_cert, id_ca.auth_root, now())


def _flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x01])


@pytest.mark.parametrize(
    ("mangle", "match"),
    [
        (_flip_last_byte, "signature does not verify"),
        (lambda d: b"not der", "unparseable"),
    ],
    ids=["tampered-signature", "garbage"],
)
def test_ocsp_bad_responses_fail_closed(id_ca, mangle, match):
    card = id_ca.issue_card(MINOR)
    inner = id_ca.ocsp_transport()
    checker = OcspRevocationChecker(lambda url, req: mangle(inner(url, req)))
    with pytest.raises(RevocationUnavailable, match=match):
        checker.check(card.auth_cert, id_ca.auth_root, now())


def test_ocsp_response_signed_by_another_ca_is_rejected(id_ca, tmp_path_factory, id_keys):
    impostor = TestCA.create(tmp_path_factory.mktemp("ocsp-imp2"), key_namespace="ocsp-imp2",
                             key_cache=id_keys)
    card = id_ca.issue_card(MINOR)
    # A man in the middle forwards the question to the impostor (same names, own keys).

    def transport(url: str, req: bytes) -> bytes:
        request = ocsp.OCSPRequestBuilder().add_certificate(
            card.auth_cert, impostor.auth_root, ocsp.load_der_ocsp_request(req).hash_algorithm
        ).build()
        return impostor.ocsp_response(request.public_bytes(Encoding.DER))

    with pytest.raises(RevocationUnavailable, match="not signed by the issuer"):
        OcspRevocationChecker(transport).check(card.auth_cert, id_ca.auth_root, now())


def test_ocsp_replayed_response_with_another_nonce_is_rejected(id_ca):
    card = id_ca.issue_card(MINOR)
    inner = id_ca.ocsp_transport()
    recorded: list[bytes] = []

    def replaying(url: str, req: bytes) -> bytes:
        if not recorded:
            recorded.append(inner(url, req))
        return recorded[0]

    checker = OcspRevocationChecker(replaying)
    checker.check(card.auth_cert, id_ca.auth_root, now())
    with pytest.raises(RevocationUnavailable, match="nonce"):
        checker.check(card.auth_cert, id_ca.auth_root, now())


def test_ocsp_answer_about_another_certificate_is_rejected(id_ca):
    revoked = id_ca.issue_card(MINOR)
    good = id_ca.issue_card(MINOR)
    id_ca.revoke(revoked)

    def swapping(url: str, req: bytes) -> bytes:
        # A man in the middle asks about a good card, keeping our nonce.
        ours = ocsp.load_der_ocsp_request(req)
        nonce = ours.extensions.get_extension_for_class(x509.OCSPNonce).value
        other = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(good.auth_cert, id_ca.auth_root, ours.hash_algorithm)
            .add_extension(nonce, critical=False)
            .build()
        )
        return id_ca.ocsp_response(other.public_bytes(Encoding.DER))

    with pytest.raises(RevocationUnavailable, match="does not cover"):
        OcspRevocationChecker(swapping).check(revoked.auth_cert, id_ca.auth_root, now())


def test_ocsp_stale_response(id_ca):
    card = id_ca.issue_card(MINOR)
    old = id_ca.ocsp_transport(now=now() - timedelta(days=1))
    with pytest.raises(RevocationUnavailable, match="stale"):
        OcspRevocationChecker(old).check(card.auth_cert, id_ca.auth_root, now())


def test_ocsp_transport_failure(id_ca):
    card = id_ca.issue_card(MINOR)

    def down(url: str, req: bytes) -> bytes:
        raise ConnectionError("no route to host")

    with pytest.raises(RevocationUnavailable, match="unreachable") as exc:
        OcspRevocationChecker(down).check(card.auth_cert, id_ca.auth_root, now())
    assert exc.value.code == "revocation_unavailable"
    assert exc.value.status == 503


def test_ocsp_responder_url_override(id_ca):
    card = id_ca.issue_card(MINOR)
    transport = id_ca.ocsp_transport()
    OcspRevocationChecker(transport, responder_url="http://ocsp.example.test/").check(
        card.auth_cert, id_ca.auth_root, now()
    )
    assert transport.requests[0][0] == "http://ocsp.example.test/"


# --- fallback ----------------------------------------------------------------------------


def test_first_available_falls_back_to_crl(id_ca, crl_checker):
    card = id_ca.issue_card(MINOR)

    def down(url: str, req: bytes) -> bytes:
        raise TimeoutError

    checker = FirstAvailableRevocationChecker(OcspRevocationChecker(down), crl_checker)
    checker.check(card.auth_cert, id_ca.auth_root, now())
    id_ca.revoke(card)
    with pytest.raises(CertificateRevoked):
        checker.check(card.auth_cert, id_ca.auth_root, now())
    stale_only = FirstAvailableRevocationChecker(
        OcspRevocationChecker(down),
        CrlRevocationChecker([id_ca.crl(CertKind.AUTH, now=now() - timedelta(days=5))]),
    )
    with pytest.raises(RevocationUnavailable, match="unreachable.*stale"):
        stale_only.check(card.auth_cert, id_ca.auth_root, now())
