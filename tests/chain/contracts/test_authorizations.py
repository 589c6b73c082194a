"""ERC-3009 payments: single ``transferWithAuthorization`` and the batch relay with skips."""

from __future__ import annotations

import secrets
from dataclasses import replace

import pytest
from eth_account import Account

from chain.contracts import (
    Authorization,
    CoinBatcher,
    Kind,
    SkipReason,
    authorization_signer,
    batch_calldata,
    decode_batch_outcomes,
    make_nonce,
    split_nonce,
)
from chain.contracts.base import Call
from chain.contracts.coin import BatchOutcomeError
from protocol.points import month_of, month_start
from tests.chain.contracts.helpers import CARD, Chain, random32

ZERO = "0x" + "00" * 20


def _key() -> int:
    return secrets.randbits(192) | 1


# ---------------------------------------------------------------------------- single authorizations
def test_a_signed_authorization_moves_coins_once(evm: Chain) -> None:
    alice, merchant = evm.resident(1_000), evm.merchant()
    auth = evm.sign(alice, merchant.address, 250)
    assert authorization_signer(auth, evm.coin.domain()) == alice.address
    assert not evm.coin.authorization_state(alice.address, auth.nonce)
    receipt = evm.send(evm.coin.transfer_with_authorization_call(auth), evm.operator)  # relayer pays the gas
    (used,) = evm.coin.events(receipt, "AuthorizationUsed")
    assert (used["args"]["authorizer"], used["args"]["nonce"]) == (alice.address, auth.nonce)
    assert evm.coin.balance_of(merchant.address) == 250 and evm.coin.balance_of(alice.address) == 750
    assert evm.coin.authorization_state(alice.address, auth.nonce)
    # anyone may submit it, but only once
    evm.reverts(evm.coin.transfer_with_authorization_call(auth), merchant, "InvalidAccountNonce", account=alice.address)


def test_authorization_validity_window(evm: Chain) -> None:
    alice, merchant = evm.resident(1_000), evm.merchant()
    now = evm.now()
    expired = evm.sign(alice, merchant.address, 1, valid_before=now)
    evm.reverts(
        evm.coin.transfer_with_authorization_call(expired),
        evm.operator,
        "ERC3009InvalidAuthorizationTime",
        validAfter=0,
        validBefore=now,
    )
    early = evm.sign(alice, merchant.address, 1, valid_after=now + 600)
    evm.reverts(evm.coin.transfer_with_authorization_call(early), evm.operator, "ERC3009InvalidAuthorizationTime")
    evm.advance(601)
    evm.send(evm.coin.transfer_with_authorization_call(early), evm.operator)  # becomes valid in time


def test_tampered_or_foreign_signatures_are_refused(evm: Chain) -> None:
    alice, mallory, merchant = evm.resident(1_000), evm.resident(1_000), evm.merchant()
    auth = evm.sign(alice, merchant.address, 10)
    for forged in (
        replace(auth, value=11),
        replace(auth, to=mallory.address),
        replace(auth, valid_before=auth.valid_before + 1),
        replace(evm.sign(mallory, merchant.address, 10, nonce=auth.nonce), from_=alice.address),
    ):
        assert authorization_signer(forged, evm.coin.domain()) != alice.address
        evm.reverts(evm.coin.transfer_with_authorization_call(forged), evm.operator, "ERC3009InvalidSignature")
    assert evm.coin.balance_of(alice.address) == 1_000


def test_keyed_nonces_are_used_in_order_within_a_key(evm: Chain) -> None:
    alice, merchant = evm.resident(1_000), evm.merchant()
    key = _key()
    assert evm.coin.nonces(alice.address, key) == key << 64
    assert evm.coin.next_nonce(alice.address, key) == make_nonce(key, 0)
    ahead = evm.sign(alice, merchant.address, 1, nonce=make_nonce(key, 1))
    evm.reverts(
        evm.coin.transfer_with_authorization_call(ahead),
        evm.operator,
        "InvalidAccountNonce",
        account=alice.address,
        currentNonce=key << 64,
    )
    evm.send(
        evm.coin.transfer_with_authorization_call(evm.sign(alice, merchant.address, 1, nonce=make_nonce(key, 0))),
        evm.operator,
    )
    evm.send(evm.coin.transfer_with_authorization_call(ahead), evm.operator)
    assert split_nonce(evm.coin.nonces(alice.address, key)) == (key, 2)
    assert evm.coin.authorization_state(alice.address, make_nonce(key, 1))
    assert not evm.coin.authorization_state(alice.address, make_nonce(key, 2))
    # another key is independent
    other = _key()
    evm.send(
        evm.coin.transfer_with_authorization_call(evm.sign(alice, merchant.address, 1, nonce=make_nonce(other, 0))),
        evm.operator,
    )
    assert evm.coin.balance_of(merchant.address) == 3


def test_key_zero_belongs_to_permits_and_erc3009_refuses_it(evm: Chain) -> None:
    alice, merchant = evm.resident(1_000), evm.merchant()
    domain = evm.coin.domain().as_dict()
    permit_types = {
        "Permit": [
            {"name": "owner", "type": "address"},
            {"name": "spender", "type": "address"},
            {"name": "value", "type": "uint256"},
            {"name": "nonce", "type": "uint256"},
            {"name": "deadline", "type": "uint256"},
        ]
    }
    deadline = evm.now() + 3600
    message = {"owner": alice.address, "spender": merchant.address, "value": 5, "nonce": 0, "deadline": deadline}
    signed = alice.sign_typed_data(domain, permit_types, message)
    r, s = signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")
    permit = evm.coin.contract.encode_abi("permit", args=[alice.address, merchant.address, 5, deadline, signed.v, r, s])
    evm.send(Call(evm.coin.address, bytes.fromhex(permit[2:])), evm.operator)
    assert evm.coin.nonces(alice.address) == 1 and evm.coin.allowance(alice.address, merchant.address) == 5
    # ERC-3009 on key 0 is refused (its own error), whichever sequence, on every path: a permit and an
    # authorization can never cancel each other out
    for sequence in (0, 1):
        auth = evm.sign_key_zero(alice, merchant.address, 1, sequence)
        evm.reverts(evm.coin.transfer_with_authorization_call(auth), evm.operator, "RegionalCoinNonceKeyZero")
        assert evm.coin.screen_batch([auth], evm.operator) == [SkipReason.NONCE_KEY_ZERO]
    cancel_types = {"CancelAuthorization": [{"name": "authorizer", "type": "address"},
                                            {"name": "nonce", "type": "bytes32"}]}
    signed = alice.sign_typed_data(domain, cancel_types, {"authorizer": alice.address, "nonce": make_nonce(0, 1)})
    cancel = evm.coin.contract.encode_abi("cancelAuthorization",
                                          args=[alice.address, make_nonce(0, 1), bytes(signed.signature)])
    evm.reverts(Call(evm.coin.address, bytes.fromhex(cancel[2:])), evm.operator, "RegionalCoinNonceKeyZero")
    assert evm.coin.nonces(alice.address) == 1  # the permit's nonce did not move
    # and the wallet's signer never makes one
    with pytest.raises(ValueError, match="key 0"):
        evm.sign(alice, merchant.address, 1, nonce=make_nonce(0, 1))


def test_single_authorizations_go_through_the_transfer_hook(evm: Chain) -> None:
    alice, merchant = evm.resident(1_000), evm.merchant()
    evm.send(evm.coin.freeze_call(merchant.address), evm.operator)
    auth = evm.sign(alice, merchant.address, 1)
    evm.reverts(
        evm.coin.transfer_with_authorization_call(auth),
        evm.operator,
        "RegionalCoinFrozenAccount",
        account=merchant.address,
    )
    evm.send(evm.coin.unfreeze_call(merchant.address), evm.operator)
    evm.send(evm.registry.revoke_call(alice.address), evm.operator)
    evm.reverts(
        evm.coin.transfer_with_authorization_call(auth),
        evm.operator,
        "RegionalCoinUnverifiedAccount",
        account=alice.address,
    )
    to_zero = evm.sign(merchant, ZERO, 0)
    evm.reverts(evm.coin.transfer_with_authorization_call(to_zero), evm.operator, "ERC20InvalidReceiver")


# ---------------------------------------------------------------------------- batch relay
def test_batch_skips_invalid_items_and_applies_the_valid_ones(evm: Chain) -> None:
    """Every skip reason appears once among valid payments; each skipped nonce stays unused."""
    merchant, stranger = evm.merchant(), Account.create()
    payers = [evm.resident(10_000) for _ in range(17)]
    capped = evm.resident(100_000, level=CARD)  # at the CardAuthenticated cap
    frozen_payee = evm.resident()
    evm.send(evm.coin.freeze_call(payers[3].address), evm.operator)
    evm.send(evm.coin.freeze_call(frozen_payee.address), evm.operator)
    evm.send(evm.registry.revoke_call(payers[4].address), evm.operator)
    city = evm.city_account()
    evm.send(evm.coin.set_transfer_rule_call(Kind.RESIDENT, Kind.CITY, False), evm.admin)
    used = evm.sign(payers[5], merchant.address, 1)
    evm.send(evm.coin.transfer_with_authorization_call(used), evm.operator)
    # points: 5 that expire at the end of this JST month (payers[16]), 5 that pay merchants only (payers[15])
    month = month_of(evm.now())
    for payer, expiry in ((payers[15], month + 1), (payers[16], month)):
        evm.send(evm.coin.credit_points_call(payer.address, 5, expiry), evm.benefits)
    evm.mine_at(month_start(month + 1))

    now = evm.now()
    sign = evm.sign
    ahead_key = _key()
    same_key = _key()
    plan: list[tuple[Authorization, SkipReason]] = [
        (sign(payers[0], merchant.address, 100), SkipReason.NONE),
        (sign(payers[1], merchant.address, 100, valid_after=now + 1800), SkipReason.NOT_YET_VALID),
        (sign(payers[2], merchant.address, 100, valid_before=now - 10), SkipReason.EXPIRED),
        (replace(sign(payers[11], merchant.address, 100), from_=payers[6].address), SkipReason.INVALID_SIGNATURE),
        (sign(payers[5], merchant.address, 100, nonce=used.nonce), SkipReason.NONCE_USED),
        (sign(payers[7], merchant.address, 100, nonce=make_nonce(ahead_key, 1)), SkipReason.NONCE_AHEAD),
        (sign(payers[4], merchant.address, 100), SkipReason.SENDER_NOT_VERIFIED),
        (sign(payers[3], merchant.address, 100), SkipReason.SENDER_FROZEN),
        (sign(payers[8], stranger.address, 100), SkipReason.RECIPIENT_NOT_VERIFIED),
        (sign(payers[8], frozen_payee.address, 100), SkipReason.RECIPIENT_FROZEN),
        (sign(payers[9], city.address, 100), SkipReason.TRANSFER_NOT_ALLOWED),
        (sign(payers[10], merchant.address, 10_001), SkipReason.INSUFFICIENT_BALANCE),
        (sign(payers[12], capped.address, 1), SkipReason.BALANCE_CAP_EXCEEDED),
        (sign(payers[13], merchant.address, 100), SkipReason.NONE),
        (evm.sign_key_zero(payers[6], merchant.address, 100), SkipReason.NONCE_KEY_ZERO),
        (sign(payers[16], merchant.address, 10_005), SkipReason.POINTS_EXPIRED),
        (sign(payers[15], payers[0].address, 10_005), SkipReason.POINTS_NOT_TRANSFERABLE),
        # two payments with one key, in order, in the same batch: both go through
        (sign(payers[14], merchant.address, 7, nonce=make_nonce(same_key, 0)), SkipReason.NONE),
        (sign(payers[14], merchant.address, 8, nonce=make_nonce(same_key, 1)), SkipReason.NONE),
    ]
    # the first item again, later in the batch: its nonce was consumed by then
    plan.append((plan[0][0].with_ref(random32()), SkipReason.NONCE_USED))
    auths, expected = [a for a, _ in plan], [r for _, r in plan]
    assert set(SkipReason) == set(expected), "every reason is exercised"

    assert evm.coin.screen_batch(auths, evm.operator) == expected  # eth_call pre-screen
    balances = {p.address: evm.coin.balance_of(p.address) for p in payers}
    merchant_before, supply = evm.coin.balance_of(merchant.address), evm.coin.total_supply()

    batcher = CoinBatcher(evm.coin.address)
    items = [a.encode() for a in auths]
    receipt = evm.send(Call(evm.coin.address, batcher.encode(items)), evm.operator)

    results = decode_batch_outcomes(receipt, items, evm.coin.address)
    assert [r.reason for r in results] == expected
    assert [r.ref for r in results] == [a.ref for a in auths]
    outcomes = batcher.outcomes(receipt, items)
    assert [o.ok for o in outcomes] == [r is SkipReason.NONE for r in expected]
    assert [o.error_code for o in outcomes if not o.ok] == [r.label for r in expected if r is not SkipReason.NONE]
    assert outcomes[5].error_code == "NonceAhead" and outcomes[5].result is not None
    assert outcomes[5].result["nonce"] == "0x" + make_nonce(ahead_key, 1).hex()

    relayed = [a for a, r in plan if r is SkipReason.NONE]
    assert len(evm.coin.events(receipt, "Transfer")) == len(relayed)
    assert len(evm.coin.events(receipt, "AuthorizationUsed")) == len(relayed)
    assert evm.coin.balance_of(merchant.address) == merchant_before + 100 + 100 + 7 + 8
    assert evm.coin.total_supply() == supply
    for payer in payers:
        paid = sum(a.value for a in relayed if a.from_ == payer.address)
        assert evm.coin.balance_of(payer.address) == balances[payer.address] - paid
    for auth, reason in plan:
        state = evm.coin.authorization_state(auth.from_, auth.nonce)
        if reason is SkipReason.NONE or auth.nonce in (used.nonce, plan[0][0].nonce):
            assert state
        else:
            assert not state, f"the nonce of a {reason.name} item was consumed"


def test_malformed_signatures_and_zero_recipients_are_skipped_not_fatal(evm: Chain) -> None:
    alice, merchant = evm.resident(1_000), evm.merchant(100)
    good = evm.sign(alice, merchant.address, 1)
    secp256k1_n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    high_s = (secp256k1_n - int.from_bytes(good.s, "big")).to_bytes(32, "big")
    items = [
        replace(good, v=29),
        replace(good, s=b"\xff" * 32),
        replace(good, s=high_s, v=55 - good.v),  # the malleable twin: OpenZeppelin refuses high s
        replace(good, from_=ZERO),
        evm.sign(merchant, ZERO, 1),  # would be a burn: refused as an unverified recipient
        good,
    ]
    reasons = evm.coin.screen_batch(items, evm.operator)
    assert reasons == [SkipReason.INVALID_SIGNATURE] * 4 + [SkipReason.RECIPIENT_NOT_VERIFIED, SkipReason.NONE]
    receipt = evm.send(evm.coin.batch_call(items), evm.operator)
    assert [r.reason for r in evm.coin.batch_outcomes(receipt, items)] == reasons
    assert evm.coin.balance_of(merchant.address) == 101  # +1 from alice; its own zero-recipient item burnt nothing
    assert evm.coin.balance_of(alice.address) == 999


def test_batch_validity_window_boundaries(evm: Chain) -> None:
    alice, merchant = evm.resident(1_000), evm.merchant()
    now = evm.now()  # eth_call runs against the latest block's timestamp
    window = [
        (evm.sign(alice, merchant.address, 1, valid_after=now), SkipReason.NOT_YET_VALID),
        (evm.sign(alice, merchant.address, 1, valid_after=now - 1), SkipReason.NONE),
        (evm.sign(alice, merchant.address, 1, valid_before=now), SkipReason.EXPIRED),
        (evm.sign(alice, merchant.address, 1, valid_before=now + 1), SkipReason.NONE),
    ]
    assert evm.coin.screen_batch([a for a, _ in window], evm.operator) == [r for _, r in window]


def test_a_skipped_payment_blocks_later_ones_of_its_key_until_re_signed(evm: Chain) -> None:
    alice, merchant = evm.resident(100), evm.merchant()
    key = _key()
    too_much = evm.sign(alice, merchant.address, 500, nonce=make_nonce(key, 0))
    next_one = evm.sign(alice, merchant.address, 10, nonce=make_nonce(key, 1))
    receipt = evm.send(evm.coin.batch_call([too_much, next_one]), evm.operator)
    reasons = [r.reason for r in evm.coin.batch_outcomes(receipt, [too_much, next_one])]
    assert reasons == [SkipReason.INSUFFICIENT_BALANCE, SkipReason.NONCE_AHEAD]
    resigned = evm.sign(alice, merchant.address, 50, nonce=make_nonce(key, 0))
    receipt = evm.send(evm.coin.batch_call([resigned, next_one]), evm.operator)
    assert all(r.relayed for r in evm.coin.batch_outcomes(receipt, [resigned, next_one]))
    assert evm.coin.balance_of(merchant.address) == 60


def test_empty_batch_and_batch_events(evm: Chain) -> None:
    receipt = evm.send(evm.coin.batch_call([]), evm.operator)
    assert decode_batch_outcomes(receipt, [], evm.coin.address) == []
    alice, merchant = evm.resident(100), evm.merchant()
    auth = evm.sign(alice, merchant.address, 3)
    receipt = evm.send(evm.coin.batch_call([auth]), evm.operator)
    # a relayed item emits ERC-3009's AuthorizationUsed and the Transfer, nothing of its own
    (used,) = evm.coin.events(receipt, "AuthorizationUsed")
    assert (used["args"]["authorizer"], used["args"]["nonce"]) == (alice.address, auth.nonce)
    assert len(receipt["logs"]) == 2 and [r.ref for r in evm.coin.batch_outcomes(receipt, [auth])] == [auth.ref]
    receipt = evm.send(evm.coin.batch_call([auth]), evm.operator)
    (skipped,) = evm.coin.events(receipt, "AuthorizationSkipped")
    assert skipped["args"]["reason"] == SkipReason.NONCE_USED


def test_outcomes_refuse_a_receipt_of_other_items(evm: Chain) -> None:
    alice, merchant = evm.resident(100), evm.merchant()
    first, second = evm.sign(alice, merchant.address, 1), evm.sign(alice, merchant.address, 2)
    receipt = evm.send(evm.coin.batch_call([first]), evm.operator)
    batcher = CoinBatcher(evm.coin.address)
    with pytest.raises(BatchOutcomeError):
        batcher.outcomes(receipt, [second.encode()])
    with pytest.raises(BatchOutcomeError):
        batcher.outcomes(receipt, [first.encode(), second.encode()])
    with pytest.raises(BatchOutcomeError):  # events of another contract do not count
        decode_batch_outcomes(receipt, [first.encode()], evm.registry.address)


def test_batch_calldata_matches_the_abi_encoding(evm: Chain) -> None:
    alice, merchant = evm.resident(), evm.merchant()
    auths = [evm.sign(alice, merchant.address, v) for v in (1, 2, 3)]
    expected = evm.coin.contract.encode_abi("batchTransferWithAuthorization", args=[[a.as_tuple() for a in auths]])
    assert batch_calldata([a.encode() for a in auths]) == bytes.fromhex(expected[2:])
    assert evm.coin.batch_call(auths).data == bytes.fromhex(expected[2:])
    with pytest.raises(ValueError):
        batch_calldata([b"\x00" * 319])
