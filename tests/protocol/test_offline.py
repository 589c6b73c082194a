"""What a counter checks offline before it keeps an offline payment: ours, for this merchant, signed by the
payer, fresh, not seen, within the synced reserve — each refusal one reason and nothing kept."""

from __future__ import annotations

import base64
import json

import pytest
from eth_account import Account

from protocol.offline import (
    MAX_VALIDITY_S,
    PREFIX,
    OfflinePayment,
    OfflineRefused,
    ReserveSnapshot,
    accept,
    sign_offline_payment,
)

NOW = 1_765_000_000
RESERVE = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
ALICE = Account.create()
SHOP = Account.create().address


def _snapshot(reserved: int = 1_000, release_at: int = 0) -> ReserveSnapshot:
    return ReserveSnapshot(chain_id=31337, reserve=RESERVE, merchant=SHOP, synced_at=NOW - 60,
                           reserves={ALICE.address: (reserved, release_at)})


def _pay(amount: int = 400, *, key=ALICE, merchant: str = SHOP, valid_for: int = 3600, chain_id: int = 31337):
    return sign_offline_payment(bytes(key.key), chain_id=chain_id, reserve=RESERVE, merchant=merchant, amount=amount,
                                valid_before=NOW + valid_for)


def _refused(snapshot: ReserveSnapshot, payment: OfflinePayment, reason: str) -> None:
    before = dict(snapshot.accepted)
    with pytest.raises(OfflineRefused) as refused:
        accept(snapshot, payment, NOW)
    assert refused.value.code == reason and "\n" not in refused.value.message
    assert snapshot.accepted == before  # nothing kept


def test_the_code_round_trips_and_is_accepted_within_the_reserve():
    snapshot, payment = _snapshot(), _pay()
    scanned = OfflinePayment.from_text(payment.to_text())
    assert scanned == payment and scanned.signer() == ALICE.address
    assert accept(snapshot, scanned, NOW) == payment and snapshot.accepted_from(ALICE.address) == 400
    accept(snapshot, _pay(600), NOW)  # exactly what is left
    _refused(snapshot, _pay(1), "over_reserve")
    _refused(snapshot, payment, "seen")


def test_bad_codes_are_refused_in_one_line():
    snapshot = _snapshot()
    for text, reason in [("ethereum:0xabc/transfer?address=0x1", "not_ours"), ("machi-offline:1:%%%", "malformed"),
                         ("machi-offline:1:" + base64.urlsafe_b64encode(b'{"amount": 1}').decode(), "malformed")]:
        with pytest.raises(OfflineRefused) as refused:
            OfflinePayment.from_text(text)
        assert refused.value.code == reason
    payment = _pay()
    tampered = OfflinePayment(**{**payment.to_json(), "amount": 40})
    _refused(snapshot, tampered, "bad_signature")
    data = json.loads(base64.urlsafe_b64decode(payment.to_text()[16:] + "=="))
    data["amount"] = 4000
    retyped = OfflinePayment.from_text(PREFIX + base64.urlsafe_b64encode(json.dumps(data).encode()).decode())
    _refused(snapshot, retyped, "bad_signature")
    _refused(snapshot, _pay(valid_for=-1), "expired")
    _refused(snapshot, _pay(valid_for=MAX_VALIDITY_S + 60), "too_long")
    _refused(snapshot, _pay(merchant=Account.create().address), "wrong_merchant")
    _refused(snapshot, _pay(chain_id=1), "wrong_chain")
    _refused(snapshot, _pay(key=Account.create()), "no_reserve")
    _refused(_snapshot(release_at=NOW + 600), _pay(), "release_pending")
    assert accept(_snapshot(release_at=NOW + 7200), _pay(), NOW)  # settles before the release is due
