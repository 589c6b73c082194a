"""Payments on the wallet's own nonce sequence (key 1, kept in the coin's account word): the number the
service hands out, payments in progress counted, out-of-order numbers refused with a clear code, and a
failed payment's number signed again."""

from __future__ import annotations

from sqlalchemy import select

from chain.contracts import SkipReason, sequence_nonce, split_nonce
from chain.contracts.authorization import SEQUENCE_KEY
from chain.outbox import IntentStatus, TxIntent
from procedures.transfers.models import Transfer
from tests.procedures.conftest import sign
from tests.procedures.transfers.test_transfers import _send, _wait


def _next(client, resident) -> dict:
    response = client.get("/v1/wallet/nonce", headers=resident.headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_service_hands_out_the_next_number_counting_payments_in_progress(
    client, runtime, coin, make_resident, arrange
):
    alice, bob = make_resident(coins=1_000), make_resident()
    first = _next(client, alice)
    assert (first["key"], first["sequence"], first["in_progress"]) == (SEQUENCE_KEY, 0, 0)
    assert first["nonce"] == "0x" + sequence_nonce(0).hex() and first["wallet"] == alice.address

    runtime.stop_workers()  # nothing is relayed: the payments stay in progress
    accepted = [_send(client, alice, sign(coin, alice.account, bob.address, 100, nonce=sequence_nonce(0)))]
    assert accepted[0].status_code == 202, accepted[0].text
    assert (_next(client, alice)["sequence"], _next(client, alice)["in_progress"]) == (1, 1)
    # the chain is still at 0: number 1 is screened behind number 0, so it is not taken for "ahead"
    accepted.append(_send(client, alice, sign(coin, alice.account, bob.address, 200, nonce=sequence_nonce(1))))
    assert accepted[1].status_code == 202, accepted[1].text

    ahead = _send(client, alice, sign(coin, alice.account, bob.address, 5, nonce=sequence_nonce(3)))
    assert ahead.status_code == 409 and ahead.json()["error"]["code"] == "nonce_ahead"
    assert "GET /v1/wallet/nonce" in ahead.json()["error"]["message"]
    taken = _send(client, alice, sign(coin, alice.account, bob.address, 5, nonce=sequence_nonce(1)))
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "nonce_used"
    # the in-progress payments count against the balance in the same screen: 700 more would not fit
    too_much = _send(client, alice, sign(coin, alice.account, bob.address, 701, nonce=sequence_nonce(2)))
    assert too_much.status_code == 409 and too_much.json()["error"]["code"] == "insufficient_balance"

    runtime.start_workers()
    assert [_wait(client, alice, r.json()["id"])["status"] for r in accepted] == ["confirmed", "confirmed"]
    assert split_nonce(coin.nonces(alice.address, SEQUENCE_KEY)) == (SEQUENCE_KEY, 2)
    assert (_next(client, alice)["sequence"], _next(client, alice)["in_progress"]) == (2, 0)
    assert arrange.balance(alice.address) == 700 and arrange.balance(bob.address) == 300
    used = _send(client, alice, sign(coin, alice.account, bob.address, 5, nonce=sequence_nonce(0)))
    assert used.status_code == 409 and used.json()["error"]["code"] == "nonce_used"


def test_a_failed_payments_number_is_signed_again(client, runtime, coin, make_resident, arrange):
    """The chain skipped it, so its nonce is unused and the wallet's sequence must go on from it: the service
    accepts a new authorization on the same number (and still returns the failed one to a client that resends
    the very same authorization)."""
    alice, bob = make_resident(coins=1_000), make_resident()
    runtime.stop_workers()
    doomed_auth = sign(coin, alice.account, bob.address, 300, nonce=sequence_nonce(0))
    doomed = _send(client, alice, doomed_auth)
    assert doomed.status_code == 202, doomed.text
    arrange.freeze(bob.address)  # after acceptance: the batch skips it (recipient frozen)
    runtime.start_workers()
    final = _wait(client, alice, doomed.json()["id"])
    assert final["status"] == "failed" and final["failure_code"] == "recipient_frozen"
    with runtime.sessions() as session:
        transfer = session.get(Transfer, doomed.json()["id"])
        intent = session.scalar(select(TxIntent).where(TxIntent.id == transfer.intent_id))
        assert intent.status == IntentStatus.FAILED and intent.error_code == SkipReason.RECIPIENT_FROZEN.label
    assert _next(client, alice)["sequence"] == 0  # the chain did not move

    arrange.freeze(bob.address, frozen=False)
    again = _send(client, alice, sign(coin, alice.account, bob.address, 250, nonce=sequence_nonce(0)))
    assert again.status_code == 202, again.text
    assert _wait(client, alice, again.json()["id"])["status"] == "confirmed"
    assert arrange.balance(bob.address) == 250 and _next(client, alice)["sequence"] == 1
    resent = _send(client, alice, doomed_auth)  # a client that lost the first answer gets that transfer back
    assert resent.status_code == 202 and resent.json()["id"] == doomed.json()["id"]
    assert resent.json()["status"] == "failed"


def test_only_the_wallet_itself_reads_its_number(client):
    assert client.get("/v1/wallet/nonce").status_code == 401


def test_a_payment_behind_one_that_failed_fails_too_and_the_number_is_free_again(
    client, runtime, coin, make_resident, arrange
):
    """The chain runs a wallet's key-1 payments in order: when the earlier one is skipped after both were accepted
    (its payee frozen meanwhile), the later one is skipped as nonce_ahead, says so, and moved nothing; the number
    goes back to the earlier one's."""
    alice, bob, carol = make_resident(coins=1_000), make_resident(), make_resident()
    runtime.stop_workers()
    first = _send(client, alice, sign(coin, alice.account, bob.address, 100, nonce=sequence_nonce(0)))
    second = _send(client, alice, sign(coin, alice.account, carol.address, 200, nonce=sequence_nonce(1)))
    assert (first.status_code, second.status_code) == (202, 202), (first.text, second.text)
    arrange.freeze(bob.address)
    runtime.start_workers()
    first_final, second_final = (_wait(client, alice, r.json()["id"]) for r in (first, second))
    assert (first_final["status"], first_final["failure_code"]) == ("failed", "recipient_frozen")
    assert (second_final["status"], second_final["failure_code"]) == ("failed", "nonce_ahead")
    assert arrange.balance(alice.address) == 1_000 and arrange.balance(carol.address) == 0
    assert _next(client, alice)["sequence"] == 0
    again = _send(client, alice, sign(coin, alice.account, carol.address, 200, nonce=sequence_nonce(0)))
    assert again.status_code == 202 and _wait(client, alice, again.json()["id"])["status"] == "confirmed"
