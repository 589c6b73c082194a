"""A lost wallet with coins in its offline reserve: the recovery moves the balance, not the reserve (held by
the reserve contract, released only to the payer, whom the recovery retires) — the resident is told so, plainly, in
the recovery's answer, instead of the coins being stranded without a word (see docs/offline.md)."""

from __future__ import annotations

from chain.contracts.base import send_call
from tests.procedures.conftest import wait_until
from tests.procedures.identity.conftest import KAGA_RESIDENTS, new_wallet
from tests.procedures.offline.conftest import reserve_json


def test_a_recovery_says_what_the_lost_wallets_offline_reserve_still_holds(api, issue, contracts, runtime):
    wait_until(lambda: runtime.registry.is_verified(runtime.reserve.address), 30, what="the reserve registered")
    card, lost, new = issue(KAGA_RESIDENTS[0]), new_wallet(), new_wallet()
    assert api.link(card, lost).status_code == 200
    send_call(runtime.w3, runtime.keys.topup_minter, contracts.coin.mint_call(lost.address, 1_000))
    reserved = api.client.post("/v1/wallet/offline/reserve", headers=api.login(lost),
                               json=reserve_json(runtime, lost, 400))
    assert reserved.status_code == 202, reserved.text
    wait_until(lambda: runtime.reserve.reserve_of(lost.address)[0] == 400, 30, what="the reserve on chain")

    response = api.recover(card, new, lost.address)
    assert response.status_code == 200, response.text
    note = response.json()["note"] or ""
    assert "offline reserve holds 400 coins" in note and "does not move them" in note, note
    assert "ask the city counter" in note and "not built yet" in note


def test_a_recovery_without_a_reserve_says_nothing_of_it(api, issue, contracts, runtime):
    card, lost, new = issue(KAGA_RESIDENTS[1]), new_wallet(), new_wallet()
    assert api.link(card, lost).status_code == 200
    response = api.recover(card, new, lost.address)
    assert response.status_code == 200, response.text
    assert "offline reserve" not in (response.json()["note"] or "")
