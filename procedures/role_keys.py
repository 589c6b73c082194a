"""The service's keys as the chain sees them: the role table for admins (``/healthz``, the console),
and the admin key for the operator's own commands (``machi deploy``, ``machi admin …``).

The service loads one hot key per on-chain role (``procedures.runtime.Keys``); the admin key is never
among them. It comes from a Web3 Secret Storage keystore (``MACHI_ADMIN_KEYSTORE``, the password
prompted or read from a file), or — development only — from ``MACHI_ADMIN_KEY``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from chain.errors import MachiError
from procedures.config import Settings
from procedures.runtime import Runtime

log = logging.getLogger("machi.keys")

__all__ = ["AdminKeyUnavailable", "key_table", "load_admin_key"]


class AdminKeyUnavailable(MachiError):
    """No admin key to sign with: no keystore given (and no development key), or a wrong password."""

    code = "admin_key_unavailable"


def key_table(runtime: Runtime) -> dict[str, Any]:
    """The role table: for every hot key, its name, address, the roles it holds on chain and whether
    that is right (``chain.roles.role_report``); ``ok`` is false when any row is not. Reads the chain."""
    rows = [row.to_dict() for row in runtime.role_table()]
    return {"ok": all(row["ok"] for row in rows), "keys": rows}


def load_admin_key(settings: Settings, keystore: Path | None = None, password: str | None = None) -> LocalAccount:
    """The admin key for one operator command.

    Args:
        keystore: a Web3 Secret Storage file (default ``MACHI_ADMIN_KEYSTORE``).
        password: its password (the command prompts for it or reads ``--password-file``).

    Raises:
        AdminKeyUnavailable: no keystore and no development key; the keystore unreadable or the
            password wrong.
    """
    path = keystore or settings.admin_keystore
    if path is not None:
        if password is None:
            raise AdminKeyUnavailable("the admin keystore needs its password")
        try:
            blob = json.loads(Path(path).read_text())
            key = Account.decrypt(blob, password)
        except (OSError, ValueError, KeyError) as exc:
            raise AdminKeyUnavailable(f"cannot open the admin keystore {path}: {type(exc).__name__}"
                                      f"{' (wrong password?)' if isinstance(exc, ValueError) else ''}") from None
        account: LocalAccount = Account.from_key(key)
        return account
    secret = settings.effective_admin_key
    if secret is None:
        raise AdminKeyUnavailable("no admin key: give --keystore (or MACHI_ADMIN_KEYSTORE), or --print-tx to "
                                  "print the transaction for the admin multisig")
    dev: LocalAccount = Account.from_key(secret.get_secret_value())
    return dev
