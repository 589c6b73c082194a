"""Gasless transfers: validate a signed ERC-3009 authorization, queue it for the batch relay,
settle it when the relayer reports the item's fate.

Validation happens before acceptance, so most mistakes are refused at once with a clear error:
the signature, the validity window, and then one ``eth_call`` of the coin's batch entry point
(``screen_batch``) that checks nonce, verification, freezes, policy, balance and cap exactly as
the chain will. Payments already accepted but not yet confirmed count against the payer's
balance (and the payee's cap), so two authorizations that together exceed a balance cannot both
be accepted; whatever still fails on chain (a skipped batch item) ends ``failed`` with the reason.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from chain.contracts.authorization import SEQUENCE_KEY, Authorization, authorization_signer, split_nonce
from chain.contracts.base import ZERO_BYTES32
from chain.contracts.coin import CoinBatcher, SkipReason
from chain.contracts.registry import AssuranceLevel, Kind
from chain.outbox import IntentStatus, TxIntent, enqueue
from chain.storage import utcnow
from procedures.addresses import checksum
from procedures.errors import Conflict, InvalidRequest, Unavailable
from procedures.ids import new_id
from procedures.pagination import Window, newest_first
from procedures.rows import row_or_404
from procedures.runtime import FinalHandler, Runtime
from procedures.transfers.models import CustodialWallet, Transfer
from procedures.transfers.pending import OPEN, lock_wallet, open_outgoing, pending_in, pending_out

MAX_VALIDITY_S = 24 * 3600
MIN_REMAINING_S = 30

#: Run in the relayer's transaction once a transfer is final, for the purpose it settles.
TransferHook = Callable[[Session, Runtime, Transfer], None]


class PaymentRefused(Conflict):
    """The authorization is well-formed but cannot be carried out now."""

    code = "payment_refused"


_SKIP_CODES: dict[SkipReason, tuple[type[InvalidRequest] | type[Conflict], str, str]] = {
    SkipReason.NOT_YET_VALID: (InvalidRequest, "authorization_not_yet_valid", "the authorization is not valid yet"),
    SkipReason.EXPIRED: (InvalidRequest, "authorization_expired", "the authorization has expired"),
    SkipReason.INVALID_SIGNATURE: (InvalidRequest, "invalid_signature", "the signature is not the payer's"),
    SkipReason.NONCE_USED: (PaymentRefused, "nonce_used", "this authorization (nonce) was already used"),
    SkipReason.NONCE_AHEAD: (
        PaymentRefused,
        "nonce_ahead",
        "an earlier nonce of this key is not used (and no payment in progress will use it): sign again with the"
        " wallet's next nonce (GET /v1/wallet/nonce)",
    ),
    SkipReason.SENDER_NOT_VERIFIED: (
        PaymentRefused,
        "sender_not_verified",
        "the paying wallet is not verified (link your My Number card)",
    ),
    SkipReason.SENDER_FROZEN: (PaymentRefused, "sender_frozen", "the paying wallet is frozen"),
    SkipReason.RECIPIENT_NOT_VERIFIED: (PaymentRefused, "recipient_not_verified", "the recipient is not verified"),
    SkipReason.RECIPIENT_FROZEN: (PaymentRefused, "recipient_frozen", "the recipient's wallet is frozen"),
    SkipReason.TRANSFER_NOT_ALLOWED: (
        PaymentRefused,
        "transfer_not_allowed",
        "payments between these kinds of account are not allowed",
    ),
    SkipReason.INSUFFICIENT_BALANCE: (PaymentRefused, "insufficient_balance", "the balance is too low"),
    SkipReason.BALANCE_CAP_EXCEEDED: (
        PaymentRefused,
        "balance_cap_exceeded",
        "the recipient's balance would exceed its cap",
    ),
    SkipReason.NONCE_KEY_ZERO: (
        InvalidRequest,
        "nonce_key_zero",
        "nonce key 0 is reserved for EIP-2612 permits; sign the authorization with a non-zero nonce key",
    ),
    SkipReason.POINTS_EXPIRED: (
        PaymentRefused,
        "points_expired",
        "the balance is too low: some of the wallet's points have expired",
    ),
    SkipReason.POINTS_NOT_TRANSFERABLE: (
        PaymentRefused,
        "points_not_transferable",
        "the coins are too low: points pay merchants only (they cannot be sent to a resident or redeemed)",
    ),
}


def skip_code(label: str | None) -> str:
    """The API error code for a batch skip reason label (``InsufficientBalance`` → ``insufficient_balance``)."""
    for reason, (_, code, _) in _SKIP_CODES.items():
        if reason.label == label:
            return code
    return (
        "relay_failed" if label is None else "".join("_" + c.lower() if c.isupper() else c for c in label).lstrip("_")
    )


def same_authorization(transfer: Transfer, auth: Authorization) -> bool:
    """``transfer`` carries exactly this signed authorization (its payment reference aside)."""
    try:
        stored = Authorization.decode(transfer.item)
    except ValueError:
        return False
    return stored.with_ref(ZERO_BYTES32) == auth.with_ref(ZERO_BYTES32)


def replay_of(session: Session, auth: Authorization) -> Transfer | None:
    """The transfer already accepted for this very signed authorization, if any.

    A client that lost the answer (a dropped connection, a restarted service) sends the same
    authorization again; it gets the first transfer back instead of a "nonce used" refusal. (A nonce
    may have several transfers: a failed one left it unused, and the wallet signed it again.)
    """
    earlier = session.scalars(select(Transfer).where(Transfer.from_wallet == checksum(auth.from_, "authorization.from"),
                                                     Transfer.nonce == "0x" + auth.nonce.hex()))
    return next((transfer for transfer in earlier if same_authorization(transfer, auth)), None)


#: How the ``nonce`` column of a key-1 (``SEQUENCE_KEY``) authorization starts: the 192-bit key in hex.
_SEQUENCE_NONCE_PREFIX = "0x" + SEQUENCE_KEY.to_bytes(24, "big").hex()


def open_sequenced(session: Session, payer: str) -> list[Authorization]:
    """The payer's accepted, not yet final key-1 authorizations, in sequence order."""
    items = session.scalars(select(Transfer.item).where(Transfer.from_wallet == payer, Transfer.status.in_(OPEN),
                                                        Transfer.nonce.startswith(_SEQUENCE_NONCE_PREFIX)))
    return sorted((Authorization.decode(item) for item in items), key=lambda auth: split_nonce(auth.nonce)[1])


def next_sequence(session: Session, runtime: Runtime, wallet: str) -> tuple[int, int]:
    """The sequence number ``wallet`` signs its next key-1 payment with, and how many of its key-1 payments
    are still in progress: the chain's next number, or one past the last payment still in progress."""
    _, on_chain = split_nonce(runtime.coin.nonces(wallet, SEQUENCE_KEY))
    in_progress = [split_nonce(auth.nonce)[1] for auth in open_sequenced(session, wallet)]
    return max([on_chain, *(sequence + 1 for sequence in in_progress)]), len(in_progress)


def accept(
    session: Session,
    runtime: Runtime,
    auth: Authorization,
    *,
    kind: str,
    purpose: str | None = None,
    memo: str | None = None,
    expected_to: str | None = None,
    expected_amount: int | None = None,
) -> Transfer:
    """Validate ``auth`` and queue it for the batch relay, in the caller's transaction.

    Args:
        kind: payment | p2p | fee | refund | fee_refund | benefit …
        purpose: what it settles (``payment_request:pr_…``); final-state hooks key on its prefix.
        expected_to / expected_amount: what the caller's domain requires (e.g. the request's merchant
            and amount); a mismatch is refused.

    The same signed authorization sent again for the same kind and purpose (a client retrying after
    a lost answer) returns the transfer accepted the first time, whatever its state now.

    Raises:
        InvalidRequest: malformed, badly signed, outside its validity window.
        PaymentRefused: the chain would refuse it now (balance, verification, freeze, cap, nonce).
        Unavailable: the coin is paused.
    """
    earlier = replay_of(session, auth)
    if earlier is not None and (earlier.kind, earlier.purpose) == (kind, purpose):
        return earlier
    now = int(time.time())
    if auth.value <= 0:
        raise InvalidRequest("the amount must be a positive whole number of coins", param="authorization.value")
    if checksum(auth.from_, "authorization.from") == checksum(auth.to, "authorization.to"):
        raise InvalidRequest("payer and payee are the same wallet", param="authorization.to")
    if expected_to is not None and checksum(auth.to, "authorization.to") != checksum(expected_to):
        raise InvalidRequest(
            "the authorization pays another wallet than requested", code="wrong_recipient", param="authorization.to"
        )
    if expected_amount is not None and auth.value != expected_amount:
        raise InvalidRequest(
            f"the authorization is for {auth.value}, the request is for {expected_amount}",
            code="wrong_amount",
            param="authorization.value",
        )
    if auth.valid_before <= now + MIN_REMAINING_S:
        raise InvalidRequest(
            "the authorization expires too soon (or has expired)",
            code="authorization_expired",
            param="authorization.valid_before",
        )
    if auth.valid_before - max(auth.valid_after, now) > MAX_VALIDITY_S:
        raise InvalidRequest(
            "an authorization may be valid for at most 24 hours",
            code="validity_too_long",
            param="authorization.valid_before",
        )
    if auth.valid_after >= now:
        raise InvalidRequest(
            "the authorization is not valid yet", code="authorization_not_yet_valid", param="authorization.valid_after"
        )
    if auth.nonce_key == 0:
        # Key 0 is the permit's sequential nonce: an authorization on it and a permit would cancel each other.
        cls, code, message = _SKIP_CODES[SkipReason.NONCE_KEY_ZERO]
        raise cls(message, code=code, param="authorization.nonce")
    coin = runtime.coin
    try:
        signer = authorization_signer(auth, coin.domain())
    except ValueError:
        signer = ""
    if signer.lower() != auth.from_.lower():
        raise InvalidRequest(
            "the signature is not the payer's (wrong key, chain, coin or fields)",
            code="invalid_signature",
            param="authorization.signature",
        )

    payer, payee = checksum(auth.from_, "authorization.from"), checksum(auth.to, "authorization.to")
    nonce_hex = "0x" + auth.nonce.hex()
    lock_wallet(session, payer)
    # again under the lock: the same authorization sent twice at once (a client's or a proxy's retry) gets the
    # first transfer back, never "nonce used" (on which the wallet would sign the payment a second time)
    earlier = replay_of(session, auth)
    if earlier is not None and (earlier.kind, earlier.purpose) == (kind, purpose):
        return earlier
    if session.scalar(select(Transfer.id).where(Transfer.from_wallet == payer, Transfer.nonce == nonce_hex,
                                                Transfer.status != "failed")):
        raise PaymentRefused(
            "this authorization (nonce) was already submitted", code="nonce_used", param="authorization.nonce"
        )
    _screen(runtime, auth, _sequenced_before(session, payer, auth))
    owed = pending_out(session, payer)
    fits = not owed or coin.balance_of(payer) >= owed + auth.value
    if not fits:  # points pay a resident's payments to merchants first: count them beside the coins
        points = _points_for(runtime, payer, payee)
        fits = (points > 0 and coin.balance_of(payer) + points >= owed + auth.value) or _fits_once_mined(
            session, runtime, payer, auth.value - points)
    if not fits:
        raise PaymentRefused(
            "the balance is too low once payments still in progress are counted",
            code="insufficient_balance",
            param="authorization.value",
        )
    incoming = pending_in(session, payee)
    # Custodial wallets are merchants and city accounts: uncapped, so no chain read is needed.
    if incoming and session.get(CustodialWallet, payee) is None:
        status = runtime.registry.status(payee)
        if status.kind is Kind.RESIDENT and status.level is not AssuranceLevel.NONE:
            cap = coin.balance_cap(status.level)
            if coin.balance_of(payee) + incoming + auth.value > cap:
                raise PaymentRefused(
                    "the recipient's balance would exceed its cap",
                    code="balance_cap_exceeded",
                    param="authorization.value",
                )

    transfer_id = new_id("tr")
    ref = os.urandom(32)
    labelled = auth.with_ref(ref)
    transfer = Transfer(
        id=transfer_id,
        kind=kind,
        purpose=purpose,
        from_wallet=payer,
        to_wallet=payee,
        amount=auth.value,
        nonce=nonce_hex,
        ref="0x" + ref.hex(),
        valid_after=auth.valid_after,
        valid_before=auth.valid_before,
        item=labelled.encode(),
        status="accepted",
        memo=memo,
    )
    session.add(transfer)
    intent = enqueue(
        session,
        sender=runtime.keys.relayer.address,
        to=coin.address,
        data=coin.transfer_with_authorization_call(auth).data,
        kind="transfer",
        reference=transfer_id,
        batch_key=CoinBatcher.KEY,
        batch_item=labelled.encode(),
    )
    transfer.intent_id = intent.id
    session.flush()
    return transfer


def _points_for(runtime: Runtime, payer: str, payee: str) -> int:
    """The payer's unexpired points that a payment to ``payee`` may spend: all of them to a merchant, none to
    anyone else (the contract's rule). An upper bound beside payments in progress, which may spend some first:
    the chain's screening of the batch is exact."""
    if runtime.registry.status(payee).kind is not Kind.MERCHANT:
        return 0
    return runtime.coin.points_of(payer).unexpired


def _fits_once_mined(session: Session, runtime: Runtime, payer: str, value: int) -> bool:
    """The slow, exact second look when ``value`` does not fit beside the payer's transfers in progress:
    a transfer the relayer has sent but not yet seen mined is both in the chain balance and still
    counted as in progress, which refuses a payment that fits (a merchant's second refund moments
    after the first). Read the balance and those transfers' nonces at one block, and count only the
    transfers whose nonce is not used there."""
    transfers, reserving = open_outgoing(session, payer)
    balance, used = runtime.coin.balance_and_used(payer, [nonce for nonce, _ in transfers])
    owed = sum(amount for (_, amount), spent in zip(transfers, used, strict=True) if not spent)
    return balance >= owed + reserving + value


def _sequenced_before(session: Session, payer: str, auth: Authorization) -> list[Authorization]:
    """The payer's key-1 payments in progress that the chain must run before ``auth`` (none unless ``auth``
    is on key 1): screened with it, so that its number, one past theirs, is not taken for ``NonceAhead``."""
    if auth.nonce_key != SEQUENCE_KEY:
        return []
    _, sequence = split_nonce(auth.nonce)
    return [earlier for earlier in open_sequenced(session, payer) if split_nonce(earlier.nonce)[1] < sequence]


def _screen(runtime: Runtime, auth: Authorization, before: list[Authorization]) -> None:
    """What the chain would do with ``auth`` now, run after the ``before`` items (the payer's earlier key-1
    payments in progress, which the relayer sends first)."""
    from chain.errors import ContractLogicError

    try:
        reason = runtime.coin.screen_batch([*before, auth], runtime.keys.relayer.address)[-1]
    except ContractLogicError as exc:
        if exc.name == "EnforcedPause":
            raise Unavailable(
                "payments are paused by the city", code="coin_paused", headers={"Retry-After": "60"}
            ) from None
        raise
    if reason is SkipReason.NONE:
        return
    cls, code, message = _SKIP_CODES[reason]
    raise cls(message, code=code, param="authorization")


def status_of(session: Session, transfer: Transfer) -> str:
    """accepted | submitted | confirmed | failed (submitted = inside a signed transaction)."""
    if transfer.status == "accepted" and transfer.intent_id is not None:
        intent_status = session.scalar(select(TxIntent.status).where(TxIntent.id == transfer.intent_id))
        if intent_status == IntentStatus.PENDING:
            return "submitted"
    return transfer.status


def get_transfer(session: Session, transfer_id: str, wallet: str | None = None) -> Transfer:
    """A transfer, visible only to its parties when ``wallet`` is given.

    Raises:
        NotFound: no such transfer for this caller.
    """
    return row_or_404(session, Transfer, transfer_id, what="transfer",
                      visible=None if wallet is None else lambda t: wallet in (t.from_wallet, t.to_wallet))


def history(session: Session, wallet: str, limit: int, starting_after: str | None) -> Window[Transfer]:
    """A wallet's transfers, newest first, cursor-paginated by transfer id.

    Raises:
        InvalidRequest: unknown cursor.
    """
    query = select(Transfer).where(or_(Transfer.from_wallet == wallet, Transfer.to_wallet == wallet))
    return newest_first(session, Transfer, query, limit=limit, starting_after=starting_after)


def settle(session: Session, intent: TxIntent) -> Transfer | None:
    """Record the fate of the transfer behind a final ``transfer`` intent (the relayer's transaction).

    Returns:
        The transfer, now confirmed or failed; ``None`` when there is none, it was already final, or
        its authorization was used by someone else first (left open for ``chain_settlement``).
    """
    if intent.reference is None:
        return None
    transfer = session.get(Transfer, intent.reference, with_for_update=True)
    if transfer is None or transfer.status not in OPEN:
        return None
    if intent.status == IntentStatus.FAILED and intent.error_code == SkipReason.NONCE_USED.label:
        # Someone used the authorization before our batch (front-running, or the payer's own
        # submission): the payee may well be paid. The chain's logs decide (chain_settlement).
        return None
    if intent.status == IntentStatus.CONFIRMED:
        return finish(transfer, intent.tx_hash, intent.block_number)
    return finish(transfer, intent.tx_hash, intent.block_number, failure=(
        skip_code(intent.error_code), intent.error_message or "the relay failed"))


def finish(transfer: Transfer, tx_hash: str | None, block_number: int | None,
           failure: tuple[str, str] | None = None) -> Transfer:
    """Make an open ``transfer`` final: confirmed in ``tx_hash``, or failed with ``failure`` (code, message)."""
    transfer.tx_hash = tx_hash
    transfer.block_number = block_number
    if failure is None:
        transfer.status = "confirmed"
        transfer.confirmed_at = utcnow()
    else:
        transfer.status = "failed"
        transfer.failure_code, transfer.failure_message = failure
    return transfer


def purpose_kind(transfer: Transfer) -> str | None:
    """What a transfer settles, without the object id (``payment_request`` of ``payment_request:pr_…``)."""
    return transfer.purpose.split(":", 1)[0] if transfer.purpose else None


def run_purpose_hook(session: Session, runtime: Runtime, hooks: Mapping[str, TransferHook],
                     transfer: Transfer) -> None:
    """Run the hook of the final ``transfer``'s purpose (``hooks`` by ``purpose_kind``), if it has one."""
    kind = purpose_kind(transfer)
    hook = hooks.get(kind) if kind is not None else None
    if hook is not None:
        hook(session, runtime, transfer)


def final_handler(hooks: Mapping[str, TransferHook]) -> FinalHandler:
    """The final-state handler of ``transfer`` intents: settle the transfer, then run the hook of
    its purpose (``hooks`` by ``purpose_kind``), all in the relayer's transaction."""

    def on_transfer_final(session: Session, runtime: Runtime, intent: TxIntent) -> None:
        transfer = settle(session, intent)
        if transfer is not None:
            run_purpose_hook(session, runtime, hooks, transfer)

    return on_transfer_final
