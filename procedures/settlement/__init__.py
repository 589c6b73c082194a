"""Coins in and out of the currency: top-ups (yen in, coins minted), merchants' payouts (coins
burned, yen out through a Zengin bank file), statements, and reconciliation with the chain."""
