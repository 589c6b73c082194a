"""Why a card payment or an opt-in is refused: one class per reason, the message built here.

Each names what the cashier or the clerk can tell the resident; none says anything about the person
(no name, no serial, no balance of someone else).
"""

from __future__ import annotations

from procedures.errors import Conflict, InvalidRequest, PermissionDenied

__all__ = ["CardNotLinked", "CardWalletExists", "CardWalletFrozen", "IdentityNotLive", "LimitExceeded",
           "NotOptedIn", "StatementMismatch"]


class StatementMismatch(InvalidRequest):
    """The statement the card signed is not the one for this request (amount, merchant, chain, coin…)."""

    code = "card_statement_mismatch"

    def __init__(self, field: str) -> None:
        super().__init__(f"the signed statement's {field} does not match this payment", param=f"statement.{field}")


class CardNotLinked(PermissionDenied):
    """A valid card nobody linked to a wallet here."""

    code = "card_not_linked"

    def __init__(self) -> None:
        super().__init__("this card is not linked to a wallet in this city; link it first (machi-wallet link-card)")


class IdentityNotLive(PermissionDenied):
    """The card's person had an identity here, but it is revoked or has expired."""

    code = "identity_not_live"

    def __init__(self) -> None:
        super().__init__("the identity linked to this card is revoked or has expired; renew it at the city office")


class NotOptedIn(PermissionDenied):
    """The card holder has no card wallet (or closed it)."""

    code = "card_wallet_not_opted_in"

    def __init__(self) -> None:
        super().__init__("this card has no card wallet; the holder can opt in at a city counter")


class CardWalletFrozen(PermissionDenied):
    """The card wallet, or the person's own wallet, is frozen on chain."""

    code = "card_wallet_frozen"

    def __init__(self) -> None:
        super().__init__("this resident's wallet is frozen; card payments are refused until the city lifts it")


class LimitExceeded(Conflict):
    """The payment is over the per-payment limit, or over what is left of the day's."""

    def __init__(self, *, daily: bool, limit: int, left: int | None = None) -> None:
        self.code = "card_daily_limit_exceeded" if daily else "card_payment_limit_exceeded"
        if daily:
            message = f"over the card wallet's daily limit of {limit:,} coins ({left or 0:,} left today)"
        else:
            message = f"over the limit of {limit:,} coins for one card payment"
        super().__init__(message, param="amount")


class CardWalletExists(Conflict):
    """The card holder opted in already."""

    code = "card_wallet_exists"

    def __init__(self) -> None:
        super().__init__("this card holder already has a card wallet")
