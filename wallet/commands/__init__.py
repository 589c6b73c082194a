"""``machi-wallet`` commands, one module per area; each exposes ``COMMANDS`` (see ``wallet.cli``)."""
