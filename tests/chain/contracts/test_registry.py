"""IdentityRegistry state paths: attest, register, renew, revoke, suspend, rebind (the coin's), expiry."""

from __future__ import annotations

from eth_account import Account

from chain.contracts import AssuranceLevel, IdentityStatus, Kind, RevocationReason
from tests.chain.contracts.helpers import CARD, RESIDENT_OF_CITY, YEAR, Chain, random32, unchecked_call

ZERO = "0x" + "00" * 20


def test_attest_records_the_resident_and_binds_the_subject(evm: Chain) -> None:
    wallet, subject, evidence = Account.create().address, random32(), random32()
    expires = evm.now() + YEAR
    receipt = evm.send(evm.registry.attest_call(wallet, subject, RESIDENT_OF_CITY, expires, evidence), evm.operator)

    (event,) = evm.registry.events(receipt, "Attested")
    assert event["args"]["wallet"] == wallet and event["args"]["subjectKey"] == subject
    assert (event["args"]["kind"], event["args"]["level"]) == (Kind.RESIDENT, RESIDENT_OF_CITY)
    assert event["args"]["expiresAt"] == expires and event["args"]["evidence"] == evidence
    assert evm.registry.is_verified(wallet)
    assert evm.registry.status(wallet) == IdentityStatus(Kind.RESIDENT, RESIDENT_OF_CITY, True)
    record = evm.registry.record_of(wallet)
    assert record.live and not record.retired
    assert record.holds_subject(subject) and record.holds_evidence(evidence) and record.expires_at == expires
    assert (record.subject_tag, record.evidence_tag) == (subject[:16], evidence[:8])
    assert record.revocation_reason is RevocationReason.NONE
    assert evm.registry.wallet_of(subject) == wallet
    assert evm.registry.successor_of(wallet) is None


def test_unknown_wallets_are_not_verified(evm: Chain) -> None:
    stranger = Account.create().address
    assert not evm.registry.is_verified(stranger)
    assert evm.registry.status(stranger) == IdentityStatus(Kind.NONE, AssuranceLevel.NONE, False)
    assert not evm.registry.record_of(stranger).exists
    assert evm.registry.wallet_of(random32()) is None


def test_merchants_and_city_accounts_have_no_level(evm: Chain) -> None:
    merchant, city = evm.merchant(), evm.city_account()
    assert evm.registry.status(merchant.address) == IdentityStatus(Kind.MERCHANT, AssuranceLevel.NONE, True)
    assert evm.registry.status(city.address) == IdentityStatus(Kind.CITY, AssuranceLevel.NONE, True)


def test_attest_validates_its_input(evm: Chain) -> None:
    taken = evm.resident()
    taken_subject = evm.subject_of(taken.address)
    fresh, later, op = Account.create().address, evm.now() + YEAR, evm.operator
    attest = evm.registry.attest_call
    evm.reverts(attest(fresh, bytes(32), CARD, later, random32()), op, "IdentityRegistryInvalidSubjectKey")
    evm.reverts(
        attest(fresh, random32(), AssuranceLevel.NONE, later, random32()),
        op,
        "IdentityRegistryInvalidLevel",
        kind=Kind.RESIDENT,
        level=AssuranceLevel.NONE,
    )
    evm.reverts(
        attest(fresh, random32(), CARD, evm.now(), random32()), op, "IdentityRegistryInvalidExpiry", expiresAt=evm.now()
    )
    evm.reverts(attest(ZERO, random32(), CARD, later, random32()), op, "IdentityRegistryInvalidWallet", wallet=ZERO)
    evm.reverts(
        attest(taken.address, random32(), CARD, later, random32()),
        op,
        "IdentityRegistryWalletAlreadyAttested",
        wallet=taken.address,
    )
    evm.reverts(
        attest(fresh, taken_subject, CARD, later, random32()),
        op,
        "IdentityRegistrySubjectAlreadyBound",
        subjectKey=taken_subject,
        wallet=taken.address,
    )
    # a merchant cannot carry a resident level, and its wallet cannot be attested as a resident too
    merchant = evm.merchant()
    evm.reverts(
        attest(merchant.address, random32(), CARD, later, random32()), op, "IdentityRegistryWalletAlreadyAttested"
    )


def test_renew_changes_level_expiry_and_evidence(evm: Chain) -> None:
    alice = evm.resident(level=CARD)
    expires, evidence = evm.now() + 2 * YEAR, random32()
    receipt = evm.send(evm.registry.renew_call(alice.address, RESIDENT_OF_CITY, expires, evidence), evm.operator)
    (event,) = evm.registry.events(receipt, "Renewed")
    assert event["args"]["level"] == RESIDENT_OF_CITY and event["args"]["expiresAt"] == expires
    record = evm.registry.record_of(alice.address)
    assert (record.level, record.expires_at) == (RESIDENT_OF_CITY, expires) and record.holds_evidence(evidence)
    assert event["args"]["evidence"] == evidence


def test_renew_refuses_bad_levels_and_unknown_or_revoked_wallets(evm: Chain) -> None:
    alice, merchant, op = evm.resident(), evm.merchant(), evm.operator
    later = evm.now() + YEAR
    evm.reverts(
        evm.registry.renew_call(alice.address, AssuranceLevel.NONE, later, random32()),
        op,
        "IdentityRegistryInvalidLevel",
        kind=Kind.RESIDENT,
        level=AssuranceLevel.NONE,
    )
    evm.reverts(
        evm.registry.renew_call(merchant.address, CARD, later, random32()),
        op,
        "IdentityRegistryInvalidLevel",
        kind=Kind.MERCHANT,
        level=CARD,
    )
    evm.send(evm.registry.renew_call(merchant.address, AssuranceLevel.NONE, later, random32()), op)
    evm.reverts(
        evm.registry.renew_call(alice.address, CARD, evm.now(), random32()), op, "IdentityRegistryInvalidExpiry"
    )
    stranger = Account.create().address
    evm.reverts(
        evm.registry.renew_call(stranger, CARD, later, random32()), op, "IdentityRegistryNotAttested", wallet=stranger
    )
    evm.send(evm.registry.revoke_call(alice.address), op)
    evm.reverts(
        evm.registry.renew_call(alice.address, CARD, later, random32()),
        op,
        "IdentityRegistryNotAttested",
        wallet=alice.address,
    )


def test_expiry_is_checked_by_the_registry_and_renew_revives(evm: Chain) -> None:
    alice = evm.resident(expires_in=1000)
    expires = evm.registry.record_of(alice.address).expires_at
    evm.mine_at(expires - 1)
    assert evm.registry.is_verified(alice.address)
    evm.mine_at(expires)  # the first second at which the record is no longer valid
    assert not evm.registry.is_verified(alice.address)
    assert evm.registry.status(alice.address) == IdentityStatus(Kind.RESIDENT, CARD, False)
    record = evm.registry.record_of(alice.address)
    assert record.live and not record.verified_at(evm.now())
    # expired but live: still holds its subject
    evm.reverts(
        evm.registry.attest_call(Account.create().address, evm.subject_of(alice.address), CARD, evm.now() + YEAR,
                                 random32()),
        evm.operator,
        "IdentityRegistrySubjectAlreadyBound",
    )
    evm.send(evm.registry.renew_call(alice.address, CARD, evm.now() + YEAR, random32()), evm.operator)
    assert evm.registry.is_verified(alice.address)


def test_revoke_frees_the_subject_and_says_nothing_of_why(evm: Chain) -> None:
    alice = evm.resident()
    subject = evm.subject_of(alice.address)
    receipt = evm.send(evm.registry.revoke_call(alice.address), evm.operator)
    (event,) = evm.registry.events(receipt, "Revoked")
    assert dict(event["args"]) == {"wallet": alice.address}  # no reason: it is personal; no subject either
    assert len(receipt["logs"][0]["data"]) == 0 and len(receipt["logs"][0]["topics"]) == 2
    record = evm.registry.record_of(alice.address)
    assert record.revocation_reason is RevocationReason.REVOKED
    assert not record.live and not evm.registry.is_verified(alice.address)
    evm.reverts(evm.registry.revoke_call(alice.address), evm.operator, "IdentityRegistryNotAttested")
    # the subject may now be bound again, to another wallet or (moving back) the same one
    again = Account.create().address
    evm.send(evm.registry.attest_call(again, subject, CARD, evm.now() + YEAR, random32()), evm.operator)
    assert evm.registry.wallet_of(subject) == again
    assert evm.registry.successor_of(alice.address) == again


def test_revoke_takes_no_reason_in_its_calldata(evm: Chain) -> None:
    (revoke,) = [f for f in evm.registry.contract.abi if f.get("name") == "revoke"]
    assert [i["type"] for i in revoke["inputs"]] == ["address"]
    (event,) = [e for e in evm.registry.contract.abi if e.get("type") == "event" and e["name"] == "Revoked"]
    assert [i["name"] for i in event["inputs"]] == ["wallet"]


def test_a_revoked_wallet_may_come_back(evm: Chain) -> None:
    alice = evm.resident()
    subject = evm.subject_of(alice.address)
    evm.send(evm.registry.revoke_call(alice.address), evm.operator)
    evm.send(
        evm.registry.attest_call(alice.address, subject, RESIDENT_OF_CITY, evm.now() + YEAR, random32()), evm.operator
    )
    assert evm.registry.status(alice.address) == IdentityStatus(Kind.RESIDENT, RESIDENT_OF_CITY, True)
    assert evm.registry.successor_of(alice.address) is None


def test_suspend_and_reinstate_a_merchant(evm: Chain) -> None:
    merchant, alice = evm.merchant(), evm.resident(1_000)
    key = evm.subject_of(merchant.address)
    evm.send(evm.registry.suspend_merchant_call(merchant.address), evm.operator)
    assert evm.registry.record_of(merchant.address).revocation_reason is RevocationReason.SUSPENDED
    assert not evm.registry.is_verified(merchant.address)
    evm.reverts(
        evm.coin.transfer_call(merchant.address, 1), alice, "RegionalCoinUnverifiedAccount", account=merchant.address
    )
    evm.reverts(
        evm.registry.suspend_merchant_call(alice.address),
        evm.operator,
        "IdentityRegistryNotMerchant",
        wallet=alice.address,
    )
    evm.send(evm.registry.register_merchant_call(merchant.address, key, evm.now() + YEAR, random32()), evm.operator)
    assert evm.registry.is_verified(merchant.address)
    evm.send(evm.coin.transfer_call(merchant.address, 1), alice)


def test_rebind_moves_the_subject_and_retires_the_old_wallet(evm: Chain) -> None:
    lost = evm.resident(level=RESIDENT_OF_CITY)
    before = evm.registry.record_of(lost.address)
    new, evidence = Account.create().address, random32()
    receipt = evm.rebind(lost.address, new, evidence)

    (revoked,) = evm.registry.events(receipt, "Revoked")
    assert revoked["args"]["wallet"] == lost.address
    (rebound,) = evm.registry.events(receipt, "Rebound")
    assert (rebound["args"]["oldWallet"], rebound["args"]["newWallet"]) == (lost.address, new)
    assert rebound["args"]["evidence"] == evidence
    after = evm.registry.record_of(new)
    assert (after.kind, after.level, after.expires_at) == (before.kind, before.level, before.expires_at)
    assert after.holds_evidence(evidence) and after.subject_tag == before.subject_tag
    old = evm.registry.record_of(lost.address)
    assert old.retired and not old.live and not evm.registry.is_verified(lost.address)
    assert old.revocation_reason is RevocationReason.REBOUND
    assert evm.registry.wallet_of(evm.subject_of(lost.address)) == new
    assert evm.registry.successor_of(lost.address) == new
    assert evm.registry.successor_of(new) is None
    # a retired wallet never comes back, not even with another subject
    evm.reverts(
        evm.registry.attest_call(lost.address, random32(), CARD, evm.now() + YEAR, random32()),
        evm.operator,
        "IdentityRegistryWalletRetired",
        wallet=lost.address,
    )
    evm.reverts(unchecked_call(evm.registry, "checkRebind", new, lost.address), evm.operator,
                "IdentityRegistryWalletRetired")


def test_rebind_is_the_coins_alone(evm: Chain) -> None:
    lost = evm.resident()
    call = unchecked_call(evm.registry, "rebind", lost.address, Account.create().address, random32())
    for key in (evm.operator, evm.admin):  # the registrar and even the admin cannot move an identity at once
        evm.reverts(call, key, "AccessControlUnauthorizedAccount")
    assert evm.registry.has_role(evm.registry.RECOVERY_ROLE, evm.coin.address)


def test_rebind_refuses_unbound_wallets_and_taken_ones(evm: Chain) -> None:
    alice, bob = evm.resident(), evm.resident()
    check = lambda lost, new: unchecked_call(evm.registry, "checkRebind", lost, new)  # noqa: E731
    stranger = Account.create().address
    evm.reverts(check(stranger, Account.create().address), evm.operator, "IdentityRegistryNotAttested",
                wallet=stranger)
    evm.reverts(check(alice.address, bob.address), evm.operator, "IdentityRegistryWalletAlreadyAttested",
                wallet=bob.address)
    evm.reverts(check(alice.address, alice.address), evm.operator, "IdentityRegistryWalletAlreadyAttested")
    evm.reverts(check(alice.address, ZERO), evm.operator, "IdentityRegistryInvalidWallet")
    evm.send(evm.registry.revoke_call(alice.address), evm.operator)
    evm.reverts(check(alice.address, Account.create().address), evm.operator, "IdentityRegistryNotAttested")


def test_rebind_of_an_expired_record_keeps_it_expired(evm: Chain) -> None:
    lost = evm.resident(expires_in=1000)
    evm.advance(2000)
    new = Account.create().address
    evm.rebind(lost.address, new)
    assert evm.registry.status(new) == IdentityStatus(Kind.RESIDENT, CARD, False)
    evm.send(evm.registry.renew_call(new, CARD, evm.now() + YEAR, random32()), evm.operator)
    assert evm.registry.is_verified(new)


def test_a_chain_of_rebinds_points_every_lost_wallet_at_the_current_one(evm: Chain) -> None:
    first = evm.resident()
    subject = evm.subject_of(first.address)
    second, third = Account.create().address, Account.create().address
    evm.rebind(first.address, second)
    evm.rebind(second, third)
    assert evm.registry.successor_of(first.address) == third
    assert evm.registry.successor_of(second) == third
    assert evm.registry.wallet_of(subject) == third
    assert [evm.registry.is_verified(w) for w in (first.address, second, third)] == [False, False, True]


def test_a_wallet_re_attested_for_another_subject_frees_the_first(evm: Chain) -> None:
    """The subject map keeps the last wallet per subject tag; a tag only counts while that wallet's record carries
    it, so a wallet that came back under another subject leaves no stale binding behind."""
    alice = evm.resident()
    first, second = evm.subject_of(alice.address), random32()
    evm.send(evm.registry.revoke_call(alice.address), evm.operator)
    evm.send(evm.registry.attest_call(alice.address, second, CARD, evm.now() + YEAR, random32()), evm.operator)
    assert evm.registry.wallet_of(second) == alice.address and evm.registry.wallet_of(first) is None
    assert evm.registry.successor_of(alice.address) is None
    other = Account.create().address
    evm.send(evm.registry.attest_call(other, first, CARD, evm.now() + YEAR, random32()), evm.operator)
    assert evm.registry.wallet_of(first) == other


def test_subject_keys_must_differ_in_their_first_16_bytes(evm: Chain) -> None:
    """What the record keeps of a subject key: a key without them is refused, and two keys that share them are
    one subject (the city's HMAC keys never do; a test that they cannot be told apart on chain)."""
    alice = evm.resident()
    subject = evm.subject_of(alice.address)
    twin = subject[:16] + bytes(16)
    assert evm.registry.wallet_of(twin) == alice.address
    evm.reverts(evm.registry.attest_call(Account.create().address, twin, CARD, evm.now() + YEAR, random32()),
                evm.operator, "IdentityRegistrySubjectAlreadyBound")
    evm.reverts(evm.registry.attest_call(Account.create().address, bytes(16) + subject[16:], CARD,
                                         evm.now() + YEAR, random32()), evm.operator,
                "IdentityRegistryInvalidSubjectKey")
