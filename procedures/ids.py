"""Object ids: opaque and unguessable, with a prefix naming the type (Stripe style: ``pr_3f…``)."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    """A new id such as ``pr_3f…``: the prefix, an underscore and 24 random hex digits."""
    return f"{prefix}_{secrets.token_hex(12)}"
