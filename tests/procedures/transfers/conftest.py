"""Transfers fixtures: the merchant fixtures too — payments to merchants are transfers, and the
outage, crash and wallet-CLI tests pay payment requests."""

from __future__ import annotations

from tests.procedures.merchants.conftest import onboard, receiver, settings

__all__ = ["onboard", "receiver", "settings"]
