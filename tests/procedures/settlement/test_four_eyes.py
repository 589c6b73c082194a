"""Four eyes on money the city creates: a top-up over ``MACHI_TOPUP_FOUR_EYES_YEN`` waits for a second
staff member; the one who recorded it cannot approve it; the approval mints exactly once. Cash-receipt
references that are one receipt written twice are flagged by reconciliation."""

from __future__ import annotations

import pytest

from chain.outbox import TxIntent
from procedures.settlement.models import TopUp
from procedures.settlement.reconcile import receipt_key
from tests.procedures.conftest import wait_until


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"topup_four_eyes_yen": 20_000, "topup_bonus_bps": 0})


def _topup(client, headers, wallet, amount, reference):
    return client.post("/v1/admin/topups", headers=headers,
                       json={"wallet": wallet, "amount": amount, "channel": "counter", "reference": reference})


def _error(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_a_large_topup_waits_for_a_second_staff_member_and_mints_once(client, operator, second_operator,
                                                                     make_resident, arrange, runtime):
    resident = make_resident()
    recorded = _topup(client, operator, resident.address, 50_000, "slip-4e-1")
    assert recorded.status_code == 201, recorded.text
    topup = recorded.json()
    assert (topup["status"], topup["approved_by"]) == ("awaiting", None)
    with runtime.sessions() as session:
        assert session.get(TopUp, topup["id"]).intent_id is None  # nothing on its way to the chain
    assert _error(client.post(f"/v1/admin/topups/{topup['id']}/approve", headers=operator)) == (
        403, "same_staff_member")
    approved = client.post(f"/v1/admin/topups/{topup['id']}/approve", headers=second_operator)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "pending"
    assert approved.json()["approved_by"].startswith("operator:")
    assert approved.json()["approved_by"] != approved.json()["operator"]  # both recorded
    assert _error(client.post(f"/v1/admin/topups/{topup['id']}/approve", headers=second_operator)) == (
        409, "not_awaiting_approval")
    wait_until(lambda: client.get(f"/v1/admin/topups/{topup['id']}", headers=operator).json()["status"]
               == "confirmed", what="the approved mint")
    assert arrange.balance(resident.address) == 50_000
    with runtime.sessions() as session:
        mints = session.query(TxIntent).filter(TxIntent.reference == f"topup:{topup['id']}").count()
    assert mints == 1


def test_a_small_topup_is_minted_at_once(client, operator, make_resident, arrange):
    resident = make_resident()
    topup = _topup(client, operator, resident.address, 20_000, "slip-4e-2").json()
    assert topup["status"] == "pending" and topup["approved_by"] is None
    wait_until(lambda: arrange.balance(resident.address) == 20_000, what="the mint")


def test_an_approval_rechecks_the_wallet(client, operator, second_operator, make_resident, arrange, runtime):
    resident = make_resident()
    topup = _topup(client, operator, resident.address, 30_000, "slip-4e-3").json()
    frozen = client.post(f"/v1/admin/wallets/{resident.address}/freeze", headers=operator)
    assert frozen.status_code == 202
    wait_until(lambda: runtime.coin.is_frozen(resident.address), what="the freeze")
    refused = client.post(f"/v1/admin/topups/{topup['id']}/approve", headers=second_operator)
    assert _error(refused) == (409, "recipient_frozen")
    assert client.get(f"/v1/admin/topups/{topup['id']}", headers=operator).json()["status"] == "awaiting"
    assert arrange.balance(resident.address) == 0


def test_the_same_cash_receipt_written_twice_is_flagged(client, operator, make_resident):
    resident = make_resident()
    first = _topup(client, operator, resident.address, 1_000, "ATM-012").json()
    second = _topup(client, operator, resident.address, 1_000, "ａｔｍ　０１２").json()  # full-width, the same slip
    other = _topup(client, operator, resident.address, 1_000, "ATM-013").json()
    assert len({first["id"], second["id"], other["id"]}) == 3
    report = client.get("/v1/admin/reconciliation", headers=operator).json()
    flagged = [p for p in report["record_problems"] if "cash receipt" in p["problem"]]
    assert flagged == [{"type": "topup", "id": f"{first['id']}, {second['id']}",
                        "problem": "one cash receipt, 2 top-ups"}]
    assert report["ok"] is False


def test_receipt_keys_fold_width_case_spaces_and_dashes():
    assert receipt_key("ＡＴＭ－０１２") == receipt_key("atm 012") == receipt_key("ATM-012") == "atm012"
    assert receipt_key("ATM-012") != receipt_key("ATM-021")
