"""Freezing a wallet on the coin through the admin API: queued for the relayer (FREEZER_ROLE), audited
with the operator's id, refused with one error shape when it makes no sense."""

from __future__ import annotations

from eth_account import Account

from chain.contracts.registry import Kind
from procedures.operator.models import WalletAction
from tests.procedures.conftest import sign, wait_until


def _error(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_freeze_blocks_the_wallet_on_chain_and_unfreeze_lifts_it(client, operator, second_operator, make_resident,
                                                                  coin, runtime):
    resident, other = make_resident(coins=5_000), make_resident()
    wallet = resident.address
    queued = client.post(f"/v1/admin/wallets/{wallet.lower()}/freeze", headers=operator,
                         json={"reason": "カード紛失の届出"})
    assert queued.status_code == 202, queued.text
    body = queued.json()
    assert (body["wallet"], body["action"], body["reason"]) == (wallet, "freeze", "カード紛失の届出")
    assert body["operator"].startswith("operator:") and body["status"] in ("queued", "pending", "confirmed")
    wait_until(lambda: coin.is_frozen(wallet), what="the freeze on chain")
    # a frozen wallet can no longer pay: the coin itself refuses
    refused = client.post("/v1/transfers", headers=resident.headers,
                          json={"authorization": _auth(coin, resident, other.address, 100)})
    assert _error(refused) == (409, "sender_frozen"), refused.text

    def recorded():  # the relayer records the receipt just after the block that froze the wallet
        body = client.get(f"/v1/admin/wallets/{wallet}", headers=operator).json()
        return body if body["actions"][0]["status"] == "confirmed" else None

    state = wait_until(recorded, what="the relayer to record the receipt")
    assert state["frozen"] is True and state["pending"] is None
    assert [(a["action"], a["status"]) for a in state["actions"]] == [("freeze", "confirmed")]
    assert state["actions"][0]["tx_hash"]

    assert _error(client.post(f"/v1/admin/wallets/{wallet}/freeze", headers=operator)) == (409, "already_frozen")
    asked = client.post(f"/v1/admin/wallets/{wallet}/unfreeze", headers=operator, json={"reason": "本人確認済み"})
    assert asked.status_code == 202 and asked.json()["status"] == "awaiting"
    assert coin.is_frozen(wallet)  # four eyes: nothing queued yet
    own = client.post(f"/v1/admin/wallet_actions/{asked.json()['id']}/approve", headers=operator)
    assert _error(own) == (403, "same_staff_member")
    assert _error(client.post(f"/v1/admin/wallets/{wallet}/unfreeze", headers=second_operator)) == (
        409, "wallet_action_pending")
    approved = client.post(f"/v1/admin/wallet_actions/{asked.json()['id']}/approve", headers=second_operator)
    assert approved.status_code == 202, approved.text
    assert approved.json()["approved_by"].startswith("operator:") and approved.json()["approved_by"] != (
        asked.json()["operator"])
    again = client.post(f"/v1/admin/wallet_actions/{asked.json()['id']}/approve", headers=second_operator)
    assert _error(again) == (409, "not_awaiting_approval")
    wait_until(lambda: not coin.is_frozen(wallet), what="the unfreeze on chain")
    wait_until(lambda: client.get(f"/v1/admin/wallets/{wallet}", headers=operator).json()["pending"] is None,
               what="the relayer to record the receipt")
    assert _error(client.post(f"/v1/admin/wallets/{wallet}/unfreeze", headers=operator)) == (409, "not_frozen")
    actions = client.get(f"/v1/admin/wallets/{wallet}", headers=operator).json()["actions"]
    assert [a["action"] for a in actions] == ["unfreeze", "freeze"]


def _auth(coin, resident, to, value):
    from tests.procedures.conftest import auth_json

    return auth_json(sign(coin, resident.account, to, value))


def test_a_second_action_waits_for_the_first(client, operator, runtime):
    wallet = Account.create().address
    runtime.stop_workers()  # nothing reaches the chain: the first freeze stays queued
    assert client.post(f"/v1/admin/wallets/{wallet}/freeze", headers=operator).status_code == 202
    assert client.get(f"/v1/admin/wallets/{wallet}", headers=operator).json()["pending"] == "freeze"
    assert _error(client.post(f"/v1/admin/wallets/{wallet}/freeze", headers=operator)) == (
        409, "wallet_action_pending")
    with runtime.sessions() as session:
        assert session.query(WalletAction).count() == 1


def test_refusals_have_the_error_shape(client, operator, make_resident, runtime, coin):
    settlement = runtime.keys.settlement.address
    wait_until(lambda: runtime.registry.status(settlement).kind is Kind.CITY, what="the settlement account")
    assert _error(client.post(f"/v1/admin/wallets/{settlement}/freeze", headers=operator)) == (409, "city_account")
    assert _error(client.post("/v1/admin/wallets/0x1234/freeze", headers=operator)) == (422, "invalid_parameter")
    assert _error(client.get("/v1/admin/wallets/not-a-wallet", headers=operator)) == (422, "invalid_parameter")
    wallet = Account.create().address
    too_long = client.post(f"/v1/admin/wallets/{wallet}/freeze", headers=operator, json={"reason": "x" * 201})
    assert _error(too_long) == (422, "invalid_parameter")
    assert _error(client.post(f"/v1/admin/wallets/{wallet}/freeze", headers=operator,
                              json={"reason": "x", "extra": 1})) == (422, "invalid_parameter")
    resident = make_resident()
    assert _error(client.post(f"/v1/admin/wallets/{wallet}/freeze", headers=resident.headers))[0] == 403
    assert _error(client.post(f"/v1/admin/wallets/{wallet}/freeze"))[0] == 401
    assert not coin.is_frozen(wallet) and not coin.is_frozen(settlement)
    with runtime.sessions() as session:
        assert session.query(WalletAction).count() == 0


def test_recovery_endpoints_need_a_recovery(client, operator):
    wallet = Account.create().address
    assert _error(client.get(f"/v1/admin/wallets/{wallet}/recovery", headers=operator)) == (404, "no_recovery")
    assert _error(client.post(f"/v1/admin/wallets/{wallet}/recovery/retry", headers=operator)) == (
        404, "no_recovery")
