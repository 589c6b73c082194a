"""After the link: lost-wallet recovery (with the balance), renewal, and revocation by the city."""

from __future__ import annotations

from datetime import datetime

import pytest

from chain.contracts.base import send_call
from chain.contracts.coin import FreezeKind
from chain.contracts.registry import AssuranceLevel, RevocationReason
from chain.outbox import TxIntent
from procedures.auth.service import create_staff
from procedures.crypto import RecordErased
from procedures.identity.models import IdentitySubject, RevokeReason, WalletIdentity
from protocol.eip712 import sign_typed
from tests.procedures.conftest import let_recovery_run, wait_until
from tests.procedures.identity.conftest import KAGA_RESIDENTS, OTHER_CITY, error_of, new_wallet


def _mint(runtime, contracts, wallet: str, amount: int) -> None:
    send_call(runtime.w3, runtime.keys.topup_minter, contracts.coin.mint_call(wallet, amount))


def test_recovery_is_requested_then_executed_after_the_delay(api, issue, contracts, runtime):
    card, lost, new = issue(KAGA_RESIDENTS[0]), new_wallet(), new_wallet()
    linked = api.link(card, lost).json()
    _mint(runtime, contracts, lost.address, 12_345)
    assert contracts.coin.balance_of(lost.address) == 12_345

    response = api.recover(card, new, lost.address)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["wallet"] == new.address and body["recovered_from"] == lost.address
    assert body["status"] == "recovering" and body["operation"]["status"] == "confirmed"
    assert [i["kind"] for i in body["operation"]["intents"]] == ["coin.request_recovery"]
    pending = contracts.coin.pending_recovery(lost.address)
    assert pending.successor == new.address and pending.eta - contracts.coin.block_time() >= 72 * 3600 - 5
    assert datetime.fromisoformat(body["recovery_eta"]).timestamp() == pending.eta
    # announced, nothing moved yet: the lost wallet keeps identity and coins until the eta
    assert contracts.coin.balance_of(lost.address) == 12_345 and contracts.registry.is_verified(lost.address)
    assert not contracts.registry.record_of(new.address).exists
    with runtime.sessions() as session:
        assert session.get(WalletIdentity, linked["id"]).status == "linked"
    assert error_of(api.recover(card, new_wallet(), lost.address)) == (409, "recovery_pending")

    row = let_recovery_run(runtime, body["id"])
    assert row.status == "linked"
    assert contracts.coin.balance_of(new.address) == 12_345
    assert contracts.coin.balance_of(lost.address) == 0
    old_record, new_record = contracts.registry.record_of(lost.address), contracts.registry.record_of(new.address)
    assert old_record.revocation_reason == RevocationReason.REBOUND and not contracts.registry.is_verified(lost.address)
    assert new_record.subject_tag == old_record.subject_tag and new_record.level == AssuranceLevel.RESIDENT_OF_CITY
    assert contracts.registry.is_verified(new.address)
    polled = api.poll(body["id"], new).json()
    assert [i["kind"] for i in polled["operation"]["intents"]] == ["coin.request_recovery", "coin.execute_recovery"]
    assert polled["operation"]["status"] == "confirmed"

    with runtime.sessions() as session:
        old_row = session.get(WalletIdentity, linked["id"])
        assert (old_row.status, old_row.rebound_to) == ("rebound", new.address)
        assert session.query(IdentitySubject).count() == 1
    # the lost wallet is retired: it can never be linked again, and the old statement cannot be replayed
    assert error_of(api.link(issue(OTHER_CITY), lost)) == (409, "wallet_retired")


def test_recovery_refusals(api, issue):
    card, lost, new = issue(KAGA_RESIDENTS[1]), new_wallet(), new_wallet()
    assert error_of(api.recover(card, new, lost.address)) == (404, "subject_not_linked")
    assert api.link(card, lost).status_code == 200
    assert error_of(api.recover(card, new, new_wallet().address)) == (409, "lost_wallet_mismatch")
    assert error_of(api.recover(issue(KAGA_RESIDENTS[2]), new, lost.address)) == (404, "subject_not_linked")
    assert error_of(api.recover(card, lost, lost.address)) == (409, "lost_wallet_mismatch")


def test_recovery_needs_the_signing_certificate(api, issue, contracts):
    """The authentication certificate (card + 4-digit PIN) links, but never moves coins."""
    card, lost, new = issue(KAGA_RESIDENTS[1]), new_wallet(), new_wallet()
    assert api.link(card, lost).status_code == 200
    body = api.body(card, new, api.challenge(new.address, "recover"), signing=False)
    response = api.post("recover", {**body, "lost_wallet": lost.address})
    assert error_of(response) == (403, "signing_certificate_required")
    assert not contracts.coin.pending_recovery(lost.address).pending
    assert api.recover(card, new, lost.address).status_code == 200  # with the signing certificate: requested


def test_recovery_refused_while_frozen_unless_reported_lost(api, issue, contracts, runtime, operator,
                                                            second_operator):
    card, lost = issue(KAGA_RESIDENTS[2]), new_wallet()
    assert api.link(card, lost).status_code == 200
    wallets = "/v1/admin/wallets"
    assert api.client.post(f"{wallets}/{lost.address}/freeze", headers=operator).status_code == 202
    wait_until(lambda: contracts.coin.is_frozen(lost.address), what="the freeze")
    wait_until(lambda: api.client.get(f"{wallets}/{lost.address}", headers=operator).json()["pending"] is None,
               what="the relayer to record the freeze's receipt")  # until then an unfreeze is refused (409)
    assert error_of(api.recover(card, new_wallet(), lost.address)) == (409, "lost_wallet_frozen")
    asked = api.client.post(f"{wallets}/{lost.address}/unfreeze", headers=operator)
    assert asked.status_code == 202  # four eyes: another staff member approves
    assert api.client.post(f"/v1/admin/wallet_actions/{asked.json()['id']}/approve",
                           headers=second_operator).status_code == 202
    wait_until(lambda: not contracts.coin.is_frozen(lost.address), what="the unfreeze")
    wait_until(lambda: api.client.get(f"{wallets}/{lost.address}", headers=operator).json()["pending"] is None,
               what="the relayer to record the unfreeze's receipt")
    reported = api.client.post(f"{wallets}/{lost.address}/freeze", json={"reported_lost": True}, headers=operator)
    assert reported.status_code == 202 and reported.json()["action"] == "freeze_lost"
    wait_until(lambda: contracts.coin.freeze_kind(lost.address) is FreezeKind.REPORTED_LOST, what="the freeze")
    response = api.recover(card, new_wallet(), lost.address)
    assert response.status_code == 200 and response.json()["status"] == "recovering"


def test_the_old_wallet_cancels_its_recovery(api, issue, contracts, runtime):
    """A phone found again (or a recovery its owner never asked for): the lost wallet's signature stops it."""
    card, lost, new = issue(KAGA_RESIDENTS[3]), new_wallet(), new_wallet()
    assert api.link(card, lost).status_code == 200
    requested = api.recover(card, new, lost.address).json()
    old = api.login(lost)
    pending = api.client.get("/v1/identity/recovery", headers=old)
    assert pending.status_code == 200, pending.text
    body = pending.json()
    assert (body["lost_wallet"], body["new_wallet"], body["cancel_requested"]) == (lost.address, new.address, False)
    assert datetime.fromisoformat(body["eta"]) == datetime.fromisoformat(requested["recovery_eta"])
    typed = body["cancel_typed_data"]
    # the new wallet sees the pending recovery too, but has nothing to sign
    assert api.client.get("/v1/identity/recovery", headers=api.login(new)).json()["cancel_typed_data"] is None
    stranger = sign_typed(new_wallet(), typed)
    assert error_of(api.client.post("/v1/identity/recovery/cancel", json={"signature": stranger},
                                    headers=old)) == (422, "invalid_signature")
    cancelled = api.client.post("/v1/identity/recovery/cancel", json={"signature": sign_typed(lost, typed)},
                                headers=old)
    assert cancelled.status_code == 202, cancelled.text
    wait_until(lambda: not contracts.coin.pending_recovery(lost.address).pending, what="the cancellation on chain")

    def folded():
        with runtime.sessions() as session:
            return session.get(WalletIdentity, requested["id"]).status == "cancelled"

    wait_until(folded, what="the cancellation folded back")
    assert contracts.registry.is_verified(lost.address) and not contracts.registry.record_of(new.address).exists
    assert error_of(api.client.get("/v1/identity/recovery", headers=old)) == (404, "no_pending_recovery")
    # the person may recover again later (to another wallet)
    assert api.recover(card, new_wallet(), lost.address).json()["status"] == "recovering"


def test_renew_with_a_renewed_card_keeps_the_subject(api, issue, id_ca, contracts, runtime):
    card, wallet = issue(OTHER_CITY), new_wallet()
    first = api.link(card, wallet).json()
    before = contracts.registry.record_of(wallet.address)
    with runtime.sessions() as session:
        row = session.get(WalletIdentity, first["id"])
        old_key, old_blob = row.evidence_key_id, row.evidence
    renewed = id_ca.renew(card)  # new serials, old certificates revoked, J-LIS linkage old → new
    assert error_of(api.link(card, new_wallet())) == (403, "certificate_revoked")
    assert error_of(api.link(renewed, new_wallet())) == (409, "subject_already_linked")  # same person

    response = api.renew(renewed, wallet)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == first["id"] and body["operation"]["intents"][0]["kind"] == "registry.renew"
    after = contracts.registry.record_of(wallet.address)
    assert after.subject_tag == before.subject_tag
    assert after.evidence_tag != before.evidence_tag and after.holds_evidence(body["evidence_commitment"])
    assert after.expires_at >= before.expires_at and contracts.registry.is_verified(wallet.address)

    service = api.client.app.state.identity_service
    with runtime.sessions() as session:
        # the previous evidence bundle was crypto-erased; the new one opens
        with pytest.raises(RecordErased):
            runtime.vault.open(session, old_key, old_blob, aad=f"identity-evidence|{first['id']}".encode())
        assert service.open_evidence(session, first["id"])["verification"]["level"] == 1


def test_renew_refusals(api, issue):
    card, wallet = issue(KAGA_RESIDENTS[3]), new_wallet()
    assert error_of(api.renew(card, wallet)) == (404, "identity_not_found")
    assert api.link(card, wallet).status_code == 200
    assert error_of(api.renew(issue(KAGA_RESIDENTS[0]), wallet)) == (403, "subject_mismatch")


def test_admin_revokes_clerk_and_resident_cannot(api, issue, contracts, runtime):
    card, wallet = issue(KAGA_RESIDENTS[0]), new_wallet()
    assert api.link(card, wallet).status_code == 200
    with runtime.sessions() as session, session.begin():
        create_staff(session, runtime.vault, username="admin1", password="admin password 1", role="admin")
        create_staff(session, runtime.vault, username="clerk1", password="clerk password 1", role="clerk",
                     department="shimin")

    def staff(username: str, password: str) -> dict[str, str]:
        token = api.client.post("/v1/auth/staff/token", json={"username": username, "password": password}).json()
        return {"Authorization": f"Bearer {token['access_token']}"}

    body = {"wallet": wallet.address, "reason": "moved_out"}
    for headers in (staff("clerk1", "clerk password 1"), api.login(wallet)):
        assert error_of(api.client.post("/v1/identity/admin/revoke", json=body, headers=headers)) == (
            403, "role_required")
    assert api.client.post("/v1/identity/admin/revoke", json=body).status_code == 401
    admin = staff("admin1", "admin password 1")
    bad = api.client.post("/v1/identity/admin/revoke", json={**body, "reason": "rebound"}, headers=admin)
    assert error_of(bad) == (422, "invalid_parameter")

    response = api.client.post("/v1/identity/admin/revoke", params={"wait": "true"}, json=body, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "revoked" and response.json()["revocation_reason"] == "moved_out"
    record = contracts.registry.record_of(wallet.address)
    # the chain learns that it was revoked, never why (moving out is a personal fact)
    assert record.revocation_reason == RevocationReason.REVOKED and not contracts.registry.is_verified(wallet.address)
    again = api.client.post("/v1/identity/admin/revoke", json=body, headers=admin)
    assert error_of(again) == (404, "identity_not_found")
    # the subject is free again: moving back in, the same person links a new wallet
    assert api.link(card, new_wallet()).status_code == 200


def test_attestation_refused_on_chain_frees_the_subject(api, issue, contracts, runtime, keys):
    registry, deployer = contracts.registry, keys.admin
    card, wallet = issue(KAGA_RESIDENTS[1]), new_wallet()
    send_call(runtime.w3, deployer, registry.revoke_role_call("REGISTRAR_ROLE", runtime.keys.registrar.address))
    response = api.link(card, wallet)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "failed" and body["operation"]["status"] == "failed"
    assert body["operation"]["intents"][0]["error_code"] == "AccessControlUnauthorizedAccount"
    assert not registry.record_of(wallet.address).exists

    send_call(runtime.w3, deployer, registry.grant_role_call("REGISTRAR_ROLE", runtime.keys.registrar.address))
    assert api.link(card, wallet).status_code == 200  # same person, same wallet: linked this time
    assert registry.is_verified(wallet.address)


def test_malformed_addresses_are_4xx(api, issue, runtime):
    card, wallet = issue(KAGA_RESIDENTS[2]), new_wallet()
    assert api.link(card, wallet).status_code == 200
    assert error_of(api.recover(card, new_wallet(), "0xnot-an-address")) == (422, "invalid_parameter")
    with runtime.sessions() as session, session.begin():
        create_staff(session, runtime.vault, username="admin2", password="admin password 2", role="admin")
    token = api.client.post("/v1/auth/staff/token", json={"username": "admin2", "password": "admin password 2"})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    bad = api.client.post("/v1/identity/admin/revoke", json={"wallet": "nope", "reason": "requested"}, headers=headers)
    assert error_of(bad) == (422, "invalid_parameter")
    assert error_of(api.client.get("/v1/identity/links/nope", headers=headers)) == (404, "identity_not_found")


def test_a_refused_repeat_of_an_attestation_that_took_effect_is_no_failure(api, issue, runtime):
    """Relaying is at least once: when a repeated attest is refused because the first one took effect,
    the identity stays linked and the subject stays bound (as on chain)."""
    card, wallet = issue(KAGA_RESIDENTS[3]), new_wallet()
    body = api.link(card, wallet).json()
    with runtime.sessions() as session, session.begin():
        intent = session.get(TxIntent, body["operation"]["intents"][0]["id"])
        intent.status, intent.error_code = "failed", "IdentityRegistryWalletAlreadyAttested"
    polled = api.poll(body["id"], wallet).json()
    assert polled["status"] == "linked" and polled["operation"]["status"] == "confirmed"
    assert polled["operation"]["intents"][0]["status"] == "failed"  # the outbox's own record is shown as is
    assert error_of(api.link(card, new_wallet())) == (409, "subject_already_linked")


def test_revocation_the_resident_requested_erases_their_evidence(api, issue, runtime):
    """Every evidence bundle of the person goes (key deletion) — the wallet they revoke and the one they lost
    before; a revocation for another reason keeps it (docs/privacy.md, Retention)."""
    card, lost, wallet = issue(KAGA_RESIDENTS[2]), new_wallet(), new_wallet()
    first = api.link(card, lost).json()
    second = api.recover(card, wallet, lost.address).json()
    let_recovery_run(runtime, second["id"])
    other_card, other_wallet = issue(KAGA_RESIDENTS[3]), new_wallet()
    other = api.link(other_card, other_wallet).json()
    service = api.client.app.state.identity_service

    with runtime.sessions() as session, session.begin():
        service.revoke(session, other_wallet.address, RevokeReason.MOVED_OUT, actor="staff:1")
        service.revoke(session, wallet.address, RevokeReason.REQUESTED, actor="staff:1")
    with runtime.sessions() as session:
        for identity in (first, second):
            with pytest.raises(RecordErased):
                service.open_evidence(session, identity["id"])
        assert service.open_evidence(session, other["id"])["verification"]["level"] == 2  # moved out: kept
        row = session.get(WalletIdentity, second["id"])
        assert (row.status, row.revocation_reason) == ("revoked", "requested")
        subject = session.get(IdentitySubject, row.subject_id)
    # Still one person: linking again finds the same subject (its card-serial hashes were kept).
    again = api.link(card, new_wallet())
    assert again.status_code == 200, again.text
    with runtime.sessions() as session:
        assert session.get(WalletIdentity, again.json()["id"]).subject_id == subject.id
