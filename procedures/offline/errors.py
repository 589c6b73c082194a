"""Why an offline reserve or an offline payment is refused: one class per reason, the message built here."""

from __future__ import annotations

from procedures.errors import Conflict, InvalidRequest

__all__ = ["OverReserveLimit", "ReserveRefused", "SeenElsewhere"]


class OverReserveLimit(Conflict):
    """The reserve would hold more than the city's offline limit (raised in disaster mode)."""

    code = "offline_limit_exceeded"

    def __init__(self, limit: int, reserved: int) -> None:
        super().__init__(f"an offline reserve holds at most {limit:,} coins ({max(0, limit - reserved):,} more "
                         "possible now)", param="amount")


class ReserveRefused(InvalidRequest):
    """The chain would refuse the reserve: the payer's signature, balance, verification or freeze."""

    code = "reserve_refused"

    def __init__(self, reason: str) -> None:
        super().__init__(f"the chain refuses this reserve: {reason}", param="authorization")


class SeenElsewhere(Conflict):
    """The same signed offline payment was relayed already by another merchant (it can only pay its own)."""

    code = "offline_payment_seen"

    def __init__(self) -> None:
        super().__init__("this offline payment was relayed already", param="code")
