"""``OfflineReserve`` on a real chain: coins reserved with the resident's own signature; offline payments settled
later, each once and only within the reserve (a reserve spent at two merchants pays exactly one, the other
refused with a reason, the batch never reverting); a release only after its delay, and payments signed before
it still settle within their validity."""

from __future__ import annotations

import secrets

import pytest
from eth_account.signers.local import LocalAccount

from chain.contracts.authorization import random_nonce
from chain.contracts.reserve import (
    OfflineReserveClient,
    Refusal,
    deploy_reserve,
    sign_receive_authorization,
    sign_release_request,
)
from protocol.offline import OfflinePayment, sign_offline_payment
from tests.chain.contracts.helpers import YEAR, Chain, random32

DELAY = 4 * 24 * 3600


@pytest.fixture
def reserve(evm: Chain, w3, compiled, keys) -> OfflineReserveClient:
    """A reserve for the session's coin, registered as a city account, the test relayer allowed to relay."""
    deployed = deploy_reserve(w3, keys.deployer, compiled, evm.coin.address, DELAY)
    evm.send(deployed.grant_relayer_call(evm.operator), evm.admin)
    evm.send(evm.registry.register_city_account_call(deployed.address, random32(), evm.now() + YEAR, random32()),
             evm.operator)
    return deployed


def _reserve(evm: Chain, reserve: OfflineReserveClient, payer: LocalAccount, amount: int) -> None:
    nonce = random_nonce()  # the coin's keyed nonces: a fresh key, sequence 0
    signature = sign_receive_authorization(payer, evm.coin.domain(), reserve.address, amount, valid_after=0,
                                           valid_before=evm.now() + 600, nonce=nonce)
    evm.send(reserve.reserve_call(payer.address, amount, valid_after=0, valid_before=evm.now() + 600, nonce=nonce,
                                  signature=signature), evm.operator)


def _pay(evm: Chain, reserve: OfflineReserveClient, payer: LocalAccount, merchant: str, amount: int,
         valid_for: int = 3600) -> OfflinePayment:
    return sign_offline_payment(bytes(payer.key), chain_id=evm.w3.eth.chain_id, reserve=reserve.address,
                                merchant=merchant, amount=amount, valid_before=evm.now() + valid_for)


def test_reserved_coins_pay_offline_payments_once(evm: Chain, reserve: OfflineReserveClient) -> None:
    alice, shop = evm.resident(5_000), evm.merchant()
    _reserve(evm, reserve, alice, 3_000)
    assert reserve.reserve_of(alice.address) == (3_000, 0)
    assert (evm.coin.balance_of(alice.address), evm.coin.balance_of(reserve.address)) == (2_000, 3_000)
    one, two = _pay(evm, reserve, alice, shop.address, 1_200), _pay(evm, reserve, alice, shop.address, 800)
    batch = [one.to_tuple(), two.to_tuple()]
    assert reserve.screen_batch(batch, evm.operator) == [Refusal.NONE, Refusal.NONE]
    evm.send(reserve.settle_batch_call(batch), evm.operator)
    assert evm.coin.balance_of(shop.address) == 2_000 and reserve.reserve_of(alice.address) == (1_000, 0)
    assert reserve.is_nonce_used(alice.address, bytes.fromhex(one.nonce[2:]))
    assert reserve.screen_batch([one.to_tuple()], evm.operator) == [Refusal.NONCE_USED]  # relayed twice: paid once


def test_a_reserve_spent_at_two_merchants_pays_exactly_one(evm: Chain, reserve: OfflineReserveClient) -> None:
    alice, first, second = evm.resident(5_000), evm.merchant(), evm.merchant()
    _reserve(evm, reserve, alice, 1_000)
    at_first = _pay(evm, reserve, alice, first.address, 1_000)
    at_second = _pay(evm, reserve, alice, second.address, 1_000)  # the same reserve, offline, elsewhere
    evm.send(reserve.settle_batch_call([at_first.to_tuple(), at_second.to_tuple()]), evm.operator)
    assert evm.coin.balance_of(first.address) == 1_000 and evm.coin.balance_of(second.address) == 0
    assert reserve.screen_batch([at_second.to_tuple()], evm.operator) == [Refusal.INSUFFICIENT_RESERVE]
    refused = reserve.contract.events.OfflinePaymentRefused.get_logs(from_block=0)
    assert [(e.args.merchant, e.args.reason) for e in refused] == [(second.address, Refusal.INSUFFICIENT_RESERVE)]


def test_tampered_expired_and_foreign_payments_are_refused(evm: Chain, reserve: OfflineReserveClient) -> None:
    alice, mallory, shop = evm.resident(5_000), evm.resident(5_000), evm.merchant()
    _reserve(evm, reserve, alice, 2_000)
    good = _pay(evm, reserve, alice, shop.address, 500)
    tampered = OfflinePayment(**{**good.to_json(), "amount": 1_500})
    by_mallory = _pay(evm, reserve, mallory, shop.address, 500)
    claimed = OfflinePayment(**{**by_mallory.to_json(), "payer": alice.address})  # mallory signs "as alice"
    expired = _pay(evm, reserve, alice, shop.address, 500, valid_for=60)
    not_a_merchant = _pay(evm, reserve, alice, evm.resident().address, 100)
    evm.advance(120)
    batch = [tampered.to_tuple(), claimed.to_tuple(), expired.to_tuple(), not_a_merchant.to_tuple(), good.to_tuple()]
    assert reserve.screen_batch(batch, evm.operator) == [
        Refusal.INVALID_SIGNATURE, Refusal.INVALID_SIGNATURE, Refusal.EXPIRED, Refusal.NONE, Refusal.NONE]
    evm.send(reserve.settle_batch_call(batch), evm.operator)
    # residents pay residents too: the coin's policy, not the reserve's
    assert evm.coin.balance_of(shop.address) == 500 and reserve.reserve_of(alice.address)[0] == 1_400
    evm.reverts(reserve.settle_batch_call([good.to_tuple()]), alice.address, "AccessControlUnauthorizedAccount",
                account=alice.address)


def test_a_frozen_merchant_is_refused_without_reverting_the_batch(evm: Chain, reserve: OfflineReserveClient) -> None:
    alice, frozen, shop = evm.resident(5_000), evm.merchant(), evm.merchant()
    _reserve(evm, reserve, alice, 1_000)
    evm.send(evm.coin.freeze_call(frozen.address), evm.operator)
    items = [_pay(evm, reserve, alice, frozen.address, 400).to_tuple(),
             _pay(evm, reserve, alice, shop.address, 400).to_tuple()]
    assert reserve.screen_batch(items, evm.operator) == [Refusal.MERCHANT_REFUSED, Refusal.NONE]
    evm.send(reserve.settle_batch_call(items), evm.operator)
    assert reserve.reserve_of(alice.address) == (600, 0) and evm.coin.balance_of(shop.address) == 400


def test_a_release_takes_its_delay_and_never_races_payments_in_flight(evm: Chain,
                                                                      reserve: OfflineReserveClient) -> None:
    alice, shop = evm.resident(5_000), evm.merchant()
    _reserve(evm, reserve, alice, 2_000)
    in_flight = _pay(evm, reserve, alice, shop.address, 700, valid_for=3 * 24 * 3600)
    nonce = secrets.token_bytes(32)
    chain_id = evm.w3.eth.chain_id
    forged = sign_release_request(evm.resident(), chain_id, reserve.address, nonce)
    evm.reverts(reserve.request_release_call(alice.address, nonce, forged), evm.operator,
                "OfflineReserveInvalidSignature", payer=alice.address)
    evm.send(reserve.request_release_call(alice.address, nonce, sign_release_request(alice, chain_id,
                                                                                    reserve.address, nonce)),
             evm.operator)
    amount, release_at = reserve.reserve_of(alice.address)
    assert amount == 2_000 and release_at == evm.now() + DELAY
    evm.reverts(reserve.release_call(alice.address), evm.operator, "OfflineReserveReleaseNotDue",
                payer=alice.address, releaseAt=release_at)
    evm.advance(2 * 24 * 3600)
    evm.send(reserve.settle_batch_call([in_flight.to_tuple()]), evm.operator)  # the merchant relays within validity
    assert evm.coin.balance_of(shop.address) == 700
    evm.advance(2 * 24 * 3600 + 60)
    evm.send(reserve.release_call(alice.address), evm.operator)
    assert reserve.reserve_of(alice.address) == (0, 0) and evm.coin.balance_of(alice.address) == 3_000 + 1_300
    evm.reverts(reserve.release_call(alice.address), evm.operator, "OfflineReserveNoRelease", payer=alice.address)
