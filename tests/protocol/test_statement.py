"""The canonical link statement, its EIP-712 form and the nonce rules."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_hash.auto import keccak
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import MalformedStatement, NonceExpired, NonceReused, WalletSignatureMismatch
from protocol.nonces import MemoryNonceStore, check_freshness
from protocol.statement import LinkStatement, Purpose, check_context, sign_wallet, verify_wallet_signature
from tests.protocol.conftest import CHAIN_ID, REGISTRY

ALICE = Account.from_key("0x" + "a1" * 32)
MALLORY = Account.from_key("0x" + "b2" * 32)
NONCE = bytes(range(32))
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def statement(**overrides: object) -> LinkStatement:
    fields: dict[str, object] = {
        "purpose": "link",
        "wallet": ALICE.address,
        "chain_id": CHAIN_ID,
        "registry": REGISTRY,
        "nonce": NONCE,
        "issued_at": 1_760_000_000,
    }
    fields.update(overrides)
    return LinkStatement.create(**fields)  # type: ignore[arg-type]


# --- canonical bytes ------------------------------------------------------------------


def test_canonical_bytes_are_exactly_the_documented_form():
    s = statement(wallet=ALICE.address.lower())  # normalised to EIP-55
    assert s.canonical_bytes() == (
        "Machi Ledger identity link v1\n"
        "purpose=link\n"
        f"wallet={ALICE.address}\n"
        "chain_id=31337\n"
        "registry=0x5FbDB2315678afecb367f032d93F642f64180aa3\n"
        "nonce=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
        "issued_at=1760000000\n"
    ).encode()


def test_nonce_may_be_given_as_hex():
    assert statement(nonce="0x" + NONCE.hex()) == statement(nonce=NONCE.hex()) == statement()


def test_issued_at_from_datetime():
    when = datetime(2025, 10, 9, 8, 53, 20, tzinfo=UTC)
    assert statement(issued_at=when).issued_at == 1_760_000_000


@given(
    purpose=st.sampled_from(list(Purpose)),
    key=st.binary(min_size=32, max_size=32).filter(lambda b: 0 < int.from_bytes(b, "big") < 2**255),
    chain_id=st.integers(min_value=1, max_value=2**64),
    nonce=st.binary(min_size=32, max_size=32),
    issued_at=st.integers(min_value=1, max_value=2**40),
)
def test_parse_round_trips(purpose, key, chain_id, nonce, issued_at):
    s = LinkStatement(purpose, Account.from_key(key).address, chain_id, REGISTRY, nonce, issued_at)
    assert LinkStatement.parse(s.canonical_bytes()) == s
    assert LinkStatement.from_json(s.to_json()) == s


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"Machi Ledger identity link v2\n",
        statement().canonical_bytes().replace(b"chain_id=31337", b"chain_id=031337"),
        statement().canonical_bytes().replace(b"purpose=link", b"purpose=steal"),
        statement().canonical_bytes().replace(ALICE.address.encode(), ALICE.address.lower().encode()),
        statement().canonical_bytes().rstrip(b"\n"),
        statement().canonical_bytes() + b"extra=1\n",
        statement().canonical_bytes().replace(b"\n", b"\r\n"),
    ],
    ids=["empty", "other-version", "leading-zero", "bad-purpose", "lowercase-address", "no-final-newline",
         "extra-field", "crlf"],
)
def test_parse_rejects_non_canonical_input(data):
    with pytest.raises(MalformedStatement):
        LinkStatement.parse(data)


@pytest.mark.parametrize(
    "overrides",
    [
        {"purpose": "steal"},
        {"wallet": "0x1234"},
        {"wallet": "0x5fbDB2315678afecb367f032d93F642f64180aa3"},  # broken EIP-55 checksum
        {"nonce": b"\x00" * 31},
        {"nonce": "zz" * 32},
        {"chain_id": 0},
        {"chain_id": True},
        {"issued_at": -1},
    ],
)
def test_invalid_fields_are_malformed(overrides):
    with pytest.raises(MalformedStatement) as exc:
        statement(**overrides)
    assert exc.value.code == "malformed_statement"


# --- EIP-712 ----------------------------------------------------------------------------


def test_digest_matches_eth_account_encode_typed_data():
    s = statement()
    signable = encode_typed_data(full_message=s.typed_data())
    assert signable.header == s.domain_separator()
    assert keccak(b"\x19" + signable.version + signable.header + signable.body) == s.eip712_digest()


def test_wallet_signature_round_trip_and_interop_with_eth_account():
    s = statement()
    ours = sign_wallet(s, ALICE.key)
    verify_wallet_signature(s, ours)
    verify_wallet_signature(s, "0x" + ours.hex())
    # A signature made by eth-account from the typed data verifies too (what wallets do).
    theirs = Account.sign_message(encode_typed_data(full_message=s.typed_data()), ALICE.key).signature
    verify_wallet_signature(s, bytes(theirs))
    signable = encode_typed_data(full_message=s.typed_data())
    assert Account.recover_message(signable, signature=ours) == ALICE.address


def test_signature_by_another_key_is_a_mismatch():
    s = statement()
    with pytest.raises(WalletSignatureMismatch) as exc:
        verify_wallet_signature(s, sign_wallet(s, MALLORY.key))
    assert exc.value.code == "wallet_signature_mismatch"


@pytest.mark.parametrize(
    "tamper",
    [{"wallet": MALLORY.address}, {"nonce": b"\x09" * 32}, {"chain_id": 1},
     {"registry": "0x0000000000000000000000000000000000000001"}, {"purpose": "recover"},
     {"issued_at": 1_760_000_001}],
)
def test_wallet_signature_over_another_statement_is_a_mismatch(tamper):
    signed = statement()
    sig = sign_wallet(signed, ALICE.key)
    with pytest.raises(WalletSignatureMismatch):
        verify_wallet_signature(dataclasses.replace(signed, **tamper), sig)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda sig: sig[:64],
        lambda sig: sig[:64] + bytes([5]),
        lambda sig: b"\x00" * 65,
        # high-s twin of a valid signature (malleable form): refused
        lambda sig: sig[:32]
        + (SECP256K1_N - int.from_bytes(sig[32:64], "big")).to_bytes(32, "big")
        + bytes([55 - sig[64]]),  # v: 27 <-> 28
        lambda sig: "not hex",
    ],
    ids=["short", "bad-v", "zeros", "high-s", "not-hex"],
)
def test_malformed_wallet_signatures_are_mismatches(mangle):
    s = statement()
    with pytest.raises(WalletSignatureMismatch):
        verify_wallet_signature(s, mangle(sign_wallet(s, ALICE.key)))


# --- freshness, context, nonces -----------------------------------------------------------


def test_freshness():
    s = statement()
    issued = s.issued_at_datetime
    check_freshness(s, now=issued + timedelta(minutes=4))
    with pytest.raises(NonceExpired) as exc:
        check_freshness(s, now=issued + timedelta(minutes=5, seconds=1))
    assert exc.value.code == "nonce_expired"
    with pytest.raises(NonceExpired, match="future"):
        check_freshness(s, now=issued - timedelta(minutes=1))
    check_freshness(s, now=issued - timedelta(seconds=10))  # small clock skew is fine


def test_context_must_match_this_deployment():
    s = statement()
    check_context(s, chain_id=CHAIN_ID, registry=REGISTRY.lower(), purpose="link")
    with pytest.raises(MalformedStatement, match="another chain"):
        check_context(s, chain_id=1, registry=REGISTRY)
    with pytest.raises(MalformedStatement, match="another registry"):
        check_context(s, chain_id=CHAIN_ID, registry="0x0000000000000000000000000000000000000001")
    with pytest.raises(MalformedStatement, match="recover"):
        check_context(s, chain_id=CHAIN_ID, registry=REGISTRY, purpose=Purpose.RECOVER)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_nonce_is_single_use():
    store = MemoryNonceStore(clock=Clock())
    nonce = store.issue()
    assert len(nonce) == 32
    store.consume(nonce)
    with pytest.raises(NonceReused) as exc:
        store.consume(nonce)
    assert exc.value.code == "nonce_reused"


def test_nonce_expires_and_unknown_nonces_are_refused():
    clock = Clock()
    store = MemoryNonceStore(ttl=timedelta(minutes=5), clock=clock)
    nonce = store.issue()
    clock.now += timedelta(minutes=5, seconds=1)
    with pytest.raises(NonceExpired):
        store.consume(nonce)
    with pytest.raises(NonceExpired, match="unknown"):
        store.consume(b"\x00" * 32)
    fresh = store.issue()
    assert fresh != nonce
    store.consume(fresh)
