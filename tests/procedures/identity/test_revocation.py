"""Revocation: CRL files and OCSP (answered in-process by the TEST CA's responder), with one test per
refusal RFC 5280 §6.3 and RFC 6960 ask for."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from procedures.identity.certs import CertKind
from procedures.identity.errors import CertificateRevoked, RevocationUnavailable
from procedures.identity.ocsp import OcspRevocationChecker
from procedures.identity.revocation import CrlRevocationChecker, FirstAvailableRevocationChecker
from procedures.identity.testca import AUTH_PROFILE, OcspAnswer, TestCA

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
    delegated = OcspAnswer(delegated=True)
    OcspRevocationChecker(id_ca.ocsp_transport(answer=delegated)).check(card.auth_cert, id_ca.auth_root, now())
    id_ca.revoke(card)
    with pytest.raises(CertificateRevoked):
        OcspRevocationChecker(id_ca.ocsp_transport(answer=delegated)).check(card.auth_cert, id_ca.auth_root, now())


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


# --- RFC 6960 in detail: nonces, algorithms, who may answer, freshness ---------------------


def test_ocsp_response_without_the_nonce_is_refused(id_ca):
    card = id_ca.issue_card(MINOR)
    checker = OcspRevocationChecker(id_ca.ocsp_transport(answer=OcspAnswer(echo_nonce=False)))
    with pytest.raises(RevocationUnavailable, match="does not echo the nonce"):
        checker.check(card.auth_cert, id_ca.auth_root, now())


def test_ocsp_nonce_off_sends_none_and_accepts_a_response_without_one(id_ca):
    """For a responder that pre-produces its answers (RFC 5019): no nonce sent, none required."""
    card = id_ca.issue_card(MINOR)
    transport = id_ca.ocsp_transport(answer=OcspAnswer(echo_nonce=False))
    OcspRevocationChecker(transport, nonce=False).check(card.auth_cert, id_ca.auth_root, now())
    request = ocsp.load_der_ocsp_request(transport.requests[0][1])
    with pytest.raises(x509.ExtensionNotFound):
        request.extensions.get_extension_for_class(x509.OCSPNonce)


def test_ocsp_response_signed_with_sha1_is_refused(id_ca):
    card = id_ca.issue_card(MINOR)
    sha1 = id_ca.ocsp_transport(answer=OcspAnswer(sha1=True))
    assert ocsp.load_der_ocsp_response(sha1("", OcspRevocationChecker(sha1).build_request(
        card.auth_cert, id_ca.auth_root)[0])).signature_hash_algorithm.name == "sha1"
    with pytest.raises(RevocationUnavailable, match="signed with SHA-1"):
        OcspRevocationChecker(sha1).check(card.auth_cert, id_ca.auth_root, now())


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        (OcspAnswer(delegated=True, responder_ekus=(ExtendedKeyUsageOID.CLIENT_AUTH,)), "lacks id-kp-OCSPSigning"),
        (OcspAnswer(delegated=True, responder_ekus=()), "lacks id-kp-OCSPSigning"),
        (OcspAnswer(delegated=True, responder_valid=(timedelta(days=-30), timedelta(days=-1))), "not valid now"),
        (OcspAnswer(delegated=True, responder_sha1=True), "responder certificate is signed with SHA-1"),
        (OcspAnswer(delegated=True, responder_nocheck=False), "no id-pkix-ocsp-nocheck"),
    ],
    ids=["other-eku", "no-eku", "expired", "responder-sha1", "no-nocheck-and-no-way-to-check"],
)
def test_ocsp_delegated_responder_the_ca_did_not_authorize_is_refused(id_ca, answer, match):
    card = id_ca.issue_card(MINOR)
    with pytest.raises(RevocationUnavailable, match=match):
        OcspRevocationChecker(id_ca.ocsp_transport(answer=answer)).check(card.auth_cert, id_ca.auth_root, now())


def test_ocsp_delegated_responder_of_another_ca_is_refused(id_ca, tmp_path_factory, id_keys):
    impostor = TestCA.create(tmp_path_factory.mktemp("ocsp-imp3"), key_namespace="ocsp-imp3", key_cache=id_keys)
    card = id_ca.issue_card(MINOR)
    # The impostor's responder (OCSPSigning, nocheck, valid) answers "good" about our card.
    transport = impostor.ocsp_transport(answer=OcspAnswer(delegated=True), as_kind=CertKind.AUTH)
    with pytest.raises(RevocationUnavailable, match="not issued by the certificate's CA"):
        OcspRevocationChecker(transport).check(card.auth_cert, id_ca.auth_root, now())


def test_ocsp_delegated_responder_without_nocheck_is_checked_against_the_crl(id_ca):
    card = id_ca.issue_card(MINOR)
    answer = OcspAnswer(delegated=True, responder_nocheck=False)

    def answered(revoked_responder: bool) -> None:
        checker = OcspRevocationChecker(id_ca.ocsp_transport(answer=answer))
        request, nonce = checker.build_request(card.auth_cert, id_ca.auth_root)
        response = id_ca.ocsp_response(request, answer=answer)
        responder = ocsp.load_der_ocsp_response(response).certificates[0]
        entries = {responder.serial_number: x509.ReasonFlags.key_compromise} if revoked_responder else {}
        crls = CrlRevocationChecker([id_ca.crl(CertKind.AUTH, entries=entries)])
        OcspRevocationChecker(checker._transport, responder_revocation=crls).verify_response(
            response, card.auth_cert, id_ca.auth_root, now(), nonce=nonce)

    answered(revoked_responder=False)  # the CRL vouches for the responder: its answer counts
    with pytest.raises(RevocationUnavailable, match="responder certificate is revoked"):
        answered(revoked_responder=True)


def test_ocsp_response_from_the_future_is_refused(id_ca):
    card = id_ca.issue_card(MINOR)
    ahead = id_ca.ocsp_transport(now=now() + timedelta(hours=1))
    with pytest.raises(RevocationUnavailable, match="dated in the future"):
        OcspRevocationChecker(ahead).check(card.auth_cert, id_ca.auth_root, now())


def test_ocsp_response_without_next_update_must_be_recent(id_ca):
    card = id_ca.issue_card(MINOR)
    OcspRevocationChecker(id_ca.ocsp_transport(answer=OcspAnswer(next_update=None))).check(
        card.auth_cert, id_ca.auth_root, now())
    old = id_ca.ocsp_transport(now=now() - timedelta(hours=2), answer=OcspAnswer(next_update=None))
    with pytest.raises(RevocationUnavailable, match="too old"):
        OcspRevocationChecker(old).check(card.auth_cert, id_ca.auth_root, now())


# --- RFC 5280 in detail: scope (IssuingDistributionPoint), deltas, signatures -------------


def _scope(**kwargs: object) -> x509.IssuingDistributionPoint:
    fields: dict[str, object] = {"full_name": None, "relative_name": None, "only_contains_user_certs": False,
                                 "only_contains_ca_certs": False, "only_some_reasons": None, "indirect_crl": False,
                                 "only_contains_attribute_certs": False}
    return x509.IssuingDistributionPoint(**{**fields, **kwargs})  # type: ignore[arg-type]


def test_crl_scoped_to_the_certificates_distribution_point_and_end_entities_is_used(id_ca):
    """The positive control for the refusals below: a CRL whose scope covers the card decides."""
    card = id_ca.issue_card(MINOR)
    scope = _scope(full_name=[x509.UniformResourceIdentifier(id_ca.crl_url(CertKind.AUTH))],
                   only_contains_user_certs=True)
    CrlRevocationChecker([id_ca.crl(CertKind.AUTH, scope=scope)]).check(card.auth_cert, id_ca.auth_root, now())
    id_ca.revoke(card)
    with pytest.raises(CertificateRevoked):
        CrlRevocationChecker([id_ca.crl(CertKind.AUTH, scope=scope)]).check(card.auth_cert, id_ca.auth_root, now())


@pytest.mark.parametrize(
    ("scope", "match"),
    [
        (_scope(only_some_reasons=frozenset({x509.ReasonFlags.key_compromise})), "only some revocation reasons"),
        (_scope(only_contains_ca_certs=True), "only CA certificates"),
        (_scope(indirect_crl=True), "indirect CRLs are not supported"),
        (_scope(only_contains_attribute_certs=True), "only attribute certificates"),
        (_scope(full_name=[x509.UniformResourceIdentifier("http://crl.example.test/partition-7.crl")]),
         "another|does not name"),
    ],
    ids=["only-some-reasons", "only-ca-certs", "indirect", "only-attribute-certs", "other-distribution-point"],
)
def test_crl_whose_scope_does_not_cover_the_card_is_refused(id_ca, scope, match):
    card = id_ca.issue_card(MINOR)
    id_ca.revoke(card)  # whatever such a CRL says, it must not be read as the card's status
    fresh = id_ca.issue_card(MINOR)
    for cert in (card.auth_cert, fresh.auth_cert):
        with pytest.raises(RevocationUnavailable, match=match):
            CrlRevocationChecker([id_ca.crl(CertKind.AUTH, scope=scope)]).check(cert, id_ca.auth_root, now())


def test_crl_of_end_entities_does_not_cover_a_ca_certificate(id_ca):
    sub_ca = id_ca.issue_card(MINOR, auth_profile=replace(AUTH_PROFILE, ca=True))
    checker = CrlRevocationChecker([id_ca.crl(CertKind.AUTH, scope=_scope(only_contains_user_certs=True))])
    with pytest.raises(RevocationUnavailable, match="only end-entity certificates"):
        checker.check(sub_ca.auth_cert, id_ca.auth_root, now())


def test_delta_crl_alone_is_never_used_as_a_complete_crl(id_ca):
    card = id_ca.issue_card(MINOR)
    delta = id_ca.crl(CertKind.AUTH, number=11, delta_of=10, entries={})
    with pytest.raises(RevocationUnavailable, match="delta CRL is never used"):
        CrlRevocationChecker([delta]).check(card.auth_cert, id_ca.auth_root, now())


def test_delta_crl_applies_on_top_of_the_complete_crl_it_extends(id_ca):
    card = id_ca.issue_card(MINOR)
    complete = id_ca.crl(CertKind.AUTH, number=20, now=now() - timedelta(minutes=30), entries={})
    revoking = id_ca.crl(CertKind.AUTH, number=21, delta_of=20, entries={card.auth_cert.serial_number:
                                                                         x509.ReasonFlags.key_compromise})
    with pytest.raises(CertificateRevoked) as exc:
        CrlRevocationChecker([complete, revoking]).check(card.auth_cert, id_ca.auth_root, now())
    assert exc.value.reason == "key_compromise"
    # A delta built on a newer complete CRL than the one we have says nothing about ours.
    too_new = id_ca.crl(CertKind.AUTH, number=31, delta_of=30, entries={card.auth_cert.serial_number:
                                                                        x509.ReasonFlags.key_compromise})
    CrlRevocationChecker([complete, too_new]).check(card.auth_cert, id_ca.auth_root, now())


def test_delta_crl_remove_from_crl_releases_a_hold(id_ca):
    card = id_ca.issue_card(MINOR)
    serial = card.auth_cert.serial_number
    held = id_ca.crl(CertKind.AUTH, number=40, now=now() - timedelta(minutes=30),
                     entries={serial: x509.ReasonFlags.certificate_hold})
    with pytest.raises(CertificateRevoked, match="certificate_hold"):
        CrlRevocationChecker([held]).check(card.auth_cert, id_ca.auth_root, now())
    released = id_ca.crl(CertKind.AUTH, number=41, delta_of=40, entries={serial: x509.ReasonFlags.remove_from_crl})
    CrlRevocationChecker([held, released]).check(card.auth_cert, id_ca.auth_root, now())


def test_complete_crl_with_remove_from_crl_entries_is_refused(id_ca):
    card = id_ca.issue_card(MINOR)
    crl = id_ca.crl(CertKind.AUTH, entries={card.auth_cert.serial_number: x509.ReasonFlags.remove_from_crl})
    with pytest.raises(RevocationUnavailable, match="only delta CRLs may"):
        CrlRevocationChecker([crl]).check(card.auth_cert, id_ca.auth_root, now())


def test_crl_signed_with_sha1_is_refused(id_ca):
    card = id_ca.issue_card(MINOR)
    crl = id_ca.crl(CertKind.AUTH, sha1=True)
    parsed = x509.load_der_x509_crl(crl)  # genuine, only SHA-1 (which cryptography itself no longer verifies)
    id_ca.auth_root.public_key().verify(parsed.signature, parsed.tbs_certlist_bytes, PKCS1v15(), SHA1())  # noqa: S303
    with pytest.raises(RevocationUnavailable, match="signed with SHA-1"):
        CrlRevocationChecker([crl]).check(card.auth_cert, id_ca.auth_root, now())


def test_crl_without_next_update_is_refused(id_ca):
    card = id_ca.issue_card(MINOR)
    with pytest.raises(RevocationUnavailable, match="no nextUpdate"):
        CrlRevocationChecker([id_ca.crl(CertKind.AUTH, next_update=None)]).check(
            card.auth_cert, id_ca.auth_root, now())


def test_crl_with_a_critical_extension_we_cannot_process_is_refused(id_ca):
    card = id_ca.issue_card(MINOR)
    unknown = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
    crl = id_ca.crl(CertKind.AUTH, extensions=[(unknown, True)])
    with pytest.raises(RevocationUnavailable, match="critical extension"):
        CrlRevocationChecker([crl]).check(card.auth_cert, id_ca.auth_root, now())
    # The same extension, not critical, may be ignored.
    CrlRevocationChecker([id_ca.crl(CertKind.AUTH, extensions=[(unknown, False)])]).check(
        card.auth_cert, id_ca.auth_root, now())


def test_crl_of_an_issuer_whose_certificate_may_not_sign_crls_is_refused(id_ca):
    card = id_ca.issue_card(MINOR)
    no_crl_sign = id_ca.reissued_root(CertKind.AUTH, key_usage=frozenset({"key_cert_sign"}))
    with pytest.raises(RevocationUnavailable, match="cRLSign"):
        CrlRevocationChecker([id_ca.crl(CertKind.AUTH)]).check(card.auth_cert, no_crl_sign, now())
