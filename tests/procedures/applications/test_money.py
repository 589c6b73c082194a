"""Fees and benefits: charged with the submission, refunded on rejection, benefits paid exactly once."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from chain.outbox import TxIntent
from procedures.applications import money
from procedures.applications.models import Application
from procedures.applications.records import lock_application
from tests.procedures.applications.conftest import staff_post, wait_until


def _app(client, resident, app_id):
    return client.get(f"/v1/applications/{app_id}", headers=resident.headers).json()


def _outbox(runtime):
    """The outbox, for timeouts' messages."""
    with runtime.sessions() as session:
        return [(i.id, i.kind, i.status, i.error_code, i.attempts) for i in session.scalars(select(TxIntent))]


def test_fee_is_charged_and_refunded_on_rejection(client, filer, make_resident, make_staff, treasury, arrange,
                                                  runtime):
    alice = make_resident(coins=1_000)
    clerk = make_staff("clerk", "citizen-affairs")
    app = filer.submit(alice, "residence-certificate", fee=600).json()
    wait_until(lambda: _app(client, alice, app["id"])["fee_status"] == "paid", what="the fee",
               show=lambda: _outbox(runtime))
    assert arrange.balance(alice.address) == 400 and arrange.balance(treasury) == 600

    assert staff_post(client, clerk, app["id"], "claim").status_code == 200
    no_reason = staff_post(client, clerk, app["id"], "reject", reason="  ")
    assert no_reason.status_code == 422 and no_reason.json()["error"]["code"] == "reason_required"
    rejected = staff_post(client, clerk, app["id"], "reject", reason="請求者が本人と確認できません")
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    final = wait_until(lambda: (a := _app(client, alice, app["id"]))["fee_status"] == "refunded" and a,
                       what="the refund", show=lambda: _outbox(runtime))
    assert arrange.balance(alice.address) == 1_000 and arrange.balance(treasury) == 0
    assert final["decision"] == {"status": "rejected", "reason": "請求者が本人と確認できません",
                                 "decided_at": final["decision"]["decided_at"]}
    types = [e["type"] for e in final["events"]]
    assert types == ["submitted", "fee_paid", "assigned", "rejected", "fee_refunded"]
    kinds = [n["kind"] for n in client.get("/v1/notifications", headers=alice.headers).json()["data"]]
    assert {"fee_paid", "rejected", "fee_refunded"} <= set(kinds)
    # the refund is a transfer linked to the application
    history = client.get("/v1/wallet/history", headers=alice.headers).json()["data"]
    assert sorted((t["kind"], t["amount"], t["status"]) for t in history) == [
        ("fee", 600, "confirmed"), ("fee_refund", 600, "confirmed")]


def test_approval_needs_a_paid_fee_and_keeps_it(client, filer, make_resident, make_staff, treasury, arrange,
                                                runtime):
    alice = make_resident(coins=1_000)
    clerk = make_staff("clerk", "citizen-affairs")
    app = filer.submit(alice, "residence-certificate", fee=600).json()
    staff_post(client, clerk, app["id"], "claim")
    wait_until(lambda: _app(client, alice, app["id"])["fee_status"] == "paid", what="the fee",
               show=lambda: _outbox(runtime))
    with runtime.sessions() as session, session.begin():  # a fee whose relay failed
        lock_application(session, app["id"]).fee_status = "failed"
    refused = staff_post(client, clerk, app["id"], "approve")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "fee_not_paid"
    with runtime.sessions() as session, session.begin():
        lock_application(session, app["id"]).fee_status = "paid"
    assert staff_post(client, clerk, app["id"], "approve").status_code == 200
    assert arrange.balance(treasury) == 600 and arrange.balance(alice.address) == 400


def test_a_rejection_before_the_fee_settles_is_refunded_by_the_sweeper(
    client, filer, make_resident, make_staff, treasury, arrange, runtime
):
    from procedures.applications.jobs import deadline_sweep

    alice = make_resident(coins=1_000)
    supervisor = make_staff("supervisor", "citizen-affairs")
    app = filer.submit(alice, "residence-certificate", fee=600).json()
    wait_until(lambda: arrange.balance(treasury) == 600, what="the fee on chain",
               show=lambda: _outbox(runtime))
    wait_until(lambda: _app(client, alice, app["id"])["fee_status"] == "paid", what="the fee",
               show=lambda: _outbox(runtime))
    with runtime.sessions() as session, session.begin():  # replay the moment before the relay settled it
        row = lock_application(session, app["id"])
        row.fee_status = "pending"
        row.status = "in_review"
        row.assignee_id = supervisor.id
    assert staff_post(client, supervisor, app["id"], "reject", reason="書類不備").status_code == 200
    with runtime.sessions() as session, session.begin():
        lock_application(session, app["id"]).fee_status = "paid"  # …and now it has
    assert deadline_sweep(runtime).refunds == 1
    assert deadline_sweep(runtime).refunds == 0  # once
    wait_until(lambda: _app(client, alice, app["id"])["fee_status"] == "refunded", what="the refund",
               show=lambda: _outbox(runtime))
    assert arrange.balance(alice.address) == 1_000


def test_benefit_is_paid_exactly_once_however_approval_is_retried(
    client, filer, make_resident, make_staff, arrange, runtime
):
    alice = make_resident()
    clerk = make_staff("clerk", "child-welfare")
    supervisor = make_staff("supervisor", "child-welfare")
    app = filer.submit(alice, "childcare-benefit").json()
    assert staff_post(client, clerk, app["id"], "claim").status_code == 200

    # two approvals racing (a double click, a retried request): one wins, the other is refused
    results = []
    barrier = threading.Barrier(2)

    def approve(who):
        barrier.wait()
        results.append(staff_post(client, who, app["id"], "approve").status_code)

    threads = [threading.Thread(target=approve, args=(who,)) for who in (clerk, supervisor)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 409]
    again = staff_post(client, clerk, app["id"], "approve")
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_transition"

    # even a direct second attempt to pay reuses the one outbox intent (reference = application id)
    with runtime.sessions() as session, session.begin():
        row = lock_application(session, app["id"])
        first = money.pay_benefit(session, runtime, row)
        second = money.pay_benefit(session, runtime, row)
        assert first.id == second.id == row.benefit_intent_id
    wait_until(lambda: _app(client, alice, app["id"])["benefit_status"] == "paid", what="the benefit",
               show=lambda: _outbox(runtime))
    # the benefit arrives as points (spent first at shops, not redeemable), not as coins
    assert (arrange.points(alice.address), arrange.balance(alice.address)) == (30_000, 0)
    with runtime.sessions() as session:
        credits = session.scalar(select(func.count(TxIntent.id)).where(TxIntent.kind == money.BENEFIT_KIND))
        assert credits == 1
        assert session.get(Application, app["id"]).benefit_status == "paid"
    events = [e["type"] for e in _app(client, alice, app["id"])["events"]]
    assert events == ["submitted", "assigned", "approved", "benefit_paid"]
