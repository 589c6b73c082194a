"""The way back, wired explicitly: what each final intent runs, and a runtime that was not wired
refusing to start relayers that would settle nothing."""

from __future__ import annotations

import pytest

from procedures import wiring
from procedures.applications import money
from procedures.applications import records as application_records
from procedures.civic import clerks as civic_clerks
from procedures.merchants import accounts, payment_requests, refunds
from procedures.runtime import NotWired, Runtime
from procedures.settlement import payouts, points, topups


def test_an_unwired_runtime_refuses_to_run_hooks_and_workers(settings, engine):
    runtime = Runtime.create(settings, engine=engine, run_migrations=False)
    assert not runtime.wired
    with pytest.raises(NotWired):
        runtime.start_workers()
    with pytest.raises(NotWired):
        runtime.run_startup_hooks()
    assert wiring.wire(runtime) is runtime and runtime.wired
    hooks = runtime.hooks
    assert wiring.wire(runtime).hooks is hooks  # wiring twice keeps the first hooks


def test_every_final_intent_finds_its_handler_by_kind_or_prefix(settings, engine):
    hooks = wiring.wire(Runtime.create(settings, engine=engine, run_migrations=False)).hooks
    assert hooks.final_handler("merchant.register") is accounts.on_merchant_intent_final
    assert hooks.final_handler("merchant.suspend") is accounts.on_merchant_intent_final
    assert hooks.final_handler("payout.redeem") is payouts.on_payout_intent_final
    assert hooks.final_handler("topup.mint") is topups.on_topup_final
    assert hooks.final_handler(topups.POINTS_KIND) is topups.on_topup_final
    assert hooks.final_handler(money.BENEFIT_KIND) is money.on_benefit_final
    assert hooks.final_handler("transfer") is not None
    assert hooks.final_handler(civic_clerks.REWARD_KIND) is civic_clerks.on_reward_final
    assert hooks.final_handler("registry.register_city") is None  # nothing comes back for it
    assert hooks.final_handler(points.SWEEP_KIND) is None  # the next sweep reads the chain again
    assert set(hooks.workers) == {"chain.indexer", "applications.anchorer", "applications.deadlines",
                                  "applications.retention", "merchants.expiry", "merchants.webhooks",
                                  "auth.challenges.purge", "auth.logins.purge", "merchants.idempotency.purge",
                                  "civic.adopter", "identity.recoveries", "identity.crl_sweep", "points.sweep",
                                  "points.notices"}
    assert wiring.replaced_hooks() == [application_records.follow_wallet]
    assert wiring.transfer_hooks() == {
        payment_requests.PURPOSE: payment_requests.on_payment_final, refunds.PURPOSE: refunds.on_refund_final,
        payouts.PURPOSE: payouts.on_payout_transfer_final, money.FEE_PURPOSE: money.on_fee_final,
        money.REFUND_PURPOSE: money.on_refund_final,
    }
