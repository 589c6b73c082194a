"""The resident's key, in a Web3 Secret Storage (keystore v3) file.

Default location ``~/.machi-wallet/keystore.json``; ``MACHI_WALLET_HOME`` moves the directory,
``--keystore PATH`` names the file.  The file is written once (never overwritten: losing a key
is what recovery is for, silently replacing one is not) with mode 0600.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from protocol.addresses import checksum
from protocol.errors import InvalidAddress
from wallet.i18n import english

__all__ = [
    "KEYSTORE_FILE",
    "SCRYPT_N",
    "KeystoreError",
    "create_keystore",
    "default_keystore",
    "keystore_address",
    "load_account",
]

KEYSTORE_FILE = "keystore.json"
#: scrypt cost (N) of new keystores: eth-account's and geth's standard 2**18 (~1 s to unlock).
SCRYPT_N = 2**18


class KeystoreError(Exception):
    """The keystore is missing, unreadable, already there, or the password is wrong.

    ``key`` and ``values`` name the message in ``wallet.i18n``; ``str()`` is its English wording."""

    def __init__(self, key: str, **values: Any) -> None:
        self.key, self.values = key, values
        super().__init__(english(key, values))


def default_keystore() -> Path:
    """``$MACHI_WALLET_HOME/keystore.json`` (default ``~/.machi-wallet/keystore.json``)."""
    home = os.environ.get("MACHI_WALLET_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".machi-wallet") / KEYSTORE_FILE


def create_keystore(path: Path, password: str) -> str:
    """Generate a key, encrypt it under ``password`` (scrypt) and write it to ``path``.

    Returns:
        The new wallet's checksummed address.

    Raises:
        KeystoreError: ``path`` exists, or the password is empty.
    """
    if not password:
        raise KeystoreError("keystore_empty_password")
    if path.exists():
        raise KeystoreError("keystore_exists", path=path)
    account = Account.create()
    data = Account.encrypt(account.key, password, kdf="scrypt", iterations=SCRYPT_N)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeystoreError("keystore_exists", path=path) from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    return str(account.address)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeystoreError("keystore_missing", path=path) from None
    except (OSError, ValueError) as exc:
        raise KeystoreError("keystore_unreadable", path=path, problem=type(exc).__name__) from None
    if not isinstance(data, dict) or "crypto" not in data and "Crypto" not in data:
        raise KeystoreError("keystore_not_v3", path=path)
    return data


def keystore_address(path: Path) -> str:
    """The wallet address recorded in the keystore (no password needed)."""
    data = _read(path)
    if "address" not in data:
        raise KeystoreError("keystore_no_address", path=path)
    try:
        return checksum("0x" + str(data["address"]).removeprefix("0x"), "its recorded address")
    except InvalidAddress as exc:
        raise KeystoreError("keystore_bad_address", path=path, problem=exc.message) from None


def load_account(path: Path, password: str) -> LocalAccount:
    """Decrypt the keystore.

    Raises:
        KeystoreError: missing file or wrong password.
    """
    data = _read(path)
    try:
        key = Account.decrypt(data, password)
    except ValueError:
        raise KeystoreError("wrong_password") from None
    account: LocalAccount = Account.from_key(key)
    return account
