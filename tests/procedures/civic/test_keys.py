"""Open311 API keys: issued by an operator (admin API and ``machi admin open311-keys``), revoked at once."""

from __future__ import annotations

import re

from click.testing import CliRunner

from procedures.config import get_settings
from tests.procedures.civic.conftest import pothole


def test_the_admin_api_issues_lists_and_revokes_keys(client, operator, post_report):
    issued = client.post("/v1/admin/open311/keys", json={"name": "まちレポ"}, headers=operator)
    assert issued.status_code == 201, issued.text
    key = issued.json()
    assert key["secret"].startswith("o311_") and key["secret"].startswith(key["prefix"])
    assert post_report(pothole(key["secret"])).status_code == 201

    listed = client.get("/v1/admin/open311/keys", headers=operator).json()
    assert [k["id"] for k in listed] == [key["id"]] and listed[0]["secret"] is None
    revoked = client.post(f"/v1/admin/open311/keys/{key['id']}/revoke", headers=operator)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    refused = post_report(pothole(key["secret"]))
    assert refused.status_code == 403 and "api_key" in refused.json()[0]["description"]
    assert client.post("/v1/admin/open311/keys/o3k_nope/revoke", headers=operator).status_code == 404


def test_machi_admin_open311_keys(client, settings, database_url, anvil, monkeypatch, post_report):
    from procedures.cli import main as machi

    url, schema = database_url
    env = {"MACHI_ENVIRONMENT": "test", "DATABASE_URL": url, "MACHI_VAR_DIR": str(settings.var_dir),
           "MACHI_RPC_URL": anvil.url, "MACHI_CHAIN_ID": str(settings.chain_id), "COLUMNS": "200"}
    if schema:
        env["MACHI_DATABASE_SCHEMA"] = schema
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    def run(*args: str):
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(machi, ["admin", "open311-keys", *args])
        finally:
            get_settings.cache_clear()

    issued = run("issue", "除雪マップ")
    assert issued.exit_code == 0, issued.output
    secret = re.search(r"o311_\w+", issued.output)
    key_id = re.search(r"o3k_\w+", issued.output)
    assert secret and key_id
    assert post_report(pothole(secret.group())).status_code == 201
    listed = run("list")
    assert listed.exit_code == 0 and key_id.group() in listed.output and secret.group() not in listed.output
    assert run("revoke", key_id.group()).exit_code == 0
    assert post_report(pothole(secret.group())).status_code == 403
    missing = run("revoke", "o3k_nope")
    assert missing.exit_code == 1 and "no Open311 key" in missing.output
