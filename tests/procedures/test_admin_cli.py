"""``machi admin …``: the admin key's acts from a keystore (password from a file), or printed for a
multisig with ``--print-tx``; the role table. Real anvil, the session's city deployment."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from eth_account import Account

from chain.node import rpc_call
from procedures import admin_cli
from procedures.config import DEV_ADMIN_KEY


@pytest.fixture
def keystore(tmp_path):
    path, password = tmp_path / "admin.json", tmp_path / "password.txt"
    path.write_text(json.dumps(Account.encrypt(DEV_ADMIN_KEY, "correct horse battery")))
    password.write_text("correct horse battery\n")
    return path, password


def test_print_tx_prints_the_unsigned_call_and_signs_nothing(cli_env):
    runtime = cli_env
    result = CliRunner().invoke(admin_cli.pause, ["--print-tx"])
    assert result.exit_code == 0, result.output
    tx = json.loads(result.output)
    assert tx["to"] == runtime.coin.address and tx["data"] == "0x" + runtime.coin.pause_call().data.hex()
    assert tx["chainId"] == runtime.w3.eth.chain_id and tx["value"] == 0
    assert runtime.coin.contract.functions.paused().call() is False


def test_a_grant_is_signed_from_the_keystore(cli_env, keystore, tmp_path):
    runtime, (path, password) = cli_env, keystore
    someone = Account.create().address
    args = ["RegionalCoin", "FREEZER_ROLE", someone, "--keystore", str(path), "--password-file", str(password)]
    result = CliRunner().invoke(admin_cli.grant_role, args)
    assert result.exit_code == 0, result.output
    assert runtime.coin.has_role("FREEZER_ROLE", someone)
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not it")
    refused = CliRunner().invoke(admin_cli.revoke_role, [*args[:3], "--keystore", str(path), "--password-file",
                                                         str(wrong)])
    assert refused.exit_code == 1 and "wrong password" in refused.output
    assert runtime.coin.has_role("FREEZER_ROLE", someone)  # nothing was signed
    revoked = CliRunner().invoke(admin_cli.revoke_role, args)
    assert revoked.exit_code == 0, revoked.output
    assert not runtime.coin.has_role("FREEZER_ROLE", someone)


def test_a_reverted_act_is_one_line_with_the_contracts_error(cli_env, keystore, anvil):
    path, password = keystore
    stranger = Account.create()
    rpc_call(anvil.url, "anvil_setBalance", [stranger.address, hex(10**18)])
    stranger_store = path.with_name("stranger.json")
    stranger_store.write_text(json.dumps(Account.encrypt(stranger.key, "correct horse battery")))
    result = CliRunner().invoke(admin_cli.pause, ["--keystore", str(stranger_store), "--password-file", str(password)])
    assert result.exit_code == 1 and "AccessControlUnauthorizedAccount" in result.output
    assert "Traceback" not in result.output
    assert cli_env.coin.contract.functions.paused().call() is False


def test_the_role_table_command(cli_env):
    result = CliRunner().invoke(admin_cli.roles, [], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    rows = {cells[0]: cells for line in result.output.splitlines()
            if len(cells := [c.strip() for c in line.strip("│ ").split("│")]) == 4}
    for key in ("relayer", "registrar", "freezer", "recovery", "topup_minter", "benefits_minter", "settlement"):
        assert rows[key][3] == "ok", rows.get(key)
    assert "RELAYER_ROLE" in rows["relayer"][2]
