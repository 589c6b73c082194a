"""Top-ups: a resident pays yen at a city counter or ATM and receives coins, plus the campaign bonus as points.

Everything that can refuse the mint is checked before the yen is taken: the wallet is a verified,
unfrozen resident; balance + payments on their way in + this top-up stays under the resident's
cap (coins only: points do not count against it); the top-up minter's allowance, minus mints already
queued, covers the coins, and the points key's allowance the bonus. The mint is queued through the outbox
with the top-up minter's own key, so a crash never loses or doubles it. The bonus (``topup_bonus_bps``) is
paid while the campaign budget (``topup_bonus_budget``, counted over top-ups not failed) and its end date
last; the last top-up gets what is left. It is credited as points (``procedures.settlement.points``: the
same key and events as a benefit's), queued with the mint, lasting ``topup_bonus_expiry_days``; the coins
bought with yen are the resident's to redeem, the premium is not.

Four eyes: a top-up over ``topup_four_eyes_yen`` is recorded ``awaiting`` and minted only when a second
staff member approves it (``approve_topup``; both are kept on the row). Every top-up carries the
cash-receipt reference of the yen received (``reference``: the counter slip or ATM transaction number);
``machi reconcile`` flags references that are the same receipt written twice.
"""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from chain.contracts.registry import AssuranceLevel, Kind
from chain.outbox import IntentStatus, TxIntent, enqueue
from chain.storage import utcnow
from procedures.errors import InvalidRequest
from procedures.four_eyes import AWAITING, NotAwaitingApproval, check_approver
from procedures.ids import new_id
from procedures.pagination import Window, newest_first
from procedures.rows import row_or_404
from procedures.runtime import Runtime
from procedures.settlement import points
from procedures.settlement.models import TopUp
from procedures.transfers import pending
from procedures.transfers import service as transfers

log = logging.getLogger("machi.settlement.topups")

CHANNELS = ("counter", "atm")
#: The outbox kind of a top-up bonus's points credit (``topup.mint`` is the coins').
POINTS_KIND = "topup.points"


class TopUpRefused(transfers.PaymentRefused):
    """The top-up cannot be minted (cap, allowance, unverified or frozen wallet)."""

    code = "topup_refused"


def _lock_campaign(session: Session) -> None:
    # One top-up at a time decides the bonus and the allowance (SQLite already serialises writers).
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(b"topup-campaign").digest()[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def bonus_for(session: Session, runtime: Runtime, amount: int) -> int:
    """The campaign bonus for a top-up of ``amount`` yen now (0 once the budget or the campaign ends)."""
    s = runtime.settings
    if s.topup_bonus_bps <= 0 or s.topup_bonus_budget <= 0:
        return 0
    if s.topup_bonus_ends_at is not None and utcnow() >= s.topup_bonus_ends_at:
        return 0
    return max(0, min(amount * s.topup_bonus_bps // 10_000, s.topup_bonus_budget - granted_bonus(session)))


def granted_bonus(session: Session) -> int:
    """The campaign bonus given so far (top-ups not failed): what counts against ``topup_bonus_budget``."""
    return int(session.scalar(select(func.coalesce(func.sum(TopUp.bonus), 0))
                              .where(TopUp.status != "failed")) or 0)


def _pending_bonus(session: Session) -> int:
    """Bonus points queued but not in a block yet (the points key's allowance does not reflect them)."""
    return int(session.scalar(select(func.coalesce(func.sum(TopUp.bonus), 0)).where(
        TopUp.points_status == "pending", pending.not_yet_in_a_block(TopUp.points_intent_id))) or 0)


def _pending_mints(session: Session, wallet: str | None = None) -> int:
    """Coins in pending top-ups (to ``wallet``) that the chain — balances, the minter's allowance —
    does not reflect yet."""
    query = select(func.coalesce(func.sum(TopUp.amount_minted), 0)).where(
        TopUp.status == "pending", pending.not_yet_in_a_block(TopUp.intent_id))
    if wallet is not None:
        query = query.where(TopUp.wallet == wallet)
    return int(session.scalar(query) or 0)


def create_topup(session: Session, runtime: Runtime, *, wallet: str, amount: int, channel: str,
                 location: str | None, reference: str, operator: str) -> TopUp:
    """Check, record and queue a top-up (the receipt is the returned row).

    Raises:
        InvalidRequest: bad amount or channel.  TopUpRefused: not a verified resident, frozen, over the
        cap, or over the minter's allowance (codes ``recipient_not_verified``, ``recipient_frozen``,
        ``balance_cap_exceeded``, ``minter_allowance_exceeded``).
    """
    if amount <= 0:
        raise InvalidRequest("amount must be a positive number of yen", param="amount")
    if channel not in CHANNELS:
        raise InvalidRequest(f"channel is one of {', '.join(CHANNELS)}", param="channel")
    existing = session.scalar(select(TopUp).where(TopUp.reference == reference))
    if existing is not None:
        if (existing.wallet, existing.amount_paid) != (wallet, amount):
            raise TopUpRefused("this counter/ATM reference was already used for another top-up",
                               code="reference_reused", param="reference")
        return existing  # the same slip entered twice: one top-up
    level = _check_wallet(runtime, wallet)
    _lock_campaign(session)
    pending.lock_wallet(session, wallet)
    bonus = bonus_for(session, runtime, amount)
    _check_room(session, runtime, wallet, level, amount, bonus)
    four_eyes = amount > runtime.settings.topup_four_eyes_yen
    topup = TopUp(id=new_id("tu"), wallet=wallet, amount_paid=amount, bonus=bonus, amount_minted=amount,
                  channel=channel, location=location, reference=reference, operator=operator,
                  status=AWAITING if four_eyes else "pending")
    session.add(topup)
    session.flush()
    if not four_eyes:
        _queue_mint(session, runtime, topup)
    return topup


def approve_topup(session: Session, runtime: Runtime, topup_id: str, *, approver: str) -> TopUp:
    """The second staff member's approval of a top-up over the four-eyes amount: the mint is queued,
    exactly once (the row is locked; a second approval finds it no longer awaiting).

    Raises:
        NotFound: no such top-up.  SameStaffMember: the approver recorded it.
        NotAwaitingApproval: it is not awaiting approval.
        TopUpRefused: the checks of ``create_topup`` fail now (frozen meanwhile, cap, allowance).
    """
    topup = row_or_404(session, TopUp, topup_id, what="top-up", lock=True)
    if topup.status != AWAITING:
        raise NotAwaitingApproval("top-up", topup.status)
    check_approver(topup.operator, approver, "top-up")
    level = _check_wallet(runtime, topup.wallet)
    pending.lock_wallet(session, topup.wallet)
    _check_room(session, runtime, topup.wallet, level, topup.amount_minted, topup.bonus)
    topup.status, topup.approved_by, topup.approved_at = "pending", approver, utcnow()
    _queue_mint(session, runtime, topup)
    log.info("top-up %s (%d yen) approved by %s, recorded by %s", topup.id, topup.amount_paid, approver,
             topup.operator)
    return topup


def _check_wallet(runtime: Runtime, wallet: str) -> AssuranceLevel:
    """The wallet's assurance level, once it is a verified, unfrozen resident's (one registry read)."""
    status = runtime.registry.status(wallet)
    if status.kind is not Kind.RESIDENT or not status.verified:
        raise TopUpRefused("only a verified resident's wallet can be topped up (link the My Number card first)",
                           code="recipient_not_verified", param="wallet")
    if runtime.coin.is_frozen(wallet):
        raise TopUpRefused("this wallet is frozen", code="recipient_frozen", param="wallet")
    return status.level


def _check_room(session: Session, runtime: Runtime, wallet: str, level: AssuranceLevel, total: int,
                bonus: int) -> None:
    coin = runtime.coin
    if level is not AssuranceLevel.NONE:
        cap = coin.balance_cap(level)
        room = cap - coin.balance_of(wallet) - pending.pending_in(session, wallet) - _pending_mints(session, wallet)
        if total > room:
            raise TopUpRefused(f"the wallet can take at most {max(room, 0)} more coins (cap {cap}); this top-up "
                               f"would mint {total}", code="balance_cap_exceeded", param="amount")
    allowance = coin.minter_allowance(runtime.keys.topup_minter.address) - _pending_mints(session)
    if total > allowance:
        raise TopUpRefused("the top-up budget of the city's minter is exhausted; contact the finance department",
                           code="minter_allowance_exceeded", param="amount")
    if bonus and bonus > points.points_budget(runtime) - _pending_bonus(session):
        raise TopUpRefused("the city's points budget cannot cover this top-up's campaign bonus; contact the finance"
                           " department", code="points_budget_exceeded", param="amount")


def _queue_mint(session: Session, runtime: Runtime, topup: TopUp) -> None:
    call = runtime.coin.mint_call(topup.wallet, topup.amount_minted)
    intent = enqueue(session, sender=runtime.keys.topup_minter.address, to=call.to, data=call.data,
                     kind="topup.mint", reference=f"topup:{topup.id}")
    topup.intent_id = intent.id
    if topup.bonus:
        expiry = points.expiry_for(runtime, runtime.settings.topup_bonus_expiry_days)
        credit = points.queue_credit(session, runtime, topup.wallet, topup.bonus, expiry, kind=POINTS_KIND,
                                     reference=f"topup-points:{topup.id}")
        topup.points_intent_id, topup.points_status = credit.id, "pending"
        topup.points_expire_at = points.expiry_datetime(expiry)


def get_topup(session: Session, topup_id: str, wallet: str | None = None) -> TopUp:
    """A top-up receipt (the resident's own when ``wallet`` is given).

    Raises:
        NotFound: no such top-up for this caller.
    """
    return row_or_404(session, TopUp, topup_id, what="top-up",
                      visible=None if wallet is None else lambda topup: topup.wallet == wallet)


def list_topups(session: Session, wallet: str | None, limit: int, starting_after: str | None = None) -> Window[TopUp]:
    """Top-ups newest first (one wallet's when given), cursor-paginated.

    Raises:
        InvalidRequest: unknown cursor (or another wallet's).
    """
    query = select(TopUp)
    if wallet is not None:
        query = query.where(TopUp.wallet == wallet)
    return newest_first(session, TopUp, query, limit=limit, starting_after=starting_after,
                        cursor_scope=None if wallet is None else TopUp.wallet == wallet)


def on_topup_final(session: Session, runtime: Runtime, intent: TxIntent) -> None:
    """Final-state handler of ``topup.*`` intents: the mint (or the bonus's points credit) is confirmed or
    failed."""
    if intent.reference is None:
        return
    topup = session.get(TopUp, intent.reference.split(":", 1)[1], with_for_update=True)
    if topup is not None and intent.kind == POINTS_KIND:
        if topup.points_status == "pending":
            topup.points_status = "credited" if intent.status == IntentStatus.CONFIRMED else "failed"
            if topup.points_status == "failed":
                log.error("top-up %s: the bonus of %d points failed to credit: %s — credit it by hand", topup.id,
                          topup.bonus, intent.error_message)
        return
    if topup is None or topup.status != "pending":
        return
    topup.tx_hash = intent.tx_hash
    if intent.status == IntentStatus.CONFIRMED:
        topup.status = "confirmed"
        topup.confirmed_at = utcnow()
    else:
        topup.status = "failed"
        topup.failure_code = intent.error_code
        log.error("top-up %s (%d yen received) failed to mint: %s — refund the yen", topup.id, topup.amount_paid,
                  intent.error_message)
