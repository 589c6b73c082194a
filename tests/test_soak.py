"""`make soak`, shortened for `make test`: 300 payments from 20 clients over HTTP, the service killed
with -9 twice and restarted, the chain RPC refused for 5 s — then nothing lost, nothing duplicated,
`machi reconcile` clean and every webhook delivered (the same run and checks as the full soak) — on each
shape of node (``scripts.shapes``: the default anvil, anvil shaped like a QBFT network, Hardhat)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from chain.toolchain import PROJECT_ROOT
from scripts.shapes import SHAPES
from scripts.soak import failures

PAYMENTS, CLIENTS, KILLS, OUTAGE_S = 300, 20, 2, 5


@pytest.mark.parametrize("shape", list(SHAPES))
def test_short_soak_loses_and_duplicates_nothing_through_kills_and_an_rpc_outage(shape):
    run = subprocess.run(  # a process of its own, as `make soak` runs it (its own node and database)
        [sys.executable, "-m", "scripts.soak", "--payments", str(PAYMENTS), "--clients", str(CLIENTS),
         "--kills", str(KILLS), "--outage", str(OUTAGE_S), "--merchants", "2", "--shape", shape],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900, check=False)
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, f"no JSON line; exit {run.returncode}\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    report = json.loads(lines[0])
    assert (report["bench"], report["shape"]) == ("soak", shape)
    assert (report["lost"], report["duplicated"], report["reconcile_differences"]) == (0, 0, 0), report
    assert report["accepted"] + report["unacknowledged"] == PAYMENTS, report
    assert report["confirmed"] == report["accepted"] > 0, report
    assert report["kills"] == KILLS, report
    assert report["rpc_outage_s"] >= OUTAGE_S, report
    assert report["http_503_chain_unavailable"] > 0, report  # the outage was felt and answered 503
    assert report["malformed_errors"] == report["http_5xx_other"] == 0, report
    assert report["refunds"] > 0 and report["submissions"] > 0, report
    assert report["webhooks_undelivered"] == 0 and report["webhooks_delivered"] == report["webhook_events"] > 0, report
    assert report["webhook_bad_signatures"] == 0, report
    assert run.returncode == 0, run.stderr[-4000:]


def test_the_verdict_fails_on_any_loss_duplicate_or_difference():
    clean = {"lost": 0, "duplicated": 0, "reconcile_differences": 0, "webhooks_undelivered": 0, "http_5xx_other": 0,
             "malformed_errors": 0, "refused": 0, "accepted": 10, "unacknowledged": 0, "payments_planned": 10}
    assert failures(clean) == []
    for key in ("lost", "duplicated", "reconcile_differences", "webhooks_undelivered"):
        assert failures({**clean, key: 1}) == [f"{key}=1"]
    assert failures({**clean, "accepted": 9}) == ["not every planned payment got a definite answer"]
