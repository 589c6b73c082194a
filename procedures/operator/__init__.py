"""The city operator's money endpoints (``/v1/admin``): merchants, top-ups, payout batches,
reconciliation, and the chain actions on one wallet — freezes and recovery retries, audited."""
