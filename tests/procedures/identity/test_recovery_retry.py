"""A recovery whose execution failed when due (the new wallet was frozen): nothing moved, the admin API
shows why, refuses a retry that would fail again, and retries the execution once the cause is fixed."""

from __future__ import annotations

import pytest

from chain.contracts.base import send_call
from procedures.auth.service import create_staff
from procedures.identity.models import WalletIdentity
from procedures.operator.models import WalletAction
from tests.procedures.conftest import let_recovery_run, wait_until
from tests.procedures.identity.conftest import KAGA_RESIDENTS, error_of, new_wallet


def _until(predicate, what: str):
    return wait_until(predicate, 30.0, what=what)


def test_a_failed_balance_move_is_retried_once_the_wallet_is_unfrozen(api, issue, contracts, runtime,
                                                                      second_operator):
    with runtime.sessions() as session, session.begin():
        create_staff(session, runtime.vault, username="admin3", password="admin password 3", role="admin")
    token = api.client.post("/v1/auth/staff/token", json={"username": "admin3", "password": "admin password 3"})
    admin = {"Authorization": f"Bearer {token.json()['access_token']}"}
    card, lost, new = issue(KAGA_RESIDENTS[3]), new_wallet(), new_wallet()
    assert api.link(card, lost).status_code == 200
    send_call(runtime.w3, runtime.keys.topup_minter, contracts.coin.mint_call(lost.address, 8_000))
    wallets = "/v1/admin/wallets"

    assert api.client.post(f"{wallets}/{new.address}/freeze", headers=admin).status_code == 202
    _until(lambda: api.client.get(f"{wallets}/{new.address}", headers=admin).json()["actions"][0]["status"]
           == "confirmed", "the freeze")
    recovered = api.recover(card, new, lost.address)
    assert recovered.status_code == 200 and recovered.json()["operation"]["status"] == "confirmed"
    state = api.client.get(f"{wallets}/{new.address}/recovery", headers=admin).json()
    assert (state["move"], state["blocker"]) == (None, "not_due")  # announced, waiting for its delay
    assert state["eta"] is not None
    with pytest.raises(AssertionError, match="execution"):  # due: executed, refused on chain, still pending
        let_recovery_run(runtime, recovered.json()["id"], timeout=5)
    _until(lambda: (api.client.get(f"{wallets}/{new.address}/recovery", headers=admin).json()["move"] or {})
           .get("status") == "failed", "the refused execution")

    for wallet in (new.address, lost.address):  # either wallet finds the recovery
        state = api.client.get(f"{wallets}/{wallet}/recovery", headers=admin).json()
        assert (state["lost_wallet"], state["new_wallet"]) == (lost.address, new.address)
        assert state["rebind"]["status"] == "confirmed" and state["move"]["status"] == "failed"
        assert state["move"]["error_code"] == "RegionalCoinFrozenAccount"
        assert (state["lost_balance"], state["can_retry"], state["blocker"]) == (8_000, False, "wallet_frozen")
    assert error_of(api.client.post(f"{wallets}/{new.address}/recovery/retry", headers=admin)) == (
        409, "recovery_retry_refused")

    asked = api.client.post(f"{wallets}/{new.address}/unfreeze", headers=admin)
    assert asked.status_code == 202  # four eyes: another staff member approves
    assert api.client.post(f"/v1/admin/wallet_actions/{asked.json()['id']}/approve",
                           headers=second_operator).status_code == 202
    _until(lambda: not contracts.coin.is_frozen(new.address), "the unfreeze")
    assert api.client.get(f"{wallets}/{lost.address}/recovery", headers=admin).json()["can_retry"] is True
    retried = api.client.post(f"{wallets}/{lost.address}/recovery/retry", headers=admin)
    assert retried.status_code == 202, retried.text
    assert (retried.json()["action"], retried.json()["wallet"]) == ("recover_retry", new.address)
    _until(lambda: contracts.coin.balance_of(new.address) == 8_000, "the balance move")
    assert contracts.coin.balance_of(lost.address) == 0 and contracts.registry.successor_of(lost.address) == new.address
    done = _until(lambda: (lambda s: s if s["move"]["status"] == "confirmed" else None)(
        api.client.get(f"{wallets}/{new.address}/recovery", headers=admin).json()), "the receipt")
    assert (done["blocker"], done["can_retry"]) == ("move_confirmed", False)
    # the identity's own view reports the retried move; the operator is in the audit trail
    assert api.poll(recovered.json()["id"], new).json()["operation"]["status"] == "confirmed"
    with runtime.sessions() as session:
        row = session.get(WalletIdentity, recovered.json()["id"])
        action = session.query(WalletAction).filter_by(action="recover_retry").one()
        assert row.recover_intent_id == action.intent_id and action.operator.startswith("operator:")
    assert error_of(api.client.post(f"{wallets}/{new.address}/recovery/retry", headers=admin)) == (
        409, "recovery_retry_refused")
