"""Settlement fixtures: merchants (payouts redeem their takings) and their webhook receiver."""

from __future__ import annotations

from tests.procedures.merchants.conftest import onboard, receiver, settings

__all__ = ["onboard", "receiver", "settings"]
