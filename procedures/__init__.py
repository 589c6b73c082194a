"""The Machi Ledger service: identity, e-applications, clerk endpoints, merchant payments."""
