"""The way back from the chain, in one place: what runs when an outbox intent is final, what runs
at start-up, which workers run beside the relayers, and which credential kinds the API accepts.

A payment goes *to* the chain by imports (route → service → ``chain.outbox.enqueue`` → relayer).
It comes *back* through the tables here: the relayer calls ``Runtime.on_final`` with the final
intent; the runtime looks its kind up in ``final_handlers()``; a ``transfer`` intent settles the
transfer (``transfers.final_handler``) and then runs the hook of the transfer's purpose from
``transfer_hooks()`` — the payment request, refund, payout or application fee it pays for.

``procedures.app.create_app`` and ``machi worker relayer`` call ``wire``; nothing registers
itself at import time.
"""

from __future__ import annotations

from functools import partial

from procedures import sweeps
from procedures.applications import anchoring, jobs, money, points_notices
from procedures.applications import records as application_records
from procedures.auth import service as auth
from procedures.auth.deps import TokenResolver
from procedures.civic import clerks as civic_clerks
from procedures.identity import crl_sweep, recovery
from procedures.indexing import indexer_worker
from procedures.merchants import accounts, api_keys, idempotency, payment_requests, refunds, webhook_delivery
from procedures.offline import service as offline
from procedures.runtime import FinalHandler, Hooks, Runtime, StartupHook, Worker
from procedures.settlement import payouts, points, topups
from procedures.transfers import chain_settlement, custodial
from procedures.transfers import service as transfers


def transfer_hooks() -> dict[str, transfers.TransferHook]:
    """Hooks run once a transfer is final, by the purpose it settles (``transfers.purpose_kind``)."""
    return {
        payment_requests.PURPOSE: payment_requests.on_payment_final,
        refunds.PURPOSE: refunds.on_refund_final,
        payouts.PURPOSE: payouts.on_payout_transfer_final,
        money.FEE_PURPOSE: money.on_fee_final,
        money.REFUND_PURPOSE: money.on_refund_final,
    }


def final_handlers() -> dict[str, FinalHandler]:
    """Final-state handlers by intent kind, or by the kind's prefix before the first dot.

    Intents that need nothing back (registry entries of city accounts, freezes, recoveries,
    anchors — the anchorer reads its own) have no handler.
    """
    return {
        "transfer": transfers.final_handler(transfer_hooks()),
        "merchant": accounts.on_merchant_intent_final,
        "payout": payouts.on_payout_intent_final,
        "topup": topups.on_topup_final,
        money.BENEFIT_KIND: money.on_benefit_final,
        civic_clerks.REWARD_KIND: civic_clerks.on_reward_final,
        offline.RESERVE_KIND: offline.on_reserve_final,
        offline.SETTLE_KIND: offline.on_settle_final,
    }


def replaced_hooks() -> list[recovery.ReplacedHook]:
    """What follows a person to their new wallet once a recovery ran (in the same transaction)."""
    return [application_records.follow_wallet]


def startup_hooks() -> list[StartupHook]:
    """Idempotent start-up tasks, in order (the catalog first: it needs no chain)."""
    return [jobs.load_catalog, custodial.bootstrap_treasury, payouts.ensure_settlement_account,
            offline.ensure_reserve_account]


def workers() -> dict[str, Worker]:
    """Background workers besides the relayers, by thread name."""
    return {
        "chain.indexer": partial(indexer_worker, after_pass=chain_settlement.settler(transfer_hooks())),
        "identity.recoveries": partial(recovery.recovery_worker, on_replaced=replaced_hooks()),
        "identity.crl_sweep": crl_sweep.crl_worker,
        "applications.anchorer": anchoring.anchorer,
        "applications.deadlines": jobs.deadlines_worker,
        "applications.retention": jobs.retention_worker,
        "merchants.expiry": payment_requests.expiry_worker,
        "merchants.webhooks": webhook_delivery.delivery_worker,
        "auth.challenges.purge": sweeps.purge_worker(auth.purge_challenges),
        "auth.logins.purge": sweeps.purge_worker(auth.purge_login_records),
        "merchants.idempotency.purge": sweeps.purge_worker(idempotency.purge_expired),
        "civic.adopter": civic_clerks.adopter,
        "points.sweep": points.sweep_worker,
        "points.notices": points_notices.notice_worker,
    }


def token_resolvers() -> dict[str, TokenResolver]:
    """Credential kinds besides staff and resident tokens, by token prefix: merchant API keys."""
    return dict.fromkeys(api_keys.KEY_PREFIXES, api_keys.resolve_api_key)


def hooks() -> Hooks:
    """Every hook of the service."""
    return Hooks(final_handlers=final_handlers(), startup=startup_hooks(), workers=workers())


def wire(runtime: Runtime) -> Runtime:
    """Give ``runtime`` the service's hooks (once; a runtime already wired keeps its own)."""
    if not runtime.wired:
        runtime.install_hooks(hooks())
    return runtime
