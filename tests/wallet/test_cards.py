"""Card signers: the PKCS#12 software card and the PC/SC card against an APDU-level fake."""

from __future__ import annotations

import importlib
import sys
from datetime import UTC, date, datetime

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from procedures.identity.certs import AssuranceLevel, CertKind
from procedures.identity.jpki import JpkiVerifier
from procedures.identity.revocation import CrlRevocationChecker
from procedures.identity.testca import RsaKeyCache, Sex, TestCA, TestCard, TestResident
from protocol.cards import CardSigner, sign_with_card
from protocol.cards.base import DIGEST_INFO_SHA256_PREFIX
from protocol.cards.pcsc import JpkiFile, PcscCard, command_apdu
from protocol.cards.soft import SoftCard, signing_path_for
from protocol.errors import CardError, CardLocked, InvalidPinFormat, WrongPin
from protocol.nonces import new_nonce
from protocol.statement import LinkStatement
from tests.fixtures.fake_jpki_card import FakeJpkiCard, T0Transport

ADULT = TestResident("加賀 次郎", date(1990, 2, 3), Sex.MALE, "石川県加賀市山中温泉1番地")
CHILD = TestResident("加賀 三子", date(2018, 8, 8), Sex.FEMALE, "石川県加賀市山中温泉1番地", minor=True)
MESSAGE = b"Machi Ledger identity link v1\npurpose=link\n"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    keys = RsaKeyCache(tmp_path_factory.mktemp("card-keys"))
    return TestCA.create(tmp_path_factory.mktemp("card-ca"), key_cache=keys)


@pytest.fixture(scope="module")
def adult(ca: TestCA) -> TestCard:
    return ca.issue_card(ADULT, pin="4321", signing_password="KAGA2024")


@pytest.fixture(scope="module")
def child(ca: TestCA) -> TestCard:
    return ca.issue_card(CHILD, pin="9876")


def assert_signed_by(cert_der: bytes, signature: bytes, message: bytes) -> None:
    from cryptography import x509

    x509.load_der_x509_certificate(cert_der).public_key().verify(  # type: ignore[union-attr]
        signature, message, padding.PKCS1v15(), hashes.SHA256()
    )


# --- software card ----------------------------------------------------------------------------


@pytest.fixture
def soft_adult(adult: TestCard, tmp_path) -> SoftCard:
    path, signing_path = adult.write_soft_card(tmp_path / "jiro.p12")
    assert signing_path == signing_path_for(path) and signing_path.exists()
    return SoftCard(path, "4321")


def test_soft_card_reads_and_signs(soft_adult: SoftCard, adult: TestCard):
    assert isinstance(soft_adult, CardSigner)
    assert soft_adult.auth_certificate() == adult.auth_cert_der
    assert soft_adult.signing_certificate("kaga2024") == adult.signing_cert_der  # upper-cased like the card
    assert_signed_by(adult.auth_cert_der, soft_adult.sign_auth(MESSAGE, "4321"), MESSAGE)
    assert_signed_by(adult.signing_cert_der, soft_adult.sign_with_signing_key(MESSAGE, "KAGA2024"), MESSAGE)


def test_soft_card_wrong_pin(adult: TestCard, soft_adult: SoftCard, tmp_path):
    with pytest.raises(WrongPin) as exc:
        SoftCard(soft_adult.path, "0000")
    assert exc.value.code == "wrong_pin" and exc.value.retries_left is None
    with pytest.raises(WrongPin):
        soft_adult.sign_auth(MESSAGE, "1111")
    with pytest.raises(WrongPin, match="signing password"):
        soft_adult.sign_with_signing_key(MESSAGE, "WRONG123")
    with pytest.raises(WrongPin):
        soft_adult.signing_certificate("WRONG123")
    with pytest.raises(InvalidPinFormat):
        soft_adult.sign_auth(MESSAGE, "12345")


def test_soft_card_for_a_minor(child: TestCard, tmp_path):
    path, signing_path = child.write_soft_card(tmp_path / "child.p12")
    assert signing_path is None
    card = SoftCard(path, "9876")
    assert card.signing_certificate("ANYTHING1") is None
    with pytest.raises(CardError, match="no signing key"):
        card.sign_with_signing_key(MESSAGE, "ANYTHING1")


def test_soft_card_missing_file(tmp_path):
    with pytest.raises(CardError, match="cannot read"):
        SoftCard(tmp_path / "nope.p12", "1234")


# --- PC/SC card over the fake ------------------------------------------------------------------


def test_pcsc_reads_certificates_and_signs(adult: TestCard):
    fake = FakeJpkiCard(adult)
    card = PcscCard(fake)
    assert isinstance(card, CardSigner)
    assert card.token() == "JPKIAPICCTOKEN2"
    assert card.auth_certificate() == adult.auth_cert_der
    assert card.signing_certificate("KAGA2024") == adult.signing_cert_der
    assert_signed_by(adult.auth_cert_der, card.sign_auth(MESSAGE, "4321"), MESSAGE)
    assert_signed_by(adult.signing_cert_der, card.sign_with_signing_key(MESSAGE, "kaga2024"), MESSAGE)

    sent = [apdu.hex().upper() for apdu, _ in fake.log]
    assert "00A4040C0AD392F000260100000001" in sent  # SELECT JPKI AP
    assert "00A4020C02000A" in sent and "00A4020C020017" in sent and "00A4020C020018" in sent
    assert "00200080" in sent  # retry counter lookup before VERIFY
    assert "002000800434333231" in sent  # VERIFY "4321"
    compute = [a for a, _ in fake.log if a[:4] == bytes.fromhex("802A0080")]
    assert len(compute) == 2
    assert compute[0][4] == 0x33 and compute[0][5:-1].startswith(DIGEST_INFO_SHA256_PREFIX)
    assert compute[0][-1] == 0x00
    # Certificates are read in chunks of at most 256 bytes.
    reads = [a for a, _ in fake.log if a[:2] == bytes.fromhex("00B0")]
    assert len(reads) > 2


def test_signing_certificate_needs_the_signing_password_on_the_card(adult: TestCard):
    fake = FakeJpkiCard(adult)
    fake.transmit(command_apdu(0x00, 0xA4, 0x04, 0x0C, bytes.fromhex("D392F000260100000001")))
    fake.transmit(command_apdu(0x00, 0xA4, 0x02, 0x0C, bytes.fromhex("0001")))
    assert fake.transmit(command_apdu(0x00, 0xB0, 0, 0, le=4)) == (b"", 0x69, 0x82)
    # and the authentication certificate does not
    fake.transmit(command_apdu(0x00, 0xA4, 0x02, 0x0C, bytes.fromhex("000A")))
    data, sw1, sw2 = fake.transmit(command_apdu(0x00, 0xB0, 0, 0, le=4))
    assert (sw1, sw2) == (0x90, 0x00) and data[0] == 0x30


def test_wrong_pin_shows_retries_left_then_locks(adult: TestCard):
    fake = FakeJpkiCard(adult)
    card = PcscCard(fake)
    with pytest.raises(WrongPin) as first:
        card.sign_auth(MESSAGE, "0000")
    assert first.value.retries_left == 2
    assert first.value.to_dict()["retries_left"] == 2
    assert "2 attempt(s) left" in first.value.message
    with pytest.raises(WrongPin) as second:
        card.sign_auth(MESSAGE, "0001")
    assert second.value.retries_left == 1
    with pytest.raises(CardLocked) as third:
        card.sign_auth(MESSAGE, "0002")
    assert third.value.code == "card_locked"
    # Locked: even the right PIN is refused, and nothing reaches the signing command.
    with pytest.raises(CardLocked):
        card.sign_auth(MESSAGE, "4321")
    assert card.auth_pin_retries() == 0
    assert fake.retries(JpkiFile.AUTH_PIN) == 0
    assert not any(a[:2] == bytes.fromhex("802A") and sw == 0x9000 for a, sw in fake.log)
    # the signing key is unaffected
    assert_signed_by(adult.signing_cert_der, card.sign_with_signing_key(MESSAGE, "KAGA2024"), MESSAGE)


def test_correct_pin_resets_the_counter(adult: TestCard):
    card = PcscCard(FakeJpkiCard(adult))
    with pytest.raises(WrongPin):
        card.sign_auth(MESSAGE, "0000")
    assert card.auth_pin_retries() == 2
    card.sign_auth(MESSAGE, "4321")
    assert card.auth_pin_retries() == 3


def test_signing_password_locks_after_five(adult: TestCard):
    card = PcscCard(FakeJpkiCard(adult))
    for left in (4, 3, 2, 1):
        with pytest.raises(WrongPin) as exc:
            card.signing_certificate("WRONG0")
        assert exc.value.retries_left == left
    with pytest.raises(CardLocked, match="signing password"):
        card.sign_with_signing_key(MESSAGE, "WRONG0")
    assert card.signing_pin_retries() == 0
    assert card.auth_pin_retries() == 3


def test_invalid_pin_format_spends_no_retry(adult: TestCard):
    fake = FakeJpkiCard(adult)
    card = PcscCard(fake)
    for bad in ("12a4", "12345", ""):
        with pytest.raises(InvalidPinFormat):
            card.sign_auth(MESSAGE, bad)
    with pytest.raises(InvalidPinFormat):
        card.signing_certificate("SHORT")
    assert fake.log == []  # nothing was sent to the card


def test_minor_card_has_no_signing_side(child: TestCard):
    card = PcscCard(FakeJpkiCard(child))
    assert card.auth_certificate() == child.auth_cert_der
    assert card.signing_certificate("ANYTHING1") is None
    assert card.signing_pin_retries() is None
    with pytest.raises(CardError, match="no such key"):
        card.sign_with_signing_key(MESSAGE, "ANYTHING1")


def test_t0_reader_with_get_response(adult: TestCard):
    transport = T0Transport(FakeJpkiCard(adult))
    card = PcscCard(transport)
    assert card.auth_certificate() == adult.auth_cert_der
    assert_signed_by(adult.auth_cert_der, card.sign_auth(MESSAGE, "4321"), MESSAGE)
    assert transport.get_responses > 0


def test_fake_card_status_words(adult: TestCard):
    fake = FakeJpkiCard(adult)
    aid = bytes.fromhex("D392F000260100000001")
    assert fake.transmit(command_apdu(0x00, 0xA4, 0x02, 0x0C, b"\x00\x0a"))[1:] == (0x6A, 0x82)  # no AP yet
    assert fake.transmit(command_apdu(0x00, 0xA4, 0x04, 0x0C, aid))[1:] == (0x90, 0x00)
    assert fake.transmit(command_apdu(0x00, 0xA4, 0x02, 0x0C, b"\x00\x17"))[1:] == (0x90, 0x00)
    di = DIGEST_INFO_SHA256_PREFIX + bytes(32)
    assert fake.transmit(command_apdu(0x80, 0x2A, 0x00, 0x80, di, le=256))[1:] == (0x69, 0x82)  # no PIN
    assert fake.transmit(command_apdu(0x00, 0xB0, 0, 0, le=4))[1:] == (0x69, 0x81)  # key EF
    assert fake.transmit(command_apdu(0x00, 0xCA, 0, 0, le=1))[1:] == (0x6D, 0x00)
    assert fake.transmit(command_apdu(0xA0, 0xCA, 0, 0, le=1))[1:] == (0x6E, 0x00)


def test_fake_card_lockout_at_the_apdu_level(adult: TestCard):
    fake = FakeJpkiCard(adult)
    fake.transmit(command_apdu(0x00, 0xA4, 0x04, 0x0C, bytes.fromhex("D392F000260100000001")))
    fake.transmit(command_apdu(0x00, 0xA4, 0x02, 0x0C, bytes.fromhex("0018")))
    assert fake.transmit(command_apdu(0x00, 0x20, 0x00, 0x80))[1:] == (0x63, 0xC3)
    assert fake.transmit(command_apdu(0x00, 0x20, 0x00, 0x80, b"0000"))[1:] == (0x63, 0xC2)
    assert fake.transmit(command_apdu(0x00, 0x20, 0x00, 0x80, b"0000"))[1:] == (0x63, 0xC1)
    assert fake.transmit(command_apdu(0x00, 0x20, 0x00, 0x80, b"0000"))[1:] == (0x63, 0xC0)
    # blocked: the right PIN no longer works, and the counter query says so
    assert fake.transmit(command_apdu(0x00, 0x20, 0x00, 0x80, b"4321"))[1:] == (0x69, 0x83)
    assert fake.transmit(command_apdu(0x00, 0x20, 0x00, 0x80))[1:] == (0x69, 0x83)


def test_not_a_my_number_card():
    class Blank:
        def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
            return b"", 0x6A, 0x82

    with pytest.raises(CardError, match="not a My Number card") as exc:
        PcscCard(Blank()).auth_certificate()
    assert exc.value.sw == 0x6A82


def test_reader_failure_becomes_card_error():
    class Unplugged:
        def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
            raise OSError("reader removed")

    with pytest.raises(CardError, match="communication failed"):
        PcscCard(Unplugged()).auth_certificate()


def test_pyscard_is_optional(monkeypatch):
    monkeypatch.setitem(sys.modules, "smartcard", None)
    monkeypatch.setitem(sys.modules, "smartcard.System", None)
    monkeypatch.setitem(sys.modules, "smartcard.Exceptions", None)
    import protocol.cards.pcsc as pcsc

    reloaded = importlib.reload(pcsc)  # importing the module never needs pyscard
    with pytest.raises(CardError, match="pyscard"):
        reloaded.PyscardTransport()
    with pytest.raises(CardError, match="pyscard"):
        reloaded.PcscCard.connect()


# --- end to end: card → statement → verifier -----------------------------------------------------


@pytest.mark.parametrize("kind", ["soft", "pcsc"])
def test_card_signatures_verify_end_to_end(kind, ca: TestCA, adult: TestCard, tmp_path):
    if kind == "soft":
        path, _ = adult.write_soft_card(tmp_path / "e2e.p12")
        signer: CardSigner = SoftCard(path, "4321")
    else:
        signer = PcscCard(FakeJpkiCard(adult))
    statement = LinkStatement.create(
        purpose="link",
        wallet="0x000000000000000000000000000000000000bEEF",
        chain_id=31337,
        registry="0x5FbDB2315678afecb367f032d93F642f64180aa3",
        nonce=new_nonce(),
        issued_at=datetime.now(UTC),
    )
    message = statement.canonical_bytes()
    sigs = sign_with_card(signer, message, pin="4321", signing_password="KAGA2024")
    verifier = JpkiVerifier(
        ca.trust_anchors(),
        CrlRevocationChecker.from_files(ca.crl_path(CertKind.AUTH), ca.crl_path(CertKind.SIGNING)),
        ["石川県加賀市"],
    )
    result = verifier.verify_card(
        sigs.auth_certificate,
        sigs.signing_certificate,
        message=message,
        auth_signature=sigs.auth_signature,
        signing_signature=sigs.signing_signature,
    )
    assert result.level is AssuranceLevel.RESIDENT_OF_CITY
    auth_only = sign_with_card(signer, message, pin="4321")
    assert auth_only.signing_certificate is None
    assert verifier.verify_card(
        auth_only.auth_certificate, message=message, auth_signature=auth_only.auth_signature
    ).level is AssuranceLevel.CARD_AUTHENTICATED
