"""RegionalCoin's account word: coins, the key-1 sequence and the freeze in one storage slot per account.

What a payment costs rests on this layout (issue 14), so these tests read the raw storage as well as the
views: a packing bug that the views hide (a carry from coins into the sequence, a freeze written over the
balance) fails here.
"""

from __future__ import annotations

from eth_account import Account

from chain.contracts import SkipReason, make_nonce, sequence_nonce, split_nonce
from chain.contracts.authorization import SEQUENCE_KEY
from chain.contracts.base import Call
from tests.chain.contracts.helpers import RESIDENT_OF_CITY, YEAR, AccountWord, Chain, account_word_key, random32

MAX_COINS = AccountWord.COINS_MASK


def _fields(evm: Chain, account: str) -> tuple[int, int, int, int]:
    """(coins, sequence, freeze kind, every other bit) of the account's raw word."""
    word = evm.account_word(account)
    return word.coins, word.sequence, word.freeze, word.rest


def test_key_one_is_the_wallets_sequence_in_its_account_word(evm: Chain) -> None:
    alice, merchant = evm.resident(9_871), evm.merchant()
    assert evm.coin.nonces(alice.address, SEQUENCE_KEY) == SEQUENCE_KEY << 64
    assert _fields(evm, alice.address) == (9_871, 0, 0, 0)

    # ahead of the sequence: refused with the next nonce, in both paths
    ahead = evm.sign(alice, merchant.address, 10, nonce=sequence_nonce(1))
    evm.reverts(evm.coin.transfer_with_authorization_call(ahead), evm.operator, "InvalidAccountNonce",
                account=alice.address, currentNonce=SEQUENCE_KEY << 64)
    assert evm.coin.screen_batch([ahead], evm.operator) == [SkipReason.NONCE_AHEAD]

    # three payments of one wallet in one batch run in order; the sequence counts up in the same word
    signed = [evm.sign(alice, merchant.address, 10 * (n + 1), nonce=sequence_nonce(n)) for n in range(3)]
    receipt = evm.send(evm.coin.batch_call(signed), evm.operator)
    assert all(r.relayed for r in evm.coin.batch_outcomes(receipt, signed))
    assert split_nonce(evm.coin.nonces(alice.address, SEQUENCE_KEY)) == (SEQUENCE_KEY, 3)
    assert evm.coin.balance_of(alice.address) == 9_871 - 60
    assert _fields(evm, alice.address) == (9_811, 3, 0, 0)
    assert [evm.coin.authorization_state(alice.address, sequence_nonce(n)) for n in range(4)] == [True] * 3 + [False]

    # a replay is skipped as used; the merchant's word holds its coins and no sequence
    receipt = evm.send(evm.coin.batch_call(signed[:1]), evm.operator)
    assert [r.reason for r in evm.coin.batch_outcomes(receipt, signed[:1])] == [SkipReason.NONCE_USED]
    assert _fields(evm, merchant.address) == (60, 0, 0, 0)


def test_spending_the_whole_balance_does_not_touch_the_sequence(evm: Chain) -> None:
    alice, merchant = evm.resident(500), evm.merchant()
    first = evm.sign(alice, merchant.address, 500, nonce=sequence_nonce(0))
    evm.send(evm.coin.transfer_with_authorization_call(first), evm.operator)
    assert _fields(evm, alice.address) == (0, 1, 0, 0)
    # one coin more than the balance: no borrow into the sequence bits
    evm.reverts(evm.coin.transfer_call(merchant.address, 1), alice, "ERC20InsufficientBalance")
    evm.send(evm.coin.mint_call(alice.address, 7), evm.topup)
    assert _fields(evm, alice.address) == (7, 1, 0, 0)


def test_a_cancelled_key_one_nonce_moves_the_sequence(evm: Chain) -> None:
    alice, merchant = evm.resident(100), evm.merchant()
    domain = evm.coin.domain().as_dict()
    types = {"CancelAuthorization": [{"name": "authorizer", "type": "address"}, {"name": "nonce", "type": "bytes32"}]}
    signed = alice.sign_typed_data(domain, types, {"authorizer": alice.address, "nonce": sequence_nonce(0)})
    cancel = evm.coin.contract.encode_abi("cancelAuthorization",
                                          args=[alice.address, sequence_nonce(0), bytes(signed.signature)])
    evm.send(Call(evm.coin.address, bytes.fromhex(cancel[2:])), evm.operator)
    assert evm.coin.authorization_state(alice.address, sequence_nonce(0))
    stale = evm.sign(alice, merchant.address, 10, nonce=sequence_nonce(0))
    assert evm.coin.screen_batch([stale], evm.operator) == [SkipReason.NONCE_USED]
    assert evm.coin.balance_of(alice.address) == 100


def test_the_sequence_survives_revocation_re_attestation_and_freezes(evm: Chain) -> None:
    """Never reset: a reset would make the wallet's old key-1 signatures valid again."""
    alice, merchant = evm.resident(1_234, level=RESIDENT_OF_CITY), evm.merchant()
    paid = [evm.sign(alice, merchant.address, 1, nonce=sequence_nonce(n)) for n in range(2)]
    evm.send(evm.coin.batch_call(paid), evm.operator)
    subject = evm.subject_of(alice.address)
    evm.send(evm.registry.revoke_call(alice.address), evm.operator)
    evm.send(evm.registry.attest_call(alice.address, subject, RESIDENT_OF_CITY, evm.now() + YEAR, random32()),
             evm.operator)
    assert split_nonce(evm.coin.nonces(alice.address, SEQUENCE_KEY)) == (SEQUENCE_KEY, 2)
    assert evm.coin.screen_batch(paid[1:], evm.operator) == [SkipReason.NONCE_USED]

    evm.send(evm.coin.freeze_as_lost_call(alice.address), evm.freezer)
    assert _fields(evm, alice.address) == (1_232, 2, 2, 0)  # FreezeKind.ReportedLost = 2
    evm.send(evm.coin.unfreeze_call(alice.address), evm.freezer)
    assert _fields(evm, alice.address) == (1_232, 2, 0, 0)


def test_a_recovery_moves_the_coins_and_leaves_both_sequences(evm: Chain) -> None:
    lost, merchant = evm.resident(3_000, level=RESIDENT_OF_CITY), evm.merchant()
    evm.send(evm.coin.transfer_with_authorization_call(evm.sign(lost, merchant.address, 5, nonce=sequence_nonce(0))),
             evm.operator)
    new = Account.create()
    evm.recover(lost.address, new.address)
    assert _fields(evm, lost.address) == (0, 1, 0, 0)
    assert _fields(evm, new.address) == (2_995, 0, 0, 0)
    # the successor signs its own sequence from 0
    evm.send(evm.coin.transfer_with_authorization_call(evm.sign(new, merchant.address, 5, nonce=sequence_nonce(0))),
             evm.operator)
    assert evm.coin.balance_of(new.address) == 2_990


def test_other_keys_keep_their_own_slots(evm: Chain) -> None:
    alice, merchant = evm.resident(100), evm.merchant()
    key = 2**100 + 7
    evm.send(evm.coin.transfer_with_authorization_call(evm.sign(alice, merchant.address, 3, nonce=make_nonce(key, 0))),
             evm.operator)
    assert split_nonce(evm.coin.nonces(alice.address, key)) == (key, 1)
    assert _fields(evm, alice.address) == (97, 0, 0, 0)  # the word's sequence did not move


def test_no_account_can_hold_more_than_the_coins_field(evm: Chain) -> None:
    """2^40 - 1 coins (about 1.1 trillion yen) per account: a cap set above it is bounded by it, and what would
    not fit is refused, never truncated (and in a batch skipped, not fatal to the batch)."""
    evm.send(evm.coin.set_balance_cap_call(RESIDENT_OF_CITY, 2**64 - 1), evm.admin)
    assert evm.coin.balance_cap(RESIDENT_OF_CITY) == MAX_COINS
    evm.send(evm.coin.configure_minter_call(evm.topup, 2**41), evm.admin)
    rich = evm.resident(MAX_COINS, level=RESIDENT_OF_CITY)
    evm.reverts(evm.coin.mint_call(rich.address, 1), evm.topup, "RegionalCoinBalanceCapExceeded", cap=MAX_COINS)
    merchant = evm.merchant()
    evm.send(evm.coin.transfer_call(merchant.address, MAX_COINS), rich)
    bob = evm.resident(1)
    over = evm.sign(bob, merchant.address, 1, nonce=sequence_nonce(0))
    receipt = evm.send(evm.coin.batch_call([over]), evm.operator)
    assert [r.reason for r in evm.coin.batch_outcomes(receipt, [over])] == [SkipReason.BALANCE_CAP_EXCEEDED]
    evm.reverts(evm.coin.transfer_call(merchant.address, 1), bob, "RegionalCoinBalanceCapExceeded", cap=MAX_COINS)
    assert evm.coin.balance_of(merchant.address) == MAX_COINS and evm.coin.total_supply() >= MAX_COINS


def test_the_last_key_one_number_is_skipped_not_fatal(evm: Chain) -> None:
    """2^24 - 1 numbers per wallet; the last one cannot be used (the field is full): a batch skips it and runs its
    other items, the single call reverts with its own error."""
    alice, bob, merchant = evm.resident(1_000), evm.resident(1_000), evm.merchant()
    last = AccountWord.SEQUENCE_MASK
    slot = evm.accounts_slot()
    key = account_word_key(alice.address, slot)
    evm.rpc("anvil_setStorageAt", evm.coin.address, "0x" + key.hex(),
            "0x" + (1_000 | (last - 1) << AccountWord.SEQUENCE_SHIFT).to_bytes(32, "big").hex())
    assert _fields(evm, alice.address) == (1_000, last - 1, 0, 0)
    before_last = evm.sign(alice, merchant.address, 1, nonce=sequence_nonce(last - 1))
    evm.send(evm.coin.transfer_with_authorization_call(before_last), evm.operator)
    stuck = evm.sign(alice, merchant.address, 1, nonce=sequence_nonce(last))
    other = evm.sign(bob, merchant.address, 2, nonce=sequence_nonce(0))
    receipt = evm.send(evm.coin.batch_call([stuck, other]), evm.operator)
    assert [r.reason for r in evm.coin.batch_outcomes(receipt, [stuck, other])] == [SkipReason.NONCE_USED,
                                                                                    SkipReason.NONE]
    evm.reverts(evm.coin.transfer_with_authorization_call(stuck), evm.operator, "RegionalCoinSequenceExhausted")
    assert _fields(evm, alice.address) == (999, last, 0, 0)  # nothing carried into the bits above
    assert evm.coin.balance_of(merchant.address) == 3
