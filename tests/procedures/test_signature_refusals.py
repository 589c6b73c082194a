"""Signatures the service refuses, with the one error shape and a specific code, where other tests do
not already cover them.

Already covered elsewhere (not repeated here):

* wallet login — wrong chain id, wrong contract: ``test_auth.py::test_wallet_login_refuses_another_chain_or_contract``;
  replayed challenge: ``test_auth.py::test_wallet_login_nonce_is_single_use``.
* identity link statement — forged wallet signature, card signature over another statement, replay,
  expired challenge or statement, unknown nonce, wrong chain id / registry / purpose:
  ``identity/test_failures.py``.
* transfer authorization (ERC-3009) — forged signer, expired, not yet valid, replayed:
  ``transfers/test_transfers.py``.
* application submission — forged, wrong chain id, wrong ledger, expired, too far ahead, content
  changed after signing, replayed nonce: ``applications/test_submissions.py``.
* clerk decisions are signed by the service with the clerk's custodial key, never by the client.

Added here: wallet login forged / expired / wrong nonce; transfer authorizations for another chain,
another contract or with a changed nonce; submission with a changed nonce; and every case for the
withdrawal and resubmission signatures.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from fastapi.testclient import TestClient

from chain.contracts.authorization import random_nonce, sign_transfer_authorization
from procedures.auth.service import STAFF_TOKEN_TTL, create_staff, issue_token
from protocol import applications as protocol
from tests.procedures.applications.conftest import FORMS, Filer
from tests.procedures.conftest import auth_json
from tests.procedures.fuzz_hooks import shape_problem


def refused(response: Any, status: int, code: str) -> None:
    """The answer is ``status`` with the error shape and ``code``."""
    assert response.status_code == status, response.text
    assert shape_problem(response.status_code, response.content) is None, response.text
    assert response.json()["error"]["code"] == code, response.text


# --------------------------------------------------------------------------- wallet login
def _login_body(client: TestClient, wallet: Any, *, signer: Any = None, deadline: int | None = None,
                nonce: str | None = None) -> dict[str, Any]:
    challenge = client.post("/v1/auth/wallet/challenge", json={"wallet": wallet.address}).json()
    typed = challenge["typed_data"]
    if deadline is not None:
        typed["message"]["deadline"] = deadline
    if nonce is not None:
        typed["message"]["nonce"] = nonce
    signed = (signer or wallet).sign_message(encode_typed_data(full_message=typed))
    return {"wallet": wallet.address, "nonce": typed["message"]["nonce"], "deadline": typed["message"]["deadline"],
            "signature": "0x" + signed.signature.hex().removeprefix("0x")}


def test_wallet_login_refuses_forged_expired_and_unknown_nonces(client: TestClient) -> None:
    wallet = Account.create()
    forged = _login_body(client, wallet, signer=Account.create())
    refused(client.post("/v1/auth/wallet/token", json=forged), 401, "wallet_signature_mismatch")
    expired = _login_body(client, wallet, deadline=int(time.time()) - 1)
    refused(client.post("/v1/auth/wallet/token", json=expired), 422, "signature_expired")
    unknown = _login_body(client, wallet, nonce="0x" + os.urandom(32).hex())  # signed, but never issued
    refused(client.post("/v1/auth/wallet/token", json=unknown), 422, "nonce_unknown")
    # another wallet's challenge, signed by this wallet: the nonce is bound to the wallet it was issued for
    other = client.post("/v1/auth/wallet/challenge", json={"wallet": Account.create().address}).json()
    stolen = _login_body(client, wallet, nonce=other["nonce"])
    refused(client.post("/v1/auth/wallet/token", json=stolen), 422, "nonce_unknown")
    assert client.post("/v1/auth/wallet/token", json=_login_body(client, wallet)).status_code == 200


# --------------------------------------------------------------------------- transfer authorizations
@pytest.mark.parametrize("case", ["other chain", "other contract", "nonce changed after signing"])
def test_transfer_authorizations_for_another_domain_or_nonce_are_refused(client: TestClient, runtime: Any,
                                                                          make_resident: Any, case: str) -> None:
    alice, bob = make_resident(coins=100), make_resident()
    domain = runtime.coin.domain()
    chain_id = 1 if case == "other chain" else domain.chain_id
    contract = Account.create().address if case == "other contract" else domain.verifying_contract
    auth = sign_transfer_authorization(alice.account, contract, chain_id, domain.name, bob.address, 10, 0,
                                       int(time.time()) + 600, random_nonce(), version=domain.version)
    body = auth_json(auth)
    if case == "nonce changed after signing":
        body["nonce"] = "0x" + random_nonce().hex()
    response = client.post("/v1/transfers", json={"authorization": body}, headers=alice.headers)
    refused(response, 422, "invalid_signature")
    assert client.get("/v1/wallet/history", headers=alice.headers).json()["data"] == []


# --------------------------------------------------------------------------- resident acts on applications
def test_a_submission_with_its_nonce_changed_after_signing_is_refused(client: TestClient, runtime: Any,
                                                                      make_resident: Any) -> None:
    alice = make_resident()
    body = Filer(client, runtime.coin).body(alice, "snow-removal")
    body["signature"]["nonce"] = protocol.hex32(os.urandom(32))
    refused(client.post("/v1/applications", json=body, headers=alice.headers), 422, "invalid_signature")


def _act_cases(filer: Filer, alice: Any, action: str, app_id: str, content: str,
               used_nonce: str) -> list[tuple[str, dict[str, Any], int, str]]:
    """(case, signature object, status, code) for one resident act on ``app_id``."""
    now = int(time.time())
    changed = filer.sign(alice.account, action, app_id, content)
    changed["nonce"] = protocol.hex32(os.urandom(32))
    return [
        ("forged", filer.sign(Account.create(), action, app_id, content), 422, "invalid_signature"),
        ("other chain", filer.sign(alice.account, action, app_id, content, chain_id=1), 422, "invalid_signature"),
        ("other contract", filer.sign(alice.account, action, app_id, content, ledger=Account.create().address),
         422, "invalid_signature"),
        ("expired", filer.sign(alice.account, action, app_id, content, deadline=now - 1), 422, "signature_expired"),
        ("nonce changed after signing", changed, 422, "invalid_signature"),
        ("another application", filer.sign(alice.account, action, "ap_other", content), 422, "invalid_signature"),
        ("another act", filer.sign(alice.account, "submit", app_id, content), 422, "invalid_signature"),
        ("replayed nonce", filer.sign(alice.account, action, app_id, content, nonce=used_nonce), 409,
         "nonce_reused"),
    ]


def test_withdrawal_signatures_are_checked(client: TestClient, runtime: Any, make_resident: Any) -> None:
    alice, filer = make_resident(), Filer(client, runtime.coin)
    submission = filer.body(alice, "snow-removal")
    created = client.post("/v1/applications", json=submission, headers=alice.headers)
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]
    for case, signature, status, code in _act_cases(filer, alice, "withdraw", app_id, protocol.ZERO_HASH,
                                                    submission["signature"]["nonce"]):
        response = client.post(f"/v1/applications/{app_id}/withdraw", json={"signature": signature},
                               headers=alice.headers)
        assert response.status_code == status, (case, response.text)
        refused(response, status, code)
    assert client.get(f"/v1/applications/{app_id}", headers=alice.headers).json()["status"] == "submitted"
    assert filer.withdraw(alice, app_id).status_code == 200  # the real one still works


def test_resubmission_signatures_are_checked(client: TestClient, runtime: Any, make_resident: Any) -> None:
    alice, filer = make_resident(), Filer(client, runtime.coin)
    submission = filer.body(alice, "snow-removal")
    app_id = client.post("/v1/applications", json=submission, headers=alice.headers).json()["id"]
    with runtime.sessions() as session, session.begin():
        clerk = create_staff(session, runtime.vault, username="sig-clerk", password="signature clerk pw",
                             role="clerk", department="road-maintenance")
        token, _ = issue_token(session, "staff", str(clerk.id), STAFF_TOKEN_TTL)
    staff = {"Authorization": f"Bearer {token}"}
    assert client.post(f"/v1/clerk/applications/{app_id}/claim", headers=staff).status_code == 200
    deadline = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    returned = client.post(f"/v1/clerk/applications/{app_id}/return", headers=staff,
                           json={"reason": "積雪の深さを確認してください", "correction_deadline": deadline})
    assert returned.status_code == 200, returned.text
    form = {**FORMS["snow-removal"], "snow_depth_cm": 95}
    salt = protocol.hex32(os.urandom(32))
    content = protocol.content_hash("snow-removal", 1, form, [], salt)
    for case, signature, status, code in _act_cases(filer, alice, "resubmit", app_id, content,
                                                    submission["signature"]["nonce"]):
        response = client.post(f"/v1/applications/{app_id}/resubmit", headers=alice.headers,
                               json={"form": form, "salt": salt, "attachments": None, "signature": signature})
        assert response.status_code == status, (case, response.text)
        refused(response, status, code)
    assert client.get(f"/v1/applications/{app_id}", headers=alice.headers).json()["status"] == "returned"
    assert filer.resubmit(alice, app_id, "snow-removal", form).status_code == 200  # the real one still works
