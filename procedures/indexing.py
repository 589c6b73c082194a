"""The chain indexer inside the service: a background worker, ``machi index`` and a status line.

The indexer itself lives in ``chain.indexer``; here it is wired to the runtime (the deployment
manifest says which contracts to follow and from which block) and run as a worker (``procedures.wiring``),
so ``machi serve`` and ``machi worker relayer`` keep the index current (one indexer per database).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from sqlalchemy.orm import Session

from chain.errors import MachiError
from chain.events import WatchedContract
from chain.index_store import index_status, verify_against_chain
from chain.indexer import Indexer, IndexerConfig
from procedures.runtime import Runtime

log = logging.getLogger("machi.indexing")


#: Run after every indexer pass with the runtime (``procedures.wiring``: transfers settled from the
#: chain's logs); this module knows none of the rooms.
AfterPass = Callable[[Runtime], object]


def build_indexer(runtime: Runtime, after_pass: AfterPass | None = None) -> Indexer:
    """An indexer of every contract in the deployment manifest, from the earliest deployment block.

    Raises:
        DeploymentError: the city's contracts are not deployed (the message names the fix).
    """
    manifest = runtime.manifest
    contracts = [
        WatchedContract(name, entry.address, runtime.compiled[entry.artifact].abi)
        for name, entry in sorted(manifest.contracts.items())
    ]
    return Indexer(
        w3=runtime.connect(),
        contracts=contracts,
        start_block=manifest.first_block,
        engine=runtime.engine,
        sessions=runtime.sessions,
        lock_dir=runtime.settings.var_dir / "locks",
        config=IndexerConfig(confirmations=runtime.settings.effective_confirmations),
        after_pass=None if after_pass is None else (lambda: after_pass(runtime)),
    )


def indexer_worker(runtime: Runtime, stop: threading.Event, after_pass: AfterPass | None = None) -> None:
    """Worker: keep the chain index current until ``stop`` is set (waits for a deployment), running
    ``after_pass`` after every pass."""
    waiting_logged = False
    while not stop.is_set():
        try:
            indexer = build_indexer(runtime, after_pass)
        except MachiError as exc:
            if not waiting_logged:
                log.warning("indexer waiting for the chain and the deployment: %s", exc)
                waiting_logged = True
            stop.wait(5.0)
            continue
        indexer.run(stop)
        return


def catch_up(runtime: Runtime) -> Indexer | None:
    """Bring the index up to the head from this process; None when another process holds the indexer's
    lock (a running ``machi serve`` keeps it current)."""
    indexer = build_indexer(runtime)
    if not indexer.lock.try_acquire():
        return None
    try:
        indexer.catch_up()
    finally:
        indexer.lock.release()
    return indexer


def status_line(session: Session, confirmations: int) -> str:
    """One line for ``machi status``: how far the index is and how much of it is confirmed."""
    status = index_status(session, confirmations)
    if not status["indexed"]:
        return "not indexed yet"
    return (f"block {status['last_block']} of {status['head']}, {status['events']} events "
            f"({status['confirmed_events']} confirmed), {status['reorgs']} reorgs rewound")


@click.command("index")
@click.option("--verify", is_flag=True, help="compare the index with the chain (balances, supply, logs)")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def index_command(verify: bool, as_json: bool) -> None:
    """Bring the chain index up to the head (unless a running worker does it) and show where it stands.

    With --verify, exits 1 when the index and the chain differ.
    """
    from procedures.config import get_settings

    out, err = Console(), Console(stderr=True)
    try:
        runtime = Runtime.create(get_settings())
        indexer = catch_up(runtime)
        if indexer is None:
            err.print("another process is indexing; showing its progress")
            indexer = build_indexer(runtime)
        with runtime.sessions() as session:
            report: dict[str, Any] = {"status": index_status(session, runtime.settings.effective_confirmations)}
            line = status_line(session, runtime.settings.effective_confirmations)
            if verify:
                report["verify"] = verify_against_chain(session, indexer.w3).to_dict()
    except MachiError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)
    ok = not verify or bool(report["verify"]["ok"])
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        out.print(f"index: {line}")
        if verify:
            check = report["verify"]
            out.print(f"checked {check['accounts_checked']} accounts at block {check['block']}; supply "
                      f"{check['supply']}; {len(check['differences'])} balance differences, "
                      f"{len(check['missing_logs'])} missing and {len(check['orphan_logs'])} orphan logs")
            out.print("[green]index matches the chain[/]" if ok else "[red]index differs from the chain[/]")
    sys.exit(0 if ok else 1)
