"""Staff login throttled per source address, wallet login by EIP-712 signature, tokens, challenges, vault."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from fastapi.testclient import TestClient

from procedures.app import create_app
from procedures.auth.service import LOGIN_BACKOFF, MAX_LOGIN_BACKOFF, create_staff, login_backoff
from procedures.crypto import CryptoError, RecordErased


@pytest.fixture
def clerk(runtime):
    with runtime.sessions() as session, session.begin():
        create_staff(
            session, runtime.vault, username="tanaka", password="correct horse 1", role="clerk", department="kosodate"
        )


def _login(client, password="correct horse 1"):
    return client.post("/v1/auth/staff/token", json={"username": "tanaka", "password": password})


def test_staff_login_and_me(client, clerk):
    response = _login(client)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    me = client.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me == {"type": "staff", "subject": me["subject"], "role": "clerk", "department": "kosodate", "wallet": None}


def test_wrong_passwords_slow_their_source_down_with_exponential_back_off(client, clerk):
    for _ in range(4):
        response = _login(client, "wrong password!")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_credentials"
    fifth = _login(client, "wrong password!")  # the last free attempt
    assert fifth.status_code == 401
    response = _login(client)  # this address now waits, whatever it sends
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "login_throttled"
    assert 0 < int(response.headers["Retry-After"]) <= LOGIN_BACKOFF.total_seconds() + 1


def test_the_back_off_doubles_up_to_an_hour():
    waits = [login_backoff(n).total_seconds() for n in range(1, 15)]
    assert waits[:4] == [0, 0, 0, 0]
    assert waits[4:8] == [30, 60, 120, 240]
    assert max(waits) == 3600 and login_backoff(40) == MAX_LOGIN_BACKOFF


def test_an_attacker_at_one_address_cannot_lock_the_clerk_out_from_another(settings, runtime, clerk):
    app = create_app(settings, runtime=runtime, workers=False)
    with TestClient(app, client=("198.51.100.66", 5000)) as attacker, \
            TestClient(app, client=("203.0.113.10", 5000)) as office:
        codes = [_login(attacker, f"guess {i}!!").status_code for i in range(8)]
        assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
        assert _login(attacker).status_code == 429  # the right password does not help the attacker's address
        response = _login(office)  # the clerk, at the office, logs in at once
        assert response.status_code == 200, response.text
        [notice] = response.json()["notices"]  # and is told
        assert notice["kind"] == "failed_logins" and notice["source"] == "198.51.100.66" and notice["count"] == 5
        assert _login(office).json()["notices"] == []  # told once


def test_unknown_user_is_indistinguishable(client, clerk):
    response = client.post("/v1/auth/staff/token", json={"username": "nobody", "password": "whatever123"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_credentials"


def test_missing_and_bad_tokens(client):
    assert client.get("/v1/auth/me").status_code == 401
    response = client.get("/v1/auth/me", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_token"


def _wallet_login(client, account, tamper=None):
    challenge = client.post("/v1/auth/wallet/challenge", json={"wallet": account.address}).json()
    typed = challenge["typed_data"]
    if tamper:
        tamper(typed)
    signed = account.sign_message(encode_typed_data(full_message=typed))
    return client.post(
        "/v1/auth/wallet/token",
        json={
            "wallet": account.address,
            "nonce": challenge["nonce"],
            "deadline": challenge["typed_data"]["message"]["deadline"],
            "signature": "0x" + signed.signature.hex().removeprefix("0x"),
        },
    )


def test_wallet_login(client, city):
    resident = Account.create()
    response = _wallet_login(client, resident)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    me = client.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["role"] == "resident" and me["wallet"] == resident.address


@pytest.mark.parametrize("field,value", [("chainId", 1), ("verifyingContract", "0x" + "11" * 20)])
def test_wallet_login_refuses_another_chain_or_contract(client, field, value):
    response = _wallet_login(client, Account.create(), tamper=lambda t: t["domain"].__setitem__(field, value))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "wallet_signature_mismatch"


def test_wallet_login_nonce_is_single_use(client):
    resident = Account.create()
    challenge = client.post("/v1/auth/wallet/challenge", json={"wallet": resident.address}).json()
    signed = resident.sign_message(encode_typed_data(full_message=challenge["typed_data"]))
    body = {
        "wallet": resident.address,
        "nonce": challenge["nonce"],
        "deadline": challenge["typed_data"]["message"]["deadline"],
        "signature": "0x" + signed.signature.hex().removeprefix("0x"),
    }
    assert client.post("/v1/auth/wallet/token", json=body).status_code == 200
    replay = client.post("/v1/auth/wallet/token", json=body)
    assert replay.status_code == 409 and replay.json()["error"]["code"] == "nonce_reused"


def test_challenge_rate_limit(client):
    wallet = Account.create().address
    codes = [client.post("/v1/auth/wallet/challenge", json={"wallet": wallet}).status_code for _ in range(61)]
    assert codes[:60] == [200] * 60 and codes[60] == 429


def test_vault_roundtrip_tamper_and_erasure(runtime):
    vault = runtime.vault
    with runtime.sessions() as session, session.begin():
        key_id = vault.new_key(session, "test")
        blob = vault.seal_json(session, key_id, {"name": "加賀 太郎"}, aad=b"record-1")
        assert "加賀".encode() not in blob
        assert vault.open_json(session, key_id, blob, aad=b"record-1") == {"name": "加賀 太郎"}
        with pytest.raises(CryptoError):
            vault.open(session, key_id, blob, aad=b"record-2")  # moved to another record
        with pytest.raises(CryptoError):
            vault.open(session, key_id, blob[:-1] + bytes([blob[-1] ^ 1]), aad=b"record-1")
        vault.erase(session, key_id)
        with pytest.raises(RecordErased):
            vault.open(session, key_id, blob, aad=b"record-1")
