"""A reserve top-up the relayer has queued but the chain does not show yet counts against the payer like a
payment in progress: the same coins cannot also pay online (nor the other way round) — the API refuses with
``insufficient_balance`` instead of letting one of the two fail on chain later."""

from __future__ import annotations

from chain.node import rpc_call
from tests.procedures.conftest import sign, wait_until
from tests.procedures.offline.conftest import reserve_json
from tests.procedures.transfers.test_transfers import _send


def _held_back(anvil, runtime) -> None:
    """No blocks until told: what the relayer sends stays in the mempool (the test's isolation re-enables it)."""
    wait_until(lambda: runtime.registry.is_verified(runtime.reserve.address), 30, what="the reserve registered")
    rpc_call(anvil.url, "evm_setAutomine", [False])


def _mined(client, resident, anvil, reserved: int) -> None:
    rpc_call(anvil.url, "evm_setAutomine", [True])
    rpc_call(anvil.url, "evm_mine")
    wait_until(lambda: client.get("/v1/wallet/offline", headers=resident.headers).json()["reserved"] == reserved,
               30, what="the reserve on chain")


def test_a_reserve_in_flight_is_not_spent_online_too(client, runtime, coin, make_resident, anvil, arrange):
    alice, bob = make_resident(coins=1_000), make_resident()
    _held_back(anvil, runtime)
    reserved = client.post("/v1/wallet/offline/reserve", headers=alice.headers,
                           json=reserve_json(runtime, alice.account, 1_000))
    assert reserved.status_code == 202, reserved.text
    balance = client.get("/v1/wallet/balance", headers=alice.headers).json()
    assert (balance["balance"], balance["pending_out"], balance["available"]) == (1_000, 1_000, 0)

    paid = _send(client, alice, sign(coin, alice.account, bob.address, 1))
    assert paid.status_code == 409 and paid.json()["error"]["code"] == "insufficient_balance", paid.text

    _mined(client, alice, anvil, 1_000)
    assert arrange.balance(alice.address) == 0 and arrange.balance(bob.address) == 0

    def settled():  # the top-up stays in progress until the relayer has seen its receipt (a moment later)
        balance = client.get("/v1/wallet/balance", headers=alice.headers).json()
        return balance if balance["pending_out"] == 0 else None

    balance = wait_until(settled, 30, what="the relayer seeing the reserve's receipt")
    assert (balance["balance"], balance["available"]) == (0, 0)


def test_a_payment_in_flight_is_not_reserved_too(client, runtime, coin, make_resident, anvil, arrange):
    alice, bob = make_resident(coins=1_000), make_resident()
    _held_back(anvil, runtime)
    paid = _send(client, alice, sign(coin, alice.account, bob.address, 600))
    assert paid.status_code == 202, paid.text
    too_much = client.post("/v1/wallet/offline/reserve", headers=alice.headers,
                           json=reserve_json(runtime, alice.account, 500))
    assert too_much.status_code == 409 and too_much.json()["error"]["code"] == "insufficient_balance", too_much.text
    fits = client.post("/v1/wallet/offline/reserve", headers=alice.headers,
                       json=reserve_json(runtime, alice.account, 400))
    assert fits.status_code == 202, fits.text  # exactly what is left

    _mined(client, alice, anvil, 400)
    wait_until(lambda: arrange.balance(bob.address) == 600, 30, what="the payment on chain")
    assert arrange.balance(alice.address) == 0
