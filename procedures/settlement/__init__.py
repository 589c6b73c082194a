"""Coins in and out of the currency: top-ups (yen in, coins minted), merchants' payouts (coins
burned, yen out through a Zengin bank file), statements, and reconciliation with the chain.

    models.py      TopUp, Payout, PayoutBatch
    topups.py      checks, the mint through the outbox, ``topup.*`` intents coming back
    payouts.py     redeem: transfer to the settlement account, burn, Zengin batches; their hooks
    statements.py  a merchant's CSV statement
    reconcile.py   the database's ledger against chain balances and supply (``machi reconcile``: cli.py)
    schemas.py     request and response bodies
    routes.py      merchant payouts and statements, residents' top-up receipts
"""
