"""The wallet keystore: Web3 Secret Storage, never overwritten, private to its owner."""

from __future__ import annotations

import json
import stat

import pytest
from eth_account import Account

from wallet import keystore
from wallet.keystore import KeystoreError, create_keystore, default_keystore, keystore_address, load_account

DEFAULT_SCRYPT_N = keystore.SCRYPT_N


@pytest.fixture(autouse=True)
def _cheap_kdf(monkeypatch):
    monkeypatch.setattr(keystore, "SCRYPT_N", 2**10)


def test_create_load_and_refuse_to_overwrite(tmp_path):
    path = tmp_path / "home" / "keystore.json"
    address = create_keystore(path, "pw 1")
    data = json.loads(path.read_text())
    assert data["version"] == 3 and data["crypto"]["kdf"] == "scrypt" and data["crypto"]["kdfparams"]["n"] == 2**10
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keystore_address(path) == address == load_account(path, "pw 1").address
    assert Account.decrypt(data, "pw 1")  # standard format: any Web3 Secret Storage reader opens it
    with pytest.raises(KeystoreError, match="already exists"):
        create_keystore(path, "pw 2")
    assert load_account(path, "pw 1").address == address  # untouched
    with pytest.raises(KeystoreError, match="wrong wallet password"):
        load_account(path, "pw 2")


def test_errors_and_locations(tmp_path, monkeypatch):
    with pytest.raises(KeystoreError, match="machi-wallet init"):
        load_account(tmp_path / "missing.json", "x")
    (tmp_path / "junk.json").write_text("{}")
    with pytest.raises(KeystoreError, match="not a Web3 Secret Storage"):
        keystore_address(tmp_path / "junk.json")
    with pytest.raises(KeystoreError, match="empty"):
        create_keystore(tmp_path / "k.json", "")
    monkeypatch.setenv("MACHI_WALLET_HOME", str(tmp_path / "w"))
    assert default_keystore() == tmp_path / "w" / "keystore.json"
    monkeypatch.delenv("MACHI_WALLET_HOME")
    assert default_keystore().parent.name == ".machi-wallet"


def test_default_cost_is_the_standard():
    assert DEFAULT_SCRYPT_N == 2**18  # what real wallets get; the tests above only make it cheaper


def test_init_asks_for_a_confirmed_password(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from wallet.cli import main

    monkeypatch.delenv("MACHI_WALLET_PASSWORD", raising=False)
    env = {"MACHI_WALLET_HOME": str(tmp_path)}
    mismatch = CliRunner().invoke(main, ["init"], env=env, input="first pw\nsecond pw\nfirst pw\nfirst pw\n")
    assert mismatch.exit_code == 0, mismatch.output
    assert "do not match" in mismatch.output and "first pw" not in mismatch.output  # hidden input
    address = CliRunner().invoke(main, ["address"], env=env).output.strip()
    assert load_account(tmp_path / "keystore.json", "first pw").address == address
