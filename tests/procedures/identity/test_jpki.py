"""JpkiVerifier: chain of trust, profile checks, card signatures, assurance levels."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from procedures.identity.certs import AssuranceLevel, CertKind, CertRef, TrustAnchors
from procedures.identity.der import der_read
from procedures.identity.errors import (
    BadCardSignature,
    CertificateExpired,
    CertificateNotYetValid,
    IdentityError,
    MalformedCertificate,
    UnknownRoot,
    WrongKeyUsage,
    WrongPolicy,
)
from procedures.identity.jpki import JpkiVerifier, parse_basic_facts
from procedures.identity.revocation import CrlRevocationChecker
from procedures.identity.testca import (
    AUTH_PROFILE,
    POLICY_AUTH,
    POLICY_SIGNING,
    SIGNING_PROFILE,
    TestCA,
    TestCard,
)

from .conftest import ADULT_KAGA, MINOR, OTHER_CITY, card_signatures, make_statement


def _verify(verifier: JpkiVerifier, card: TestCard, message: bytes, **kw: object) -> object:
    kwargs = card_signatures(card, message)
    kwargs.update(kw)
    return verifier.verify_card(card.auth_cert_der, card.signing_cert_der, **kwargs)  # type: ignore[arg-type]


# --- happy paths ----------------------------------------------------------------------


def test_adult_in_kaga_is_resident_of_city(verifier, kaga_adult, wallet):
    message = make_statement(wallet.address).canonical_bytes()
    result = _verify(verifier, kaga_adult, message)

    assert result.level is AssuranceLevel.RESIDENT_OF_CITY
    assert result.in_city is True
    assert result.auth == CertRef.of(kaga_adult.auth_cert)
    assert result.auth.serial == kaga_adult.auth_cert.serial_number
    assert result.signing == CertRef.of(kaga_adult.signing_cert)
    facts = result.facts
    assert facts.name == ADULT_KAGA.name
    assert facts.address == ADULT_KAGA.address
    assert facts.sex == "2"
    assert facts.birth_date == ADULT_KAGA.birth_date
    assert facts.birth_date_raw == "319850615"  # Showa era digit + Gregorian date
    assert result.not_after == min(
        kaga_adult.auth_cert.not_valid_after_utc, kaga_adult.signing_cert.not_valid_after_utc
    )


def test_adult_from_another_city_stays_card_authenticated(verifier, other_city_adult, wallet):
    message = make_statement(wallet.address).canonical_bytes()
    result = _verify(verifier, other_city_adult, message)

    assert result.level is AssuranceLevel.CARD_AUTHENTICATED
    assert result.in_city is False
    assert "outside the city" in result.note
    assert result.facts.address == OTHER_CITY.address


def test_other_city_becomes_resident_when_that_city_is_configured(make_verifier, other_city_adult, wallet):
    verifier = make_verifier(prefixes=("石川県金沢市",))
    result = _verify(verifier, other_city_adult, make_statement(wallet.address).canonical_bytes())
    assert result.level is AssuranceLevel.RESIDENT_OF_CITY


def test_city_prefix_is_compared_after_nfkc_and_without_spaces(make_verifier, kaga_adult, wallet):
    verifier = make_verifier(prefixes=("石川県　加賀市",))  # full-width space, as typed in a config file
    result = _verify(verifier, kaga_adult, make_statement(wallet.address).canonical_bytes())
    assert result.level is AssuranceLevel.RESIDENT_OF_CITY


def test_city_prefix_must_name_a_whole_municipality(id_ca, crl_checker):
    with pytest.raises(ValueError, match="市/町/村/区"):
        JpkiVerifier(id_ca.trust_anchors(), crl_checker, ["石川県加賀"])


def test_minor_with_auth_only_is_card_authenticated(verifier, minor, wallet):
    assert minor.signing_cert is None
    message = make_statement(wallet.address).canonical_bytes()
    result = verifier.verify_card(minor.auth_cert_der, None, **card_signatures(minor, message))

    assert result.level is AssuranceLevel.CARD_AUTHENTICATED
    assert result.signing is None and result.facts is None and result.in_city is None
    assert result.auth.serial == minor.auth_cert.serial_number


def test_adult_using_only_the_auth_key_is_card_authenticated(verifier, kaga_adult, wallet):
    message = make_statement(wallet.address).canonical_bytes()
    result = verifier.verify_card(
        kaga_adult.auth_cert_der, None, **card_signatures(kaga_adult, message, signing=False)
    )
    assert result.level is AssuranceLevel.CARD_AUTHENTICATED
    assert result.facts is None


def test_issuer_and_serial_is_der_issuer_and_serial_number(kaga_adult):
    ref = CertRef.of(kaga_adult.auth_cert)
    tag, content, end = der_read(ref.issuer_and_serial())
    assert tag == 0x30 and end == len(ref.issuer_and_serial())
    issuer_der = kaga_adult.auth_cert.issuer.public_bytes()
    assert content.startswith(issuer_der)
    int_tag, int_body, _ = der_read(content, len(issuer_der))
    assert int_tag == 0x02
    assert int.from_bytes(int_body, "big", signed=True) == kaga_adult.auth_cert.serial_number
    assert "JPKI TEST" in ref.issuer


# --- privacy of the result --------------------------------------------------------------


def test_repr_and_str_redact_personal_data(verifier, kaga_adult, wallet):
    result = _verify(verifier, kaga_adult, make_statement(wallet.address).canonical_bytes())
    serials = {kaga_adult.auth_cert.serial_number, kaga_adult.signing_cert.serial_number}
    texts = [repr(result), str(result), repr(result.facts), str(result.facts), f"{result.facts}",
             repr(result.auth), repr(result.signing)]
    for text in texts:
        for secret in (ADULT_KAGA.name, ADULT_KAGA.address, "19850615", "加賀"):
            assert secret not in text
        for serial in serials:
            assert str(serial) not in text and format(serial, "x") not in text.lower()


def test_evidence_bundle_carries_the_facts(verifier, kaga_adult, wallet):
    result = _verify(verifier, kaga_adult, make_statement(wallet.address).canonical_bytes())
    evidence = result.evidence()
    assert evidence["level"] == 2
    assert evidence["facts"]["name"] == ADULT_KAGA.name
    assert evidence["facts"]["address"] == ADULT_KAGA.address
    assert evidence["signing"]["serial"] == format(kaga_adult.signing_cert.serial_number, "x")
    assert set(evidence["certificate_sha256"]) == {"auth", "signing"}


# --- chain of trust -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def rogue_ca(tmp_path_factory, id_keys) -> TestCA:
    return TestCA.create(tmp_path_factory.mktemp("rogue"), label="ROGUE TEST", key_cache=id_keys)


def test_card_from_an_untrusted_root_is_unknown_root(verifier, rogue_ca, wallet):
    card = rogue_ca.issue_card(ADULT_KAGA)
    with pytest.raises(UnknownRoot) as exc:
        _verify(verifier, card, make_statement(wallet.address).canonical_bytes())
    assert exc.value.code == "unknown_root"


def test_impostor_with_the_same_issuer_name_is_unknown_root(verifier, id_ca, impostor_ca, wallet):
    card = impostor_ca.issue_card(MINOR)
    assert card.auth_cert.issuer == id_ca.auth_root.subject
    with pytest.raises(UnknownRoot, match="signature does not"):
        verifier.verify_card(card.auth_cert_der, **card_signatures(card, b"m"))


def test_trusted_auth_root_does_not_vouch_for_signing_certificates(make_verifier, id_ca, kaga_adult, wallet):
    # Only the auth root configured: the signing certificate must not be accepted.
    anchors = TrustAnchors(auth=(id_ca.auth_root,), signing=())
    verifier = make_verifier(anchors=anchors)
    with pytest.raises(UnknownRoot) as exc:
        _verify(verifier, kaga_adult, make_statement(wallet.address).canonical_bytes())
    assert "signing certificate" in exc.value.message


def test_signing_certificate_presented_as_auth_certificate_is_rejected(verifier, kaga_adult):
    message = b"statement"
    with pytest.raises(UnknownRoot, match="chains to a signing root"):
        verifier.verify_card(
            kaga_adult.signing_cert_der, message=message, auth_signature=kaga_adult.sign_signing(message)
        )


def test_garbage_is_a_malformed_certificate(verifier):
    with pytest.raises(MalformedCertificate) as exc:
        verifier.verify_card(b"\x30\x03\x02\x01\x01", message=b"m", auth_signature=b"")
    assert exc.value.code == "malformed_certificate"


def test_the_root_itself_is_not_a_card(verifier, id_ca):
    root_der = id_ca.auth_root.public_bytes(Encoding.DER)
    with pytest.raises(WrongKeyUsage, match="CA certificate"):
        verifier.verify_card(root_der, message=b"m", auth_signature=b"")


# --- validity ------------------------------------------------------------------------------


def test_expired_card(verifier, id_ca, wallet):
    now = datetime.now(UTC)
    card = id_ca.issue_card(MINOR, not_before=now - timedelta(days=3650), not_after=now - timedelta(days=1))
    with pytest.raises(CertificateExpired) as exc:
        verifier.verify_card(card.auth_cert_der, **card_signatures(card, b"m"))
    assert exc.value.code == "certificate_expired"
    assert exc.value.not_after == card.auth_cert.not_valid_after_utc
    # the expiry date is a birthday on real cards: never in the (logged) message
    assert str(card.auth_cert.not_valid_after_utc.year) not in str(exc.value)


def test_not_yet_valid_card(verifier, id_ca):
    now = datetime.now(UTC)
    card = id_ca.issue_card(MINOR, not_before=now + timedelta(days=1), not_after=now + timedelta(days=3650))
    with pytest.raises(CertificateNotYetValid) as exc:
        verifier.verify_card(card.auth_cert_der, **card_signatures(card, b"m"))
    assert exc.value.code == "certificate_not_yet_valid"


def test_validity_follows_the_injected_clock(make_verifier, kaga_adult, wallet):
    message = make_statement(wallet.address).canonical_bytes()
    after_expiry = kaga_adult.auth_cert.not_valid_after_utc + timedelta(seconds=1)
    before_issue = kaga_adult.auth_cert.not_valid_before_utc - timedelta(seconds=1)
    with pytest.raises(CertificateExpired):
        _verify(make_verifier(clock=lambda: after_expiry), kaga_adult, message)
    with pytest.raises(CertificateNotYetValid):
        _verify(make_verifier(clock=lambda: before_issue), kaga_adult, message)


# --- profile: key usage, EKU, policy ---------------------------------------------------------


@pytest.mark.parametrize(
    ("auth_profile", "signing_profile", "match"),
    [
        (dataclasses.replace(AUTH_PROFILE, key_usage=frozenset({"key_encipherment"})), SIGNING_PROFILE,
         "digitalSignature"),
        (dataclasses.replace(AUTH_PROFILE, extended_key_usages=()), SIGNING_PROFILE, "extendedKeyUsage"),
        (dataclasses.replace(AUTH_PROFILE, extended_key_usages=(ExtendedKeyUsageOID.CODE_SIGNING,)),
         SIGNING_PROFILE, "client authentication"),
        (dataclasses.replace(AUTH_PROFILE, key_usage=frozenset({"digital_signature", "key_cert_sign"})),
         SIGNING_PROFILE, "certificate/CRL signing"),
        (AUTH_PROFILE, dataclasses.replace(SIGNING_PROFILE, key_usage=frozenset({"digital_signature"})),
         "nonRepudiation"),
    ],
    ids=["auth-no-digitalSignature", "auth-no-eku", "auth-wrong-eku", "auth-keyCertSign",
         "signing-no-nonRepudiation"],
)
def test_wrong_key_usage(verifier, id_ca, wallet, auth_profile, signing_profile, match):
    card = id_ca.issue_card(ADULT_KAGA, auth_profile=auth_profile, signing_profile=signing_profile)
    with pytest.raises(WrongKeyUsage, match=match) as exc:
        _verify(verifier, card, make_statement(wallet.address).canonical_bytes())
    assert exc.value.code == "wrong_key_usage"


@pytest.mark.parametrize(
    ("auth_policies", "signing_policies", "match"),
    [
        ((POLICY_SIGNING,), (POLICY_SIGNING,), "1.2.392.200149.8.5.1.3"),  # signing policy on auth cert
        ((POLICY_AUTH,), (POLICY_AUTH,), "1.2.392.200149.8.5.1.1"),  # auth policy on signing cert
        (("1.2.392.200149.8.5.1",), (POLICY_SIGNING,), "no policy under"),  # the arc itself is not a policy
        (("2.5.29.32.0",), (POLICY_SIGNING,), "no policy under"),  # anyPolicy
        ((), (POLICY_SIGNING,), "no certificatePolicies"),
    ],
    ids=["auth-has-signing-policy", "signing-has-auth-policy", "bare-arc", "any-policy", "none"],
)
def test_wrong_policy(verifier, id_ca, wallet, auth_policies, signing_policies, match):
    card = id_ca.issue_card(
        ADULT_KAGA,
        auth_profile=dataclasses.replace(AUTH_PROFILE, policy_oids=auth_policies),
        signing_profile=dataclasses.replace(SIGNING_PROFILE, policy_oids=signing_policies),
    )
    with pytest.raises(WrongPolicy, match=match) as exc:
        _verify(verifier, card, make_statement(wallet.address).canonical_bytes())
    assert exc.value.code == "wrong_policy"


# --- card signatures over the statement --------------------------------------------------------


@pytest.mark.parametrize(
    "tamper",
    [
        {"wallet": "0x000000000000000000000000000000000000dEaD"},
        {"nonce": b"\x07" * 32},
        {"chain_id": 1},
        {"registry": "0x0000000000000000000000000000000000000001"},
        {"purpose": "recover"},
        {"issued_at": 1_700_000_000},
    ],
    ids=["another-wallet", "another-nonce", "another-chain", "another-registry", "another-purpose",
         "another-time"],
)
def test_card_signature_over_another_statement(verifier, kaga_adult, wallet, tamper):
    signed = make_statement(wallet.address)
    presented = dataclasses.replace(signed, **tamper)
    kwargs = card_signatures(kaga_adult, signed.canonical_bytes())
    kwargs["message"] = presented.canonical_bytes()
    with pytest.raises(BadCardSignature) as exc:
        verifier.verify_card(kaga_adult.auth_cert_der, kaga_adult.signing_cert_der, **kwargs)
    assert exc.value.code == "bad_card_signature"


def test_signing_signature_over_another_statement(verifier, kaga_adult, wallet):
    message = make_statement(wallet.address).canonical_bytes()
    other = make_statement(wallet.address).canonical_bytes()
    with pytest.raises(BadCardSignature, match="signing key"):
        verifier.verify_card(
            kaga_adult.auth_cert_der,
            kaga_adult.signing_cert_der,
            message=message,
            auth_signature=kaga_adult.sign_auth(message),
            signing_signature=kaga_adult.sign_signing(other),
        )


def test_signature_by_another_cards_key(verifier, kaga_adult, other_city_adult, wallet):
    message = make_statement(wallet.address).canonical_bytes()
    with pytest.raises(BadCardSignature):
        verifier.verify_card(
            kaga_adult.auth_cert_der, message=message, auth_signature=other_city_adult.sign_auth(message)
        )


def test_borrowed_signing_certificate_cannot_raise_the_level(verifier, kaga_adult, other_city_adult, wallet):
    # Someone from another city attaches a Kaga resident's (public) signing certificate.
    message = make_statement(wallet.address).canonical_bytes()
    with pytest.raises(BadCardSignature):
        verifier.verify_card(
            other_city_adult.auth_cert_der,
            kaga_adult.signing_cert_der,
            message=message,
            auth_signature=other_city_adult.sign_auth(message),
            signing_signature=other_city_adult.sign_signing(message),
        )
    with pytest.raises(BadCardSignature, match="without its key's signature"):
        verifier.verify_card(
            other_city_adult.auth_cert_der,
            kaga_adult.signing_cert_der,
            message=message,
            auth_signature=other_city_adult.sign_auth(message),
        )


def test_truncated_signature_is_bad_card_signature(verifier, minor):
    sig = minor.sign_auth(b"m")
    with pytest.raises(BadCardSignature, match="length"):
        verifier.verify_card(minor.auth_cert_der, message=b"m", auth_signature=sig[:-1])


# --- basics --------------------------------------------------------------------------------------


def test_every_error_has_a_stable_code_and_a_message():
    codes = {
        cls.code
        for cls in (BadCardSignature, CertificateExpired, CertificateNotYetValid, MalformedCertificate,
                    UnknownRoot, WrongKeyUsage, WrongPolicy)
    }
    assert codes == {"bad_card_signature", "certificate_expired", "certificate_not_yet_valid",
                     "malformed_certificate", "unknown_root", "wrong_key_usage", "wrong_policy"}
    err = WrongPolicy("x", which=CertKind.AUTH)
    assert isinstance(err, IdentityError)
    assert err.to_dict() == {"code": "wrong_policy", "message": err.message}


def test_parse_basic_facts_requires_the_subject_alt_name(kaga_adult):
    # An auth certificate has no subjectAltName at all.
    with pytest.raises(MalformedCertificate, match="subjectAltName"):
        parse_basic_facts(kaga_adult.auth_cert)


def test_all_test_certificates_are_marked_test(id_ca, kaga_adult):
    for cert in (id_ca.auth_root, id_ca.signing_root, kaga_adult.auth_cert, kaga_adult.signing_cert):
        orgs = cert.issuer.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
        assert [a.value for a in orgs] == ["JPKI TEST"]
        cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
        assert "TEST" in cn


def test_anchors_load_from_pem_and_der_files(tmp_path, id_ca):
    auth = tmp_path / "auth.cer"
    auth.write_bytes(id_ca.auth_root.public_bytes(Encoding.DER))
    signing = tmp_path / "signing.pem"
    signing.write_bytes(id_ca.signing_root.public_bytes(Encoding.PEM))
    anchors = TrustAnchors.from_files(auth=[auth], signing=[signing])
    assert anchors.auth == (id_ca.auth_root,) and anchors.signing == (id_ca.signing_root,)


def test_two_signing_roots_key_rollover(make_verifier, id_ca, tmp_path_factory, id_keys, wallet):
    newer = TestCA.create(
        tmp_path_factory.mktemp("rollover"), key_namespace="rollover-2", key_cache=id_keys
    )
    anchors = TrustAnchors(
        auth=(id_ca.auth_root, newer.auth_root), signing=(id_ca.signing_root, newer.signing_root)
    )
    crls = CrlRevocationChecker(paths=[*id_ca.write_crls(), *newer.write_crls()])
    verifier = make_verifier(anchors=anchors, revocation=crls)
    card = newer.issue_card(ADULT_KAGA)
    message = make_statement(wallet.address).canonical_bytes()
    assert _verify(verifier, card, message).level is AssuranceLevel.RESIDENT_OF_CITY

