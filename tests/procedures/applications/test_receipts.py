"""Anchoring and receipts: verified against the chain alone, broken by tampering, batched under load,
and nothing personal (nor any procedure type next to a wallet) on chain."""

from __future__ import annotations

import json
import time

from eth_utils.crypto import keccak
from sqlalchemy import func, select, update

from procedures.applications.anchoring import anchor_once
from procedures.applications.models import AnchorBatch, ApplicationEvent
from protocol import applications as protocol
from protocol.receipts import ledger_client, verify_receipt
from tests.procedures.applications.conftest import FORMS, staff_post, wait_until


def _receipt(client, resident, app_id):
    return client.get(f"/v1/applications/{app_id}/receipt", headers=resident.headers).json()


def _anchored_receipt(client, resident, app_id, events):
    def ready():
        receipt = _receipt(client, resident, app_id)
        return receipt if len(receipt["events"]) == events and all(e["anchor"] for e in receipt["events"]) else None

    return wait_until(ready, what=f"{events} anchored events of {app_id}")


def _verify(w3, receipt):
    return verify_receipt(w3, ledger_client(w3, receipt["ledger"]), receipt)


def test_receipt_verifies_against_the_chain_and_reports_pending_events(client, builder, w3, runtime):
    cast = builder.cast
    app_id = builder.build("in_review")
    receipt = _anchored_receipt(client, cast.applicant, app_id, 2)
    check = _verify(w3, receipt)
    assert check.ok and [e.status for e in check.events] == ["verified", "verified"]
    assert check.events[0].signer == cast.applicant.address  # the resident signed the submission
    assert check.events[1].signer == cast.clerk.signing_address  # the clerk's own key signed the assignment
    # the leaf holds only hashes and salts; the opening is what the receipt reveals to its holder
    event = receipt["events"][0]
    assert event["procedure"] == {"code": "snow-removal", "version": 1} and len(event["proof"]) >= 0
    tx = w3.eth.get_transaction(event["anchor"]["tx_hash"])
    assert tx["to"] == receipt["ledger"] and tx["from"] == runtime.keys.relayer.address

    runtime.stop_workers()  # no anchorer: the next event stays pending
    assert staff_post(client, cast.clerk, app_id, "approve").status_code == 200
    check = _verify(w3, _receipt(client, cast.applicant, app_id))
    assert check.ok and [e.status for e in check.events] == ["verified", "verified", "pending"]
    assert [e.type for e in check.pending] == ["approved"]


def _forge_leaf(client, cast, runtime, app_id, seq):
    """Recompute a stored leaf from the (tampered) stored event, as a careful forger would."""
    opening = protocol.EventOpening.from_json({**_receipt(client, cast.applicant, app_id)["events"][seq],
                                               "application_id": app_id})
    with runtime.sessions() as session, session.begin():
        session.execute(update(ApplicationEvent).where(ApplicationEvent.application_id == app_id,
                                                       ApplicationEvent.seq == seq)
                        .values(leaf=protocol.hex32(opening.leaf())))


def test_tampering_with_the_database_breaks_the_receipt(client, builder, w3, runtime, filer):
    cast = builder.cast
    app_id = builder.build("rejected")
    receipt = _anchored_receipt(client, cast.applicant, app_id, 3)
    assert _verify(w3, receipt).ok

    # 1. rewrite history: "rejected" becomes "approved"
    with runtime.sessions() as session, session.begin():
        session.execute(update(ApplicationEvent).where(ApplicationEvent.application_id == app_id,
                                                       ApplicationEvent.seq == 2)
                        .values(type="approved", to_status="approved"))
    check = _verify(w3, _receipt(client, cast.applicant, app_id))
    assert not check.ok and check.events[2].status == "failed"
    assert "do not hash to its leaf" in check.events[2].reason

    # 2. …and recompute the leaf to match: the clerk's signature no longer fits
    _forge_leaf(client, cast, runtime, app_id, 2)
    check = _verify(w3, _receipt(client, cast.applicant, app_id))
    assert not check.ok and "signature was not made by the recorded actor" in check.events[2].reason

    # 3. backdate the submission (not covered by the resident's signature) and recompute its leaf:
    #    the chain does not know that leaf
    with runtime.sessions() as session, session.begin():
        session.execute(update(ApplicationEvent).where(ApplicationEvent.application_id == app_id,
                                                       ApplicationEvent.seq == 0)
                        .values(occurred_at=ApplicationEvent.occurred_at - 86_400))
    _forge_leaf(client, cast, runtime, app_id, 0)
    check = _verify(w3, _receipt(client, cast.applicant, app_id))
    assert not check.ok and check.events[0].status == "failed" and "refuses the leaf" in check.events[0].reason

    # 4. erase an event from the history: the gap shows
    tampered = dict(receipt)
    tampered["events"] = [receipt["events"][0], receipt["events"][2]]
    check = _verify(w3, tampered)
    assert not check.ok and any("history incomplete" in p for p in check.problems)

    # 5. point at another anchoring transaction
    other = _anchored_receipt(client, cast.applicant, builder.build("submitted"), 1)
    tampered = json.loads(json.dumps(receipt))
    tampered["events"][0]["anchor"]["tx_hash"] = other["events"][0]["anchor"]["tx_hash"]
    if tampered["events"][0]["anchor"]["tx_hash"] != receipt["events"][0]["anchor"]["tx_hash"]:
        check = _verify(w3, tampered)
        assert not check.ok and check.events[0].status == "failed"

    # 6. a receipt for another ledger than the one the verifier trusts
    from eth_account import Account

    check = verify_receipt(w3, ledger_client(w3, Account.create().address), receipt)
    assert not check.ok and "not the trusted" in check.problems[0]


def test_anchoring_under_load_uses_few_anchors_and_every_receipt_verifies(
    client, filer, make_resident, make_staff, w3, runtime
):
    residents = [make_resident() for _ in range(4)]
    clerk = make_staff("clerk", "road-maintenance")
    ledger = ledger_client(w3, client.get("/v1/procedures/signing").json()["ledger"])
    anchors_before = ledger.anchor_count()
    # Only size cuts a batch while the events arrive (however slow the machine); the rest is cut
    # once they are all in: batching, not timing, decides the number of anchors.
    runtime.settings.applications_anchor_interval = 3600.0
    ids = []
    for i in range(100):
        resident = residents[i % 4]
        response = filer.submit(resident, "snow-removal", form={**FORMS["snow-removal"], "snow_depth_cm": i})
        assert response.status_code == 201, response.text
        ids.append((resident, response.json()["id"]))
    for _, app_id in ids:
        assert staff_post(client, clerk, app_id, "claim").status_code == 200
        assert staff_post(client, clerk, app_id, "comments", text="現地確認を手配").status_code == 201
    runtime.settings.applications_anchor_interval = 0.0

    def all_anchored():
        with runtime.sessions() as session:
            waiting = session.scalar(select(func.count(ApplicationEvent.id))
                                     .where(ApplicationEvent.anchor_id.is_(None)))
        return waiting == 0

    wait_until(all_anchored, timeout=60, what="every event anchored")
    with runtime.sessions() as session:
        batches = list(session.scalars(select(AnchorBatch).where(AnchorBatch.status == "anchored")))
        events = session.scalar(select(func.count(ApplicationEvent.id)))
    assert events == 300
    assert sum(b.leaf_count for b in batches) == 300
    max_leaves = runtime.settings.applications_anchor_max_leaves
    assert len(batches) <= 300 // max_leaves + 1, f"{len(batches)} anchors for 300 events"
    assert ledger.anchor_count() - anchors_before == len(batches)
    for resident, app_id in ids:  # how fast: scripts/bench/procedures.py (receipt_verify_ms)
        check = _verify(w3, _receipt(client, resident, app_id))
        assert check.ok and len(check.verified) == 3, (app_id, check)


def test_nothing_personal_on_chain(client, filer, make_resident, make_staff, treasury, w3, runtime, arrange):
    """Scan every transaction input and log since the test began: no names, addresses, free text,
    procedure codes (in clear or hashed), application ids — and no procedure type next to a wallet."""
    start = w3.eth.block_number + 1
    alice = make_resident(coins=1_000)
    staff = {dept: make_staff("clerk", dept) for dept in
             ("citizen-affairs", "child-welfare", "road-maintenance", "urban-planning")}
    ids = {}
    for code in sorted(FORMS):
        response = filer.submit(alice, code, fee=600 if code == "residence-certificate" else 0)
        assert response.status_code == 201, response.text
        ids[code] = response.json()["id"]
    wait_until(lambda: arrange.balance(treasury) == 600, what="the fee")
    time.sleep(0.3)  # the fee hook commits right after the relay
    for code, app_id in ids.items():
        clerk = staff[client.get(f"/v1/applications/{app_id}", headers=alice.headers).json()["department"]]
        assert staff_post(client, clerk, app_id, "claim").status_code == 200
        decision = "reject" if code == "residence-certificate" else "approve"
        assert staff_post(client, clerk, app_id, decision, reason="審査済み 加賀市役所").status_code == 200
    # the fee came back in coins; the benefit arrived as points
    wait_until(lambda: (arrange.balance(alice.address), arrange.points(alice.address)) == (1_000, 30_000),
               what="refund and benefit")
    anchor_once(runtime, force=True)

    def settled():
        with runtime.sessions() as session:
            return not session.scalar(select(func.count(ApplicationEvent.id))
                                      .where(ApplicationEvent.anchor_id.is_(None)))

    wait_until(settled, what="all events anchored")

    blobs = []
    for number in range(start, w3.eth.block_number + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        for tx in block["transactions"]:
            data = bytes(tx["input"])
            receipt = w3.eth.get_transaction_receipt(tx["hash"])
            for log in receipt["logs"]:
                data += b"".join(bytes(t) for t in log["topics"]) + bytes(log["data"])
            blobs.append(data)
    assert len(blobs) >= 5  # attestation, top-up, fee and refund batches, benefit credit, anchors
    everything = b"\n".join(blobs)

    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for v in value.values():
                yield from strings(v)
        elif isinstance(value, list):
            for v in value:
                yield from strings(v)

    personal = {s for form in FORMS.values() for s in strings(form) if len(s) >= 4 and not s.isascii()}
    personal |= {"加賀 太郎", "加賀 花子", "東京都千代田区霞が関1-1", "審査済み 加賀市役所", "pothole.png", "記録.pdf"}
    for text in personal:
        for encoding in ("utf-8", "utf-16-be", "shift_jis"):
            assert text.encode(encoding, "ignore") not in everything, f"{text!r} ({encoding}) is on chain"
    for code in FORMS:
        for needle in (code.encode(), keccak(text=code), keccak(code.encode().ljust(32, b"\0"))):
            assert needle not in everything, f"procedure {code} is on chain"
    for app_id in ids.values():
        assert app_id.encode() not in everything and keccak(text=app_id) not in everything
    # anchoring transactions carry no wallet at all; the only transactions naming Alice's wallet are
    # coin movements (fee, refund, benefit) and her attestation — none of them carries a procedure code
    wallet = bytes.fromhex(alice.address[2:].lower())
    ledger = client.get("/v1/procedures/signing").json()["ledger"]
    anchors = 0
    for number in range(start, w3.eth.block_number + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if tx["to"] == ledger:
                anchors += 1
                assert wallet not in bytes(tx["input"])
                assert all(wallet not in bytes(log["data"]) + b"".join(bytes(t) for t in log["topics"])
                           for log in w3.eth.get_transaction_receipt(tx["hash"])["logs"])
    assert anchors >= 1
