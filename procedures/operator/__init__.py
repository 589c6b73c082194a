"""The city operator's money endpoints (``/v1/admin``): merchants, top-ups, payout batches,
reconciliation, and the chain actions on one wallet — freezes and recovery retries, audited.

    models.py          WalletAction (the audit trail)
    wallet_actions.py  recording actions, with their intent's outcome
    freezes.py         freeze / unfreeze through the outbox
    recoveries.py      a lost-wallet recovery's state; retrying its balance move
    schemas.py         request and response bodies of the wallet actions
    routes.py          /v1/admin (the other rooms' services behind the operator's role)
"""
