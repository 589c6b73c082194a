"""The statements a card signs at a counter: exact canonical bytes, domain separation from each other and from
the link statement, and untrusted JSON refused field by field."""

from __future__ import annotations

import pytest

from protocol.counter import CardPaymentStatement, OptInStatement
from protocol.errors import MalformedStatement

COIN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
MERCHANT_WALLET = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
NONCE = "0x" + "ab" * 32
PAYMENT = {"merchant": "mer_0123456789abcdef01234567", "pay_to": MERCHANT_WALLET, "amount": 1200,
           "payment_request": "pr_0123456789abcdef01234567", "nonce": NONCE, "issued_at": 1_765_000_000,
           "chain_id": 31337, "coin": COIN}


def test_the_payment_statement_bytes_are_exact():
    statement = CardPaymentStatement.from_json(PAYMENT)
    assert statement.canonical_bytes() == (
        "Machi Ledger card payment v1\nmerchant=mer_0123456789abcdef01234567\n"
        f"pay_to={MERCHANT_WALLET}\namount=1200\npayment_request=pr_0123456789abcdef01234567\n"
        f"nonce={'ab' * 32}\nissued_at=1765000000\nchain_id=31337\ncoin={COIN}").encode()
    assert CardPaymentStatement.from_json(statement.to_json()) == statement
    lower = CardPaymentStatement.from_json({**PAYMENT, "pay_to": MERCHANT_WALLET.lower(), "nonce": NONCE.upper()[2:]})
    assert lower == statement  # one statement, one set of bytes, however the address and nonce were cased


def test_each_statement_is_its_own_domain():
    payment = CardPaymentStatement.from_json(PAYMENT).canonical_bytes()
    opt_in = OptInStatement.from_json({"nonce": NONCE, "issued_at": 1_765_000_000, "chain_id": 31337,
                                       "registry": COIN}).canonical_bytes()
    assert payment.split(b"\n")[0] == b"Machi Ledger card payment v1"
    assert opt_in.split(b"\n")[0] == b"Machi Ledger card wallet opt-in v1"
    assert not payment.startswith(b"Machi Ledger identity link") and not opt_in.startswith(b"Machi Ledger identity")
    other_chain = CardPaymentStatement.from_json({**PAYMENT, "chain_id": 1}).canonical_bytes()
    other_coin = CardPaymentStatement.from_json({**PAYMENT, "coin": MERCHANT_WALLET}).canonical_bytes()
    assert len({payment, other_chain, other_coin}) == 3


@pytest.mark.parametrize("change", [
    {"amount": 0}, {"amount": "1200"}, {"amount": True}, {"amount": 1.5}, {"pay_to": "0x1234"},
    {"pay_to": MERCHANT_WALLET[:-1] + "c"}, {"merchant": "pr_0123456789abcdef01234567"},
    {"payment_request": "pr_\nfoo=bar"}, {"nonce": "0x12"}, {"issued_at": -1}, {"chain_id": 0}, {"extra": 1},
])
def test_malformed_statements_are_refused(change):
    with pytest.raises(MalformedStatement):
        CardPaymentStatement.from_json({**PAYMENT, **change})


def test_missing_fields_and_non_objects_are_refused():
    with pytest.raises(MalformedStatement):
        CardPaymentStatement.from_json({k: v for k, v in PAYMENT.items() if k != "coin"})
    with pytest.raises(MalformedStatement):
        CardPaymentStatement.from_json([PAYMENT])
