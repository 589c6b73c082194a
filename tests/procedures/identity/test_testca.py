"""The TEST CA: profiles, persistence (never of card keys), renewal with serial linkage."""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from chain.toolchain import PROJECT_ROOT
from procedures.identity.certs import (
    OID_ADDRESS,
    OID_BIRTH_DATE,
    OID_NAME,
    OID_SEX,
    AssuranceLevel,
    CertKind,
    CertRef,
    InMemorySerialLinkage,
)
from procedures.identity.der import decode_directory_string
from procedures.identity.errors import CertificateRevoked
from procedures.identity.testca import RsaKeyCache, TestCA, era_birth_date

from .conftest import ADULT_KAGA, MINOR, card_signatures, make_statement


def test_signing_certificate_carries_the_basic_facts_under_the_jlis_oids(kaga_adult):
    san = kaga_adult.signing_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    values = {o.type_id: o.value for o in san.get_values_for_type(x509.OtherName)}
    assert values[OID_NAME][0] == 0x0C and decode_directory_string(values[OID_NAME]) == ADULT_KAGA.name
    assert values[OID_SEX] == b"\x13\x012"  # PrintableString "2" (female) at .5.5.3
    assert values[OID_BIRTH_DATE] == b"\x13\x09319850615"  # PrintableString EYYYYMMDD at .5.5.4
    assert decode_directory_string(values[OID_ADDRESS]) == ADULT_KAGA.address
    assert OID_SEX.dotted_string == "1.2.392.200149.8.5.5.3"
    assert OID_BIRTH_DATE.dotted_string == "1.2.392.200149.8.5.5.4"
    assert OID_ADDRESS.dotted_string == "1.2.392.200149.8.5.5.5"


def test_auth_certificate_has_no_personal_data(kaga_adult):
    cert = kaga_adult.auth_cert
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    text = cert.public_bytes(Encoding.DER)
    for secret in (ADULT_KAGA.name, ADULT_KAGA.address):
        assert secret.encode() not in text


def test_issuer_names_have_the_jlis_shape(id_ca):
    assert id_ca.auth_root.subject.rfc4514_string() == (
        "CN=TEST CA - NOT ISSUED BY J-LIS,"
        "OU=Japan Agency for Local Authority Information Systems,"
        "OU=JPKI TEST for user authentication,O=JPKI TEST,C=JP"
    )
    assert "OU=JPKI TEST for digital signature" in id_ca.signing_root.subject.rfc4514_string()


def test_minor_has_no_signing_certificate(minor):
    assert minor.signing_cert is None and minor.signing_key is None and minor.signing_password is None


@pytest.mark.parametrize(
    ("born", "expected"),
    [
        (date(1912, 7, 29), "119120729"),  # last day of Meiji
        (date(1912, 7, 30), "219120730"),  # Taisho
        (date(1926, 12, 25), "319261225"),  # Showa
        (date(1989, 1, 7), "319890107"),
        (date(1989, 1, 8), "419890108"),  # Heisei
        (date(2019, 4, 30), "420190430"),
        (date(2019, 5, 1), "520190501"),  # Reiwa
    ],
)
def test_era_birth_date(born, expected):
    assert era_birth_date(born) == expected


def test_label_must_say_test(tmp_path):
    with pytest.raises(ValueError, match="TEST"):
        TestCA.create(tmp_path, label="JPKI")


def test_state_survives_reload(id_ca, id_keys):
    card = id_ca.issue_card(MINOR, card_id="persist-me")
    id_ca.revoke(card)
    again = TestCA.load(id_ca.directory, key_cache=id_keys)
    assert id_ca.card("persist-me").auth_key is card.auth_key  # the issuing process holds the keys …
    with pytest.raises(KeyError, match="keeps no card keys"):  # … nobody else: they are in the card
        again.card("persist-me")
    assert again.auth_root == id_ca.auth_root
    crl = x509.load_der_x509_crl(again.crl(CertKind.AUTH))
    assert crl.get_revoked_certificate_by_serial_number(card.auth_cert.serial_number) is not None
    renewed = again.renew("persist-me")  # a new process renews from the CA's records alone
    assert renewed.resident == card.resident and renewed.pin == card.pin
    with pytest.raises(FileExistsError):
        TestCA.create(id_ca.directory)
    assert TestCA.open(id_ca.directory, key_cache=id_keys).auth_root == id_ca.auth_root


def _private_numbers_in(directory: Path) -> set[int]:
    """The private exponents of every unencrypted key file under ``directory``."""
    found = set()
    for path in directory.rglob("*"):
        if path.is_file() and b"PRIVATE KEY-----" in path.read_bytes():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            found.add(key.private_numbers().d)  # type: ignore[union-attr]
    return found


def test_the_ca_keeps_no_card_key_on_disk(tmp_path):
    ca = TestCA.create(tmp_path / "ca")
    card = ca.issue_card(ADULT_KAGA)
    auth, signing = card.write_soft_card(tmp_path / "out" / "hanako.p12")
    on_disk = _private_numbers_in(tmp_path / "ca")
    assert on_disk  # the CA's own keys are there (TEST ONLY) …
    assert card.auth_key.private_numbers().d not in on_disk  # … no card key
    assert card.signing_key is not None and card.signing_key.private_numbers().d not in on_disk
    for path, password in ((auth, card.pin), (signing, card.signing_password)):  # the card files are encrypted
        assert signing is not None and password is not None
        with pytest.raises(ValueError):
            pkcs12.load_pkcs12(path.read_bytes(), b"wrong")
        assert pkcs12.load_pkcs12(path.read_bytes(), password.encode()).key is not None


def test_loading_a_ca_deletes_card_keys_an_older_version_left(tmp_path):
    ca = TestCA.create(tmp_path / "ca")
    ns = ca._state["key_namespace"]
    leftover = RsaKeyCache(tmp_path / "ca" / "keys")
    leftover.get(f"{ns}-card-card0001-auth")  # what the old TEST CA stored for every card
    assert list((tmp_path / "ca" / "keys").glob("*-card-*"))
    TestCA.load(tmp_path / "ca")
    assert not list((tmp_path / "ca" / "keys").glob("*-card-*"))
    assert list((tmp_path / "ca" / "keys").glob("*-root-*"))  # its own keys stay


def test_software_cards_are_ignored_by_git(tmp_path):
    """Wherever ``--out`` puts a card, ``git add .`` does not pick it up."""
    for name in ("hanako.p12", "hanako.sign.p12", "docs/card.p12", "var/cards/card0001.p12"):
        checked = subprocess.run(["git", "check-ignore", "-q", "--no-index", name], cwd=PROJECT_ROOT, check=False)
        assert checked.returncode == 0, f"{name} is not ignored by git"


def test_key_cache_generates_once(tmp_path):
    first = RsaKeyCache(tmp_path).get("some-label")
    second = RsaKeyCache(tmp_path).get("some-label")  # a new process would do this
    assert first.private_numbers() == second.private_numbers()
    assert first.key_size == 2048
    assert RsaKeyCache(tmp_path).get("other").private_numbers() != first.private_numbers()


# --- renewal and serial linkage -------------------------------------------------------------


def test_renewal_links_old_to_new_serials_and_revokes_the_old(id_ca, verifier, wallet):
    old = id_ca.issue_card(ADULT_KAGA)
    new = id_ca.renew(old)

    assert new.auth_cert.serial_number != old.auth_cert.serial_number
    assert new.signing_cert.serial_number != old.signing_cert.serial_number
    assert new.auth_key.public_key().public_numbers() != old.auth_key.public_key().public_numbers()
    assert new.resident == old.resident and new.pin == old.pin

    linkage = id_ca.serial_linkage()
    assert linkage.successor(CertRef.of(old.auth_cert)) == CertRef.of(new.auth_cert)
    assert linkage.predecessor(CertRef.of(new.auth_cert)) == CertRef.of(old.auth_cert)
    assert linkage.successor(CertRef.of(old.signing_cert)) == CertRef.of(new.signing_cert)
    assert linkage.successor(CertRef.of(new.auth_cert)) is None

    message = make_statement(wallet.address).canonical_bytes()
    with pytest.raises(CertificateRevoked, match="superseded"):
        verifier.verify_card(old.auth_cert_der, **card_signatures(old, message, signing=False))
    result = verifier.verify_card(new.auth_cert_der, new.signing_cert_der, **card_signatures(new, message))
    assert result.level is AssuranceLevel.RESIDENT_OF_CITY
    # The service finds the person's earlier certificate from the new one.
    assert linkage.predecessor(result.auth) == CertRef.of(old.auth_cert)


def test_lineage_over_two_renewals(id_ca):
    first = id_ca.issue_card(MINOR)
    second = id_ca.renew(first)
    third = id_ca.renew(second)
    linkage = id_ca.serial_linkage()
    expected = [CertRef.of(c.auth_cert) for c in (first, second, third)]
    assert linkage.lineage(CertRef.of(second.auth_cert)) == expected
    assert third.card_id.endswith("-r3")


def test_linkage_rejects_self_links():
    ref = CertRef(b"\x30\x00", 1)
    with pytest.raises(ValueError):
        InMemorySerialLinkage([(ref, ref)])


def test_a_card_issued_with_a_lower_case_signing_password_opens_with_it(id_ca, tmp_path):
    """Regression: `machi test-ca issue --signing-password kaga2025` wrote a card no wallet could open
    (wallets upper-case the signing password, as real cards want)."""
    from protocol.cards.base import sign_with_card
    from protocol.cards.soft import SoftCard

    card = id_ca.issue_card(ADULT_KAGA, pin="5791", signing_password="kaga2025")
    assert card.signing_password == "KAGA2025"
    path, _ = card.write_soft_card(tmp_path / "lower.p12")
    signatures = sign_with_card(SoftCard(path, "5791"), b"statement", pin="5791", signing_password="kaga2025")
    assert signatures.signing_signature is not None
    with pytest.raises(ValueError, match="6-16 letters and digits"):
        id_ca.issue_card(ADULT_KAGA, signing_password="short")
