"""Offline payments at the counter: keep the reserves in sync, accept signed codes with no network, relay
them when the network is back.

    machi-pos offline-sync                  fetch every resident's offline reserve (online; do it often)
    machi-pos offline-accept CODE|FILE      no network: check a customer's offline payment and keep it
    machi-pos offline-relay                 network back: relay what was kept; each paid, or why not
    machi-pos offline-list                  what is kept, relayed, paid or refused

A code is accepted only if it is ours, for this merchant, signed by its payer, not expired, and within what
the payer had reserved at the last sync minus what this counter already accepted from them
(``protocol.offline.accept``). Everything is kept in one file (``--store``, default ``~/.machi-pos/offline.json``)
written atomically and flushed to disk before the cashier is told "accepted": a power cut never loses an
accepted payment nor keeps half of one. Relaying is safe to repeat: the service answers the same code with
the same payment.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from pos.api import PosError
from pos.context import PosContext, pass_pos
from protocol.offline import OfflinePayment, OfflineRefused, ReserveSnapshot, accept

__all__ = ["COMMANDS", "OfflineStore"]

RELAY_WAIT_S = 60.0
#: A kept payment that expires within this many seconds is pointed out (relay it before it is worthless).
EXPIRY_WARNING_S = 12 * 3600
#: Payers per page of the reserve sync (the service's cap).
SYNC_PAGE = 100


def default_store() -> Path:
    return Path(os.environ.get("MACHI_POS_HOME") or Path.home() / ".machi-pos") / "offline.json"


class OfflineStore:
    """The counter's durable offline state: the last synced snapshot and every payment it accepted."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.data = {"snapshot": None, "payments": {}}
        except (OSError, ValueError):
            raise PosError.of("offline_store_unreadable", path=str(path)) from None

    def save(self) -> None:
        """Write atomically and to disk (the cashier is told "accepted" only after this returns)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=self.path.parent, delete=False, suffix=".tmp",
                                         encoding="utf-8") as handle:
            json.dump(self.data, handle, ensure_ascii=False, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, self.path)

    @property
    def payments(self) -> dict[str, dict[str, Any]]:
        return dict(self.data["payments"])

    def snapshot(self) -> ReserveSnapshot:
        """The last sync with this counter's accepted payments (not yet known to be final) counted against it.

        Raises:
            PosError: never synced.
        """
        snap = self.data.get("snapshot")
        if not snap:
            raise PosError.of("offline_not_synced")
        snapshot = ReserveSnapshot(chain_id=snap["chain_id"], reserve=snap["reserve"], merchant=snap["merchant_wallet"],
                                   synced_at=snap["synced_at"],
                                   reserves={r["payer"]: (r["reserved"], r["release_at"] or 0)
                                             for r in snap["reserves"]})
        for nonce, kept in self.data["payments"].items():
            if kept["status"] == "refused":
                continue
            # a payment settled before the sync is already out of the synced reserve
            if kept["status"] == "paid" and kept.get("final_seen_at", 0) <= snapshot.synced_at:
                continue
            snapshot.accepted[nonce] = OfflinePayment.from_text(kept["code"])
        return snapshot


def _store_option(f: Any) -> Any:
    return click.option("--store", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help="the counter's offline file (default $MACHI_POS_HOME/offline.json)")(f)


@click.command("offline-sync")
@click.option("--page-size", type=click.IntRange(1, SYNC_PAGE), default=SYNC_PAGE, show_default=True,
              help="payers asked for per request (the sync follows the pages to the end)")
@_store_option
@pass_pos
def offline_sync(pos: PosContext, page_size: int, store: Path | None) -> None:
    """Fetch every resident's offline reserve (online), to check offline payments against later."""
    kept = OfflineStore(store or default_store())
    snapshot = pos.api.json("GET", "/v1/offline/snapshot", params={"limit": page_size})
    page = snapshot
    while page.get("has_more"):  # the first page's time stands for all: older is the safe side (see snapshot())
        page = pos.api.json("GET", "/v1/offline/snapshot", params={"limit": page_size,
                                                                   "starting_after": page["next_cursor"]})
        snapshot["reserves"].extend(page["reserves"])
    snapshot.pop("has_more", None)
    snapshot.pop("next_cursor", None)
    kept.data["snapshot"] = snapshot
    kept.save()
    pos.say("offline_synced", count=len(snapshot["reserves"]))


def _code_of(value: str) -> str:
    path = Path(value)
    if not value.startswith("machi-offline:") and len(value) < 4096 and path.is_file():
        return path.read_text(encoding="utf-8").strip()
    return value.strip()


@click.command("offline-accept")
@click.argument("code")
@_store_option
@pass_pos
def offline_accept(pos: PosContext, code: str, store: Path | None) -> None:
    """No network: check a customer's offline payment (the code, or its file) and keep it."""
    kept = OfflineStore(store or default_store())
    snapshot = kept.snapshot()
    try:
        payment = accept(snapshot, OfflinePayment.from_text(_code_of(code)), int(time.time()))
    except OfflineRefused as exc:
        if exc.code in OFFLINE_CODES:
            raise PosError.of(f"offline_{exc.code}") from None
        raise
    kept.data["payments"][payment.nonce] = {"code": payment.to_text(), "payer": payment.payer,
                                            "amount": payment.amount, "accepted_at": int(time.time()),
                                            "status": "kept", "id": None, "reason": None}
    kept.save()
    pos.say("offline_accepted", amount=f"{payment.amount:,}", payer=payment.payer)
    _warn_expiring(pos, kept, int(time.time()))


@click.command("offline-relay")
@click.option("--no-wait", is_flag=True, help="do not wait for the chain's answer")
@_store_option
@pass_pos
def offline_relay(pos: PosContext, no_wait: bool, store: Path | None) -> None:
    """Network back: relay every payment kept offline; say which were paid and which were refused, and why."""
    kept = OfflineStore(store or default_store())
    pending = {n: p for n, p in kept.payments.items() if p["status"] in ("kept", "relaying")}
    if not pending:
        pos.say("offline_nothing")
        return
    for nonce, entry in pending.items():
        body = pos.api.json("POST", "/v1/offline_payments", json={"code": entry["code"]})
        kept.data["payments"][nonce].update(id=body["id"], status=body["status"])
        kept.save()  # after each: a cut halfway relays the rest next time, the same code answering the same id
    if no_wait:
        pos.say("offline_relayed", count=len(pending))
        return
    deadline = time.monotonic() + RELAY_WAIT_S
    with pos.console.status(pos.t("offline_waiting"), spinner="dots"):
        while True:
            waiting = [n for n, p in kept.payments.items() if p["status"] == "relaying"]
            for nonce in waiting:
                body = pos.api.json("GET", f"/v1/offline_payments/{kept.data['payments'][nonce]['id']}")
                if body["status"] != "relaying":
                    kept.data["payments"][nonce].update(status=body["status"], reason=body["reason"],
                                                        reason_message=body["reason_message"],
                                                        final_seen_at=int(time.time()))
                    kept.save()
            if not waiting or time.monotonic() > deadline:
                break
            time.sleep(0.3)
    for nonce in pending:
        _show(pos, kept.data["payments"][nonce])


def _warn_expiring(pos: PosContext, kept: OfflineStore, now: int) -> None:
    """One line for each payment kept, not relayed yet, that expires within ``EXPIRY_WARNING_S`` (or has)."""
    for entry in kept.payments.values():
        if entry["status"] != "kept":
            continue
        valid_before = OfflinePayment.from_text(entry["code"]).valid_before
        left = valid_before - now
        if left > EXPIRY_WARNING_S:
            continue
        at = time.strftime("%Y-%m-%d %H:%M", time.localtime(valid_before))
        if left <= 0:
            pos.say("offline_expired_kept", amount=f"{entry['amount']:,}", payer=entry["payer"], at=at)
        else:
            pos.say("offline_expires_soon", amount=f"{entry['amount']:,}", payer=entry["payer"], at=at,
                    left=f"{left // 3600}h{left % 3600 // 60:02d}m")


def _show(pos: PosContext, entry: dict[str, Any]) -> None:
    if entry["status"] == "paid":
        pos.say("offline_paid", amount=f"{entry['amount']:,}", id=entry["id"])
    elif entry["status"] == "refused":
        pos.say("offline_refused", amount=f"{entry['amount']:,}", id=entry["id"],
                reason=entry.get("reason_message") or entry.get("reason") or "")
    else:
        pos.say("offline_still_relaying", amount=f"{entry['amount']:,}", id=entry["id"] or "-")


@click.command("offline-list")
@_store_option
@pass_pos
def offline_list(pos: PosContext, store: Path | None) -> None:
    """The offline payments this counter kept, and what became of them."""
    kept = OfflineStore(store or default_store())
    if not kept.payments:
        pos.say("offline_nothing")
        return
    for entry in kept.payments.values():
        if entry["status"] == "kept":
            pos.say("offline_kept", amount=f"{entry['amount']:,}", payer=entry["payer"])
        else:
            _show(pos, entry)
    _warn_expiring(pos, kept, int(time.time()))


#: Refusals the counter words itself (``offline_<code>`` in ``pos.i18n``).
OFFLINE_CODES = ("not_ours", "malformed", "wrong_chain", "wrong_merchant", "bad_signature", "expired", "too_long",
                 "seen", "no_reserve", "release_pending", "over_reserve")

COMMANDS = [offline_sync, offline_accept, offline_relay, offline_list]
