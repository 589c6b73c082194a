"""Every endpoint × every role → the expected allow/deny, as a table.

The table (``TABLE``) is data: ``"METHOD /path"`` → {role: expectation}, built from a few named
presets with the exceptions spelled out. Expectations:

* ``ok``    the role passes authentication and authorisation: any answer but 401, 403 or 404 (a 409,
            422 … from the endpoint's own checks is fine — the request got past the door);
* ``401``   no credentials (anonymous);
* ``403``   wrong role, scope or department;
* ``404``   someone else's resource: its existence is not revealed (where a preset's comment says so:
            the role got past the door and there is nothing there, e.g. no recovery for the wallet);
* ``login`` a console page without a console session: 303 to ``/console/login``.

Every path parameter names a real, owned resource (resident A's transfer, application, top-up and
notification; merchant A's payment requests, refund, payout, webhook endpoint, event and API keys;
an application routed to clerk X's department), so a 404 can only mean "not yours". The routes are
read from the app itself: an endpoint without a row fails ``test_every_route_has_a_row``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount

from chain.contracts.authorization import random_nonce
from procedures.applications.models import Notification
from procedures.auth.service import STAFF_TOKEN_TTL, create_staff, issue_token
from procedures.console import sessions as console_sessions
from tests.procedures.applications.conftest import PNG, Filer
from tests.procedures.conftest import auth_json, wallet_login

ROLES = ("anonymous", "resident_a", "resident_b", "merchant_a", "merchant_a_read", "merchant_b", "clerk_x",
         "clerk_y", "supervisor", "admin")
DEPARTMENT_X, DEPARTMENT_Y = "road-maintenance", "child-welfare"
READ_ONLY_SCOPES = ["payments:read", "payouts:read"]

# --------------------------------------------------------------------------- presets
_NOBODY = dict.fromkeys(ROLES, "403") | {"anonymous": "401"}
PUBLIC = dict.fromkeys(ROLES, "ok")
ANY_CALLER = dict.fromkeys(ROLES, "ok") | {"anonymous": "401"}
RESIDENTS = _NOBODY | {"resident_a": "ok", "resident_b": "ok"}
RESIDENT_A_OWNS = RESIDENTS | {"resident_b": "404"}
MERCHANTS = _NOBODY | {"merchant_a": "ok", "merchant_a_read": "ok", "merchant_b": "ok"}
MERCHANT_A_OWNS = MERCHANTS | {"merchant_b": "404"}
MERCHANT_WRITE = MERCHANTS | {"merchant_a_read": "403"}  # the read-only key lacks the write scope
MERCHANT_A_OWNS_WRITE = MERCHANT_WRITE | {"merchant_b": "404"}
STAFF = _NOBODY | {"clerk_x": "ok", "clerk_y": "ok", "supervisor": "ok", "admin": "ok"}
DEPARTMENT_X_ONLY = STAFF | {"clerk_y": "403"}  # the application is routed to department X
SENIORS_OF_X = DEPARTMENT_X_ONLY | {"clerk_x": "403"}  # supervisors and admins only
ADMIN = _NOBODY | {"admin": "ok"}
#: Resident A's identity: A and the administrators see it; to everyone else it does not exist.
IDENTITY_OF_A = dict.fromkeys(ROLES, "404") | {"anonymous": "401", "resident_a": "ok", "admin": "ok"}
#: The wallet was never part of a lost-wallet recovery: the admin gets past the door and is told so (404
#: ``no_recovery``); everyone else is stopped before (401/403).
ADMIN_NO_RECOVERY = ADMIN | {"admin": "404"}
_NO_CONSOLE_SESSION = dict.fromkeys(ROLES, "login")
CONSOLE_PUBLIC = PUBLIC
CONSOLE_STAFF = _NO_CONSOLE_SESSION | {"clerk_x": "ok", "clerk_y": "ok", "supervisor": "ok", "admin": "ok"}
CONSOLE_DEPARTMENT_X = CONSOLE_STAFF | {"clerk_y": "403"}
CONSOLE_ADMIN = _NO_CONSOLE_SESSION | {"clerk_x": "403", "clerk_y": "403", "supervisor": "403", "admin": "ok"}
CONSOLE_ADMIN_NO_RECOVERY = CONSOLE_ADMIN | {"admin": "404"}
#: No wallet action awaits approval under that id: the admin gets past the door and is told so (404).
ADMIN_NO_SUCH_ACTION = ADMIN | {"admin": "404"}
CONSOLE_ADMIN_NO_SUCH_ACTION = CONSOLE_ADMIN | {"admin": "404"}

# --------------------------------------------------------------------------- the table
TABLE: dict[str, dict[str, str]] = {
    # service and docs
    "GET /openapi.json": PUBLIC,
    "GET /docs": PUBLIC,
    "GET /docs/oauth2-redirect": PUBLIC,
    "GET /redoc": PUBLIC,
    "GET /healthz": PUBLIC,
    "GET /metrics": ADMIN,  # or the monitoring token (tests/procedures/test_operations.py)
    # login
    "POST /v1/auth/staff/token": PUBLIC,
    "POST /v1/auth/wallet/challenge": PUBLIC,
    "POST /v1/auth/wallet/token": PUBLIC,
    "GET /v1/auth/me": ANY_CALLER,
    # identity: card-signed statements need no token; an identity is shown to its own wallet and admins
    "POST /v1/identity/challenge": PUBLIC,
    "POST /v1/identity/link": PUBLIC,
    "POST /v1/identity/recover": PUBLIC,
    "POST /v1/identity/renew": PUBLIC,
    "GET /v1/identity/me": RESIDENTS,
    "GET /v1/identity/links/{identity_id}": IDENTITY_OF_A,
    # a pending recovery of the caller's own wallet (none here: 404 no_pending_recovery past the door)
    "GET /v1/identity/recovery": _NOBODY | {"resident_a": "404", "resident_b": "404"},
    "POST /v1/identity/recovery/cancel": RESIDENTS,
    "POST /v1/identity/admin/revoke": ADMIN,
    # resident money
    "GET /v1/coin": RESIDENTS,
    "GET /v1/wallet/balance": RESIDENTS,
    "GET /v1/wallet/nonce": RESIDENTS,
    "POST /v1/transfers": RESIDENTS,
    "GET /v1/transfers/{transfer_id}": RESIDENT_A_OWNS,
    "GET /v1/wallet/history": RESIDENTS,
    "GET /v1/wallet/movements": RESIDENTS,
    "GET /v1/wallet/topups": RESIDENTS,
    "GET /v1/wallet/topups/{topup_id}": RESIDENT_A_OWNS,
    # paying merchants: any resident may look at and pay a scanned code
    "GET /v1/pay/requests/{request_id}": RESIDENTS,
    "POST /v1/pay/requests/{request_id}": RESIDENTS,
    "GET /v1/pay/merchants/{merchant_id}": RESIDENTS,
    "POST /v1/pay/merchants/{merchant_id}": RESIDENTS,
    # the merchant API
    "GET /v1/merchant": MERCHANTS,
    "GET /v1/merchant/balance": MERCHANTS,
    "GET /v1/merchant/qr.png": MERCHANTS,
    "GET /v1/merchant/qr.svg": MERCHANTS,
    "POST /v1/payment_requests": MERCHANT_WRITE,
    "GET /v1/payment_requests": MERCHANTS,
    "GET /v1/payment_requests/{request_id}": MERCHANT_A_OWNS,
    "POST /v1/payment_requests/{request_id}/cancel": MERCHANT_A_OWNS_WRITE,
    "GET /v1/payment_requests/{request_id}/qr.png": MERCHANT_A_OWNS,
    "GET /v1/payment_requests/{request_id}/qr.svg": MERCHANT_A_OWNS,
    "POST /v1/refunds": MERCHANT_A_OWNS_WRITE,  # of merchant A's paid request
    "GET /v1/refunds": MERCHANTS,
    "GET /v1/refunds/{refund_id}": MERCHANT_A_OWNS,
    "POST /v1/payouts": MERCHANT_WRITE,
    "GET /v1/payouts": MERCHANTS,
    "GET /v1/payouts/{payout_id}": MERCHANT_A_OWNS,
    "POST /v1/webhook_endpoints": MERCHANT_WRITE,
    "GET /v1/webhook_endpoints": MERCHANT_WRITE,  # webhooks:write, even to list
    "DELETE /v1/webhook_endpoints/{endpoint_id}": MERCHANT_A_OWNS_WRITE,
    "GET /v1/events": MERCHANTS,
    "GET /v1/events/{event_id}": MERCHANT_A_OWNS,
    "POST /v1/events/{event_id}/redeliver": MERCHANT_A_OWNS_WRITE,
    "GET /v1/api_keys": MERCHANT_WRITE,
    "POST /v1/api_keys": MERCHANT_WRITE,
    "POST /v1/api_keys/{key_id}/rotate": MERCHANT_A_OWNS_WRITE,
    "DELETE /v1/api_keys/{key_id}": MERCHANT_A_OWNS_WRITE,
    "GET /v1/statements": MERCHANTS,
    # paying with the My Number card at the merchant's reader (merchant A's open request); the city counter's opt-in
    "POST /v1/card_payments/challenge": MERCHANT_A_OWNS_WRITE,
    "POST /v1/card_payments": MERCHANT_A_OWNS_WRITE,
    "POST /v1/admin/card_wallets/challenge": ADMIN,
    "POST /v1/admin/card_wallets": ADMIN,
    # offline payments: a resident's reserve, the counters' sync and relay, disaster mode
    "GET /v1/wallet/offline": RESIDENTS,
    "POST /v1/wallet/offline/reserve": RESIDENTS,
    "POST /v1/wallet/offline/release": RESIDENTS,
    "POST /v1/wallet/offline/release/complete": RESIDENTS,  # 409 no_release: past the door, nothing to release
    "GET /v1/offline/snapshot": MERCHANT_WRITE,
    "POST /v1/offline_payments": MERCHANT_WRITE,
    "GET /v1/offline_payments": MERCHANTS,
    "GET /v1/offline_payments/{payment_id}": MERCHANT_A_OWNS,
    "GET /v1/admin/offline": ADMIN,
    "POST /v1/admin/offline/disaster": ADMIN,
    "POST /v1/admin/offline/disaster/{period_id}/end": ADMIN,
    # the city operator
    "POST /v1/admin/merchants": ADMIN,
    "GET /v1/admin/merchants": ADMIN,
    "GET /v1/admin/merchants/{merchant_id}": ADMIN,
    "POST /v1/admin/merchants/{merchant_id}/suspend": ADMIN,
    "POST /v1/admin/merchants/{merchant_id}/reinstate": ADMIN,
    "POST /v1/admin/merchants/{merchant_id}/api_keys": ADMIN,
    "POST /v1/admin/topups": ADMIN,
    "GET /v1/admin/topups": ADMIN,
    "GET /v1/admin/topups/{topup_id}": ADMIN,
    "POST /v1/admin/topups/{topup_id}/approve": ADMIN,  # the admin's: 409, that top-up awaits no approval
    "GET /v1/admin/payouts": ADMIN,
    "POST /v1/admin/payout_batches": ADMIN,
    "GET /v1/admin/payout_batches": ADMIN,
    "GET /v1/admin/payout_batches/{batch_id}": ADMIN,
    "GET /v1/admin/payout_batches/{batch_id}/file": ADMIN,
    "POST /v1/admin/payout_batches/{batch_id}/transferred": ADMIN,
    "GET /v1/admin/reconciliation": ADMIN,
    "GET /v1/admin/reports/prepaid": ADMIN,
    "GET /v1/admin/wallets/{wallet}": ADMIN,
    "POST /v1/admin/wallets/{wallet}/freeze": ADMIN,
    "POST /v1/admin/wallets/{wallet}/unfreeze": ADMIN,
    "POST /v1/admin/wallet_actions/{action_id}/approve": ADMIN_NO_SUCH_ACTION,
    "GET /v1/admin/wallets/{wallet}/recovery": ADMIN_NO_RECOVERY,
    "POST /v1/admin/wallets/{wallet}/recovery/retry": ADMIN_NO_RECOVERY,
    "POST /v1/admin/wallets/{wallet}/recovery/cancel": ADMIN | {"admin": "404"},  # no_pending_recovery
    # e-applications: the catalog is public; applications belong to their applicant
    "GET /v1/procedures": PUBLIC,
    "GET /v1/procedures/signing": PUBLIC,
    "GET /v1/procedures/{code}": PUBLIC,
    "POST /v1/applications": RESIDENTS,
    "GET /v1/applications": RESIDENTS,
    "GET /v1/applications/{application_id}": RESIDENT_A_OWNS,
    "GET /v1/applications/{application_id}/attachments/{attachment_id}": RESIDENT_A_OWNS,
    "POST /v1/applications/{application_id}/withdraw": RESIDENT_A_OWNS,
    "POST /v1/applications/{application_id}/resubmit": RESIDENT_A_OWNS,
    "GET /v1/applications/{application_id}/receipt": RESIDENT_A_OWNS,
    "GET /v1/notifications": RESIDENTS,
    "POST /v1/notifications/{notification_id}/read": RESIDENT_A_OWNS,
    # Open311 GeoReport v2: reads are public; a POST needs an app's api_key or a resident's token (resident A's
    # report is public with a released photo)
    "GET /open311/v2/services.json": PUBLIC,
    "GET /open311/v2/services/{service_code}.json": PUBLIC,
    "GET /open311/v2/requests.json": PUBLIC,
    "POST /open311/v2/requests.json": dict.fromkeys(ROLES, "403") | {"resident_a": "ok", "resident_b": "ok"},
    "GET /open311/v2/requests/{service_request_id}.json": PUBLIC,
    "GET /open311/v2/requests/{service_request_id}/media": PUBLIC,
    "GET /open311/v2/tokens/{token}.json": PUBLIC,
    # the town's status page and public histories
    "GET /town": PUBLIC,
    "GET /town/reports/{report_id}/history": PUBLIC,
    # civic reports: each department's clerks (resident A's report is routed to department X); Open311 keys
    "GET /v1/clerk/civic/reports": STAFF,
    "GET /v1/clerk/civic/reports/{report_id}": DEPARTMENT_X_ONLY,
    "POST /v1/clerk/civic/reports/{report_id}/review": DEPARTMENT_X_ONLY,
    "POST /v1/clerk/civic/reports/{report_id}/status": DEPARTMENT_X_ONLY,
    "POST /v1/clerk/civic/reports/{report_id}/merge": DEPARTMENT_X_ONLY,
    "POST /v1/admin/open311/keys": ADMIN,
    "GET /v1/admin/open311/keys": ADMIN,
    "POST /v1/admin/open311/keys/{key_id}/revoke": ADMIN,
    # clerks: the queue is each department's own; the application is routed to department X
    "GET /v1/clerk/applications": STAFF,
    "GET /v1/clerk/applications/{application_id}": STAFF,  # other departments see metadata only (redacted)
    "GET /v1/clerk/applications/{application_id}/attachments/{attachment_id}": DEPARTMENT_X_ONLY,
    "POST /v1/clerk/applications/{application_id}/claim": DEPARTMENT_X_ONLY,
    "POST /v1/clerk/applications/{application_id}/assign": SENIORS_OF_X,
    "POST /v1/clerk/applications/{application_id}/reject": DEPARTMENT_X_ONLY,
    "POST /v1/clerk/applications/{application_id}/return": DEPARTMENT_X_ONLY,
    "POST /v1/clerk/applications/{application_id}/comments": DEPARTMENT_X_ONLY,
    "POST /v1/clerk/applications/{application_id}/approve": DEPARTMENT_X_ONLY,
    "GET /v1/clerk/applications/{application_id}/access-log": SENIORS_OF_X,
    "GET /v1/clerk/applications/{application_id}/receipt": DEPARTMENT_X_ONLY,
    # the console (cookie sessions; bearer tokens do not open it)
    "GET /console/login": CONSOLE_PUBLIC,
    "POST /console/login": CONSOLE_PUBLIC,
    "GET /console/": CONSOLE_STAFF,
    "GET /console/applications": CONSOLE_STAFF,
    "GET /console/civic": CONSOLE_STAFF,
    "POST /console/civic/{report_id}/review": CONSOLE_DEPARTMENT_X,
    "POST /console/civic/{report_id}/status": CONSOLE_DEPARTMENT_X,
    "POST /console/civic/{report_id}/merge": CONSOLE_DEPARTMENT_X,
    "GET /console/applications/{application_id}": CONSOLE_DEPARTMENT_X,
    "POST /console/applications/{application_id}/claim": CONSOLE_DEPARTMENT_X,
    "GET /console/applications/{application_id}/attachments/{position}": CONSOLE_DEPARTMENT_X,
    "POST /console/applications/{application_id}/decide": CONSOLE_DEPARTMENT_X,
    "GET /console/admin/topups": CONSOLE_ADMIN,
    "POST /console/admin/topups": CONSOLE_ADMIN,
    "GET /console/admin/topups/{topup_id}": CONSOLE_ADMIN,
    "POST /console/admin/topups/{topup_id}/approve": CONSOLE_ADMIN,  # the admin's: 409, nothing awaits approval
    "GET /console/admin/merchants": CONSOLE_ADMIN,
    "POST /console/admin/merchants": CONSOLE_ADMIN,
    "GET /console/admin/merchants/{merchant_id}": CONSOLE_ADMIN,
    "POST /console/admin/merchants/{merchant_id}/suspend": CONSOLE_ADMIN,
    "POST /console/admin/merchants/{merchant_id}/reinstate": CONSOLE_ADMIN,
    "POST /console/admin/merchants/{merchant_id}/api_keys": CONSOLE_ADMIN,
    "POST /console/admin/merchants/{merchant_id}/api_keys/{key_id}/revoke": CONSOLE_ADMIN,
    "GET /console/admin/payouts": CONSOLE_ADMIN,
    "GET /console/admin/offline": CONSOLE_ADMIN,
    "GET /console/admin/prepaid": CONSOLE_ADMIN,
    "GET /console/admin/prepaid.csv": CONSOLE_ADMIN,
    "GET /console/admin/points": CONSOLE_ADMIN,
    "POST /console/admin/payouts/batches": CONSOLE_ADMIN,
    "GET /console/admin/payouts/batches/{batch_id}": CONSOLE_ADMIN,
    "GET /console/admin/payouts/batches/{batch_id}/file": CONSOLE_ADMIN,
    "POST /console/admin/payouts/batches/{batch_id}/transferred": CONSOLE_ADMIN,
    "GET /console/admin/residents": CONSOLE_ADMIN,
    "GET /console/admin/residents/{wallet}": CONSOLE_ADMIN,
    "POST /console/admin/residents/{wallet}/revoke": CONSOLE_ADMIN,
    "POST /console/admin/residents/{wallet}/freeze": CONSOLE_ADMIN,
    "POST /console/admin/residents/{wallet}/unfreeze": CONSOLE_ADMIN,
    "POST /console/admin/residents/{wallet}/actions/{action_id}/approve": CONSOLE_ADMIN_NO_SUCH_ACTION,
    "POST /console/admin/residents/{wallet}/recovery/retry": CONSOLE_ADMIN_NO_RECOVERY,
    "POST /console/admin/residents/{wallet}/recovery/cancel": CONSOLE_ADMIN_NO_RECOVERY,
    "GET /console/static/{path}": CONSOLE_PUBLIC,
    "POST /console/logout": CONSOLE_STAFF,  # last: it ends the console sessions
}

#: JSON bodies (``{name}`` is replaced by the resource's id). POSTs not listed send ``{}``, which the
#: endpoint refuses with 422 *after* authorisation; bodies are given where the resource check comes
#: later (after validation), or where ``{}`` would be valid and change something shared.
BODIES: dict[str, Any] = {
    # the department is checked after the body: valid bodies that change nothing shared (a merge into itself and
    # a close without a resolution are refused after the door)
    "POST /v1/clerk/civic/reports/{report_id}/review": {"listed": True, "photo_public": True},
    "POST /v1/clerk/civic/reports/{report_id}/status": {"status": "closed"},
    "POST /v1/clerk/civic/reports/{report_id}/merge": {"into": "{report_id}"},
    "POST /v1/refunds": {"payment_request": "{paid_request}", "amount": 100},
    "POST /v1/card_payments/challenge": {"payment_request": "{open_request}"},
    "POST /v1/card_payments": {"payment_request": "{open_request}", "statement": {}, "auth_certificate": "",
                               "auth_signature": ""},
    "POST /v1/events/{event_id}/redeliver": {},
    "POST /v1/applications/{application_id}/withdraw": {"signature": "{bad_signature}"},
    "POST /v1/applications/{application_id}/resubmit": {"form": {}, "salt": "0x" + "ab" * 32,
                                                         "signature": "{bad_signature}"},
    "POST /v1/clerk/applications/{application_id}/assign": {"assignee_id": "{clerk_x_id}"},
    "POST /v1/clerk/applications/{application_id}/reject": {"reason": ""},  # refused after the checks
    "POST /v1/clerk/applications/{application_id}/return": {"reason": "写真を追加してください",
                                                            "correction_deadline": "2000-01-01T00:00:00+00:00"},
    "POST /v1/clerk/applications/{application_id}/comments": {"text": "現地確認の予定を調整中"},
    # refused after authorisation, so the merchant and the wallet are never suspended or frozen
    "POST /v1/admin/merchants/{merchant_id}/suspend": {"not_a_field": True},
    "POST /v1/admin/wallets/{wallet}/freeze": {"not_a_field": True},
    "POST /v1/admin/wallets/{wallet}/unfreeze": {"not_a_field": True},
    "POST /v1/admin/wallets/{wallet}/recovery/retry": {"not_a_field": True},
}
#: Form bodies of console posts (a valid CSRF token of the role's own session is added).
FORMS: dict[str, dict[str, str]] = {
    "POST /console/login": {"username": "x" * 65, "password": "x", "csrf_token": "x"},
    "POST /console/applications/{application_id}/decide": {"action": "approve"},  # the confirmation step only
    "POST /console/admin/topups": {"wallet": "not an address", "amount": "0"},
    # refused (or harmless) after the door: a merge into nothing, an unknown action, a review keeping it public
    "POST /console/civic/{report_id}/merge": {"into": ""},
    "POST /console/civic/{report_id}/status": {"action": "reopen"},
    "POST /console/civic/{report_id}/review": {"listed": "on", "photo_public": "on"},
}
#: Path parameters that differ between rows of the same name.
PATH_OVERRIDES: dict[str, dict[str, str]] = {
    "GET /v1/pay/requests/{request_id}": {"request_id": "open_request"},
    "POST /v1/pay/requests/{request_id}": {"request_id": "open_request"},
    "POST /v1/payment_requests/{request_id}/cancel": {"request_id": "open_request"},
    "POST /v1/api_keys/{key_id}/rotate": {"key_id": "key_to_rotate"},
    "DELETE /v1/api_keys/{key_id}": {"key_id": "key_to_revoke"},
    "POST /console/admin/merchants/{merchant_id}/api_keys/{key_id}/revoke": {"key_id": "key_to_revoke"},
}


# --------------------------------------------------------------------------- the world
@dataclass
class World:
    """Credentials per role and the ids of the owned resources."""

    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    console: dict[str, tuple[str, str]] = field(default_factory=dict)  # role → (cookie, csrf token)
    ids: dict[str, Any] = field(default_factory=dict)


def _ok(response: Any, *statuses: int) -> dict[str, Any]:
    assert response.status_code in (statuses or (200, 201, 202)), response.text
    return dict(response.json())


def _wait(client: TestClient, path: str, headers: dict[str, str], key: str, wanted: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while _ok(client.get(path, headers=headers))[key] != wanted:
        assert time.monotonic() < deadline, f"timed out waiting for {path} {key}={wanted}"
        time.sleep(0.05)


def _staff(runtime: Any, world: World, role: str, staff_role: str, department: str | None) -> int:
    with runtime.sessions() as session, session.begin():
        account = create_staff(session, runtime.vault, username=f"{role}-{os.urandom(3).hex()}",
                               password="security table pw", role=staff_role, department=department)
        token, _ = issue_token(session, "staff", str(account.id), STAFF_TOKEN_TTL)
        cookie, row = console_sessions.start(session, account.id)
        world.headers[role] = {"Authorization": f"Bearer {token}"}
        world.console[role] = (cookie, row.csrf_token)
        return account.id


def _merchant(client: TestClient, admin: dict[str, str], name: str) -> dict[str, Any]:
    bank = {"bank_code": "0146", "branch_code": "101", "account_type": "ordinary", "account_number": "1234567",
            "holder_name_kana": "カ）マチ"}
    merchant = _ok(client.post("/v1/admin/merchants", headers=admin,
                               json={"business_name": name, "bank_account": bank}))
    _wait(client, f"/v1/admin/merchants/{merchant['id']}", admin, "status", "active")
    return merchant


def _insert_identity(runtime: Any, wallet: str) -> str:
    """A linked identity row (the link id is what ``GET /v1/identity/links/{id}`` takes)."""
    import uuid
    from datetime import timedelta

    from chain.storage import utcnow
    from procedures.identity.models import IdentitySubject, WalletIdentity

    with runtime.sessions() as session, session.begin():
        subject = IdentitySubject(id=str(uuid.uuid4()), subject_key="0x" + os.urandom(32).hex())
        session.add(subject)
        session.flush()
        row = WalletIdentity(id=str(uuid.uuid4()), wallet=wallet, subject_id=subject.id, level=2,
                             expires_at=utcnow() + timedelta(days=365), evidence_key_id="none", evidence=b"",
                             evidence_commitment="0x" + "00" * 32, attest_intent_id=0)
        session.add(row)
        return row.id


def _insert_offline(runtime: Any, merchant: dict[str, Any], ids: dict[str, Any]) -> None:
    """Merchant A's relayed offline payment (already refused: nothing to settle) and a running disaster period."""
    from datetime import timedelta

    from chain.storage import utcnow
    from procedures.offline.models import DisasterPeriod, OfflinePaymentRow

    ids["payment_id"], ids["period_id"] = "op_" + os.urandom(12).hex(), "dis_" + os.urandom(12).hex()
    with runtime.sessions() as session, session.begin():
        payment = OfflinePaymentRow(id=ids["payment_id"], merchant_id=merchant["id"],
                                    payer=Account.create().address, merchant_wallet=merchant["wallet"], amount=100,
                                    nonce="0x" + os.urandom(32).hex(), valid_before=int(time.time()) + 600,
                                    code="machi-offline:1:x", status="refused", reason="expired")
        period = DisasterPeriod(id=ids["period_id"], reserve_limit=10_000, reason="訓練",
                                declared_by="operator:test", ends_at=utcnow() + timedelta(hours=1))
        session.add_all([payment, period])


def _civic_report(client: TestClient, runtime: Any, resident: Any, ids: dict[str, Any]) -> None:
    """Resident A's Open311 report of a pothole, public, its photo released."""
    from procedures.civic import keys
    from procedures.civic.models import CivicReport

    fields = {"service_code": "road-damage", "lat": "36.3027", "long": "136.3146", "attribute[service_code]": "crack",
              "description": "路面に長いひび割れ"}
    posted = client.post("/open311/v2/requests.json", data=fields, files=[("media", ("p.png", PNG, "image/png"))],
                         headers=resident.headers)
    assert posted.status_code == 201, posted.text
    ids["service_code"] = "road-damage"
    ids["service_request_id"], ids["token"] = posted.json()[0]["service_request_id"], posted.json()[0]["token"]
    ids["report_id"] = ids["service_request_id"]
    with runtime.sessions() as session, session.begin():
        session.get(CivicReport, ids["service_request_id"]).photo_public = True
        ids["key_id"] = keys.issue_key(session, runtime.settings, name="an app", created_by="test")[0].id


def build_world(client: TestClient, runtime: Any, make_resident: Any) -> World:
    """Staff, residents, merchants and one owned resource of every kind, through the API."""
    world = World()
    ids = world.ids
    ids["clerk_x_id"] = _staff(runtime, world, "clerk_x", "clerk", DEPARTMENT_X)
    _staff(runtime, world, "clerk_y", "clerk", DEPARTMENT_Y)
    _staff(runtime, world, "supervisor", "supervisor", DEPARTMENT_X)
    _staff(runtime, world, "admin", "admin", None)
    admin = world.headers["admin"]
    resident_a, resident_b, payee = make_resident(coins=5_000), make_resident(), make_resident()
    world.headers |= {"anonymous": {}, "resident_a": resident_a.headers, "resident_b": resident_b.headers}

    merchant_a, merchant_b = _merchant(client, admin, "山中漆器店"), _merchant(client, admin, "片山津菓子店")
    key_a = {"Authorization": f"Bearer {merchant_a['api_key']['secret']}"}
    world.headers |= {"merchant_a": key_a, "merchant_b": {"Authorization": f"Bearer {merchant_b['api_key']['secret']}"}}
    read_only = _ok(client.post("/v1/api_keys", headers=key_a, json={"name": "read", "scopes": READ_ONLY_SCOPES}))
    world.headers["merchant_a_read"] = {"Authorization": f"Bearer {read_only['secret']}"}
    for name in ("key_to_rotate", "key_to_revoke"):
        ids[name] = _ok(client.post("/v1/api_keys", headers=key_a, json={"name": name, "scopes": ["payments:read"]}))[
            "id"]
    ids["merchant_id"] = merchant_a["id"]

    # merchant A is paid by resident A, refunds part, redeems part (exported in a payout batch)
    paid = _ok(client.post("/v1/payment_requests", headers=key_a, json={"amount": 1_000}))
    ids["request_id"] = ids["paid_request"] = paid["id"]
    ids["open_request"] = _ok(client.post("/v1/payment_requests", headers=key_a, json={"amount": 500}))["id"]
    coin = runtime.coin
    auth = coin.sign_authorization(resident_a.account, merchant_a["wallet"], 1_000, nonce=random_nonce(),
                                   valid_before=int(time.time()) + 600)
    _ok(client.post(f"/v1/pay/requests/{paid['id']}", headers=resident_a.headers,
                    json={"authorization": auth_json(auth)}))
    _wait(client, f"/v1/payment_requests/{paid['id']}", key_a, "status", "paid")
    ids["refund_id"] = _ok(client.post("/v1/refunds", headers=key_a,
                                       json={"payment_request": paid["id"], "amount": 100}))["id"]
    ids["payout_id"] = _ok(client.post("/v1/payouts", headers=key_a, json={"amount": 300}))["id"]
    _wait(client, f"/v1/payouts/{ids['payout_id']}", key_a, "status", "redeemed")
    ids["batch_id"] = _ok(client.post("/v1/admin/payout_batches", headers=admin, json={}))["id"]
    ids["endpoint_id"] = _ok(client.post("/v1/webhook_endpoints", headers=key_a,
                                         json={"url": "http://127.0.0.1:9/hooks"}))["id"]
    events = _ok(client.get("/v1/events", headers=key_a, params={"type": "payment_request.paid"}))["data"]
    ids["event_id"] = events[0]["id"]

    # resident A's transfer, top-up, application (routed to department X, in review by clerk X), notification
    transfer = coin.sign_authorization(resident_a.account, payee.address, 10, nonce=random_nonce(),
                                       valid_before=int(time.time()) + 600)
    ids["transfer_id"] = _ok(client.post("/v1/transfers", headers=resident_a.headers,
                                         json={"authorization": auth_json(transfer)}))["id"]
    ids["topup_id"] = _ok(client.post("/v1/admin/topups", headers=admin, json={
        "wallet": resident_a.address, "amount": 1_000, "reference": f"slip-{os.urandom(4).hex()}"}))["id"]
    filer = Filer(client, coin)
    application = _ok(filer.submit(resident_a, "road-damage", attachments=[("pothole.png", "image/png", PNG)]))
    ids["application_id"] = application["id"]
    ids["attachment_id"] = application["attachments"][0]["id"]
    ids["position"] = 0
    _ok(client.post(f"/v1/clerk/applications/{application['id']}/claim", headers=world.headers["clerk_x"]))
    with runtime.sessions() as session, session.begin():
        note = Notification(wallet=resident_a.address, application_id=application["id"], kind="returned")
        session.add(note)
        session.flush()
        ids["notification_id"] = note.id

    _civic_report(client, runtime, resident_a, ids)

    ids["identity_id"] = _insert_identity(runtime, resident_a.address)
    _insert_offline(runtime, merchant_a, ids)
    ids["wallet"] = payee.address
    ids["action_id"] = "wa_" + "00" * 12  # no such wallet action
    ids["code"] = "road-damage"
    ids["path"] = "console.css"
    ids["bad_signature"] = {"nonce": "0x" + "cd" * 32, "deadline": int(time.time()) + 600,
                            "signature": "0x" + "11" * 65}
    return world


# --------------------------------------------------------------------------- running a row
def _fill(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in ids:
        return ids[value[1:-1]]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _url(row: str, ids: dict[str, Any]) -> str:
    path = row.split(" ", 1)[1]
    names = {**ids, **{param: ids[name] for param, name in PATH_OVERRIDES.get(row, {}).items()}}
    return path.format(**names)


def _call(client: TestClient, world: World, row: str, role: str) -> Any:
    method, path = row.split(" ", 1)
    url = _url(row, world.ids)
    client.cookies.clear()
    if path.startswith("/console"):
        cookie, csrf = world.console.get(role, ("", ""))
        headers = {"Cookie": f"{console_sessions.COOKIE}={cookie}"} if cookie else {}
        if method == "GET":
            return client.get(url, headers=headers, follow_redirects=False)
        form = {"csrf_token": csrf, **FORMS.get(row, {})}
        return client.request(method, url, headers=headers, data=form, follow_redirects=False)
    headers = world.headers[role]
    if method in ("GET", "DELETE"):
        return client.request(method, url, headers=headers)
    return client.request(method, url, headers=headers, json=_fill(BODIES.get(row, {}), world.ids))


def _verdict(response: Any) -> str:
    status = response.status_code
    if status == 303 and response.headers.get("location", "").startswith("/console/login"):
        logged_out = f'{console_sessions.COOKIE}=""' in response.headers.get("set-cookie", "")
        return "ok" if logged_out else "login"  # a logout also lands on the login page, clearing the cookie
    if status in (401, 403, 404):
        return str(status)
    return "ok" if status < 500 else f"server error {status}"


def _routes(app: FastAPI) -> set[str]:
    """Every "METHOD /path" the app serves (mounts as ``GET <prefix>/{path}``)."""
    found = set()
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, Mount):
            found.add(f"GET {route.path}/{{path}}")
            continue
        for method in route.methods or ():
            if method != "HEAD":
                found.add(f"{method} {route.path}")
    return found


def test_every_route_has_a_row(client: TestClient) -> None:
    routes = _routes(client.app)  # type: ignore[arg-type]
    assert not routes - set(TABLE), f"endpoints without a row in TABLE: {sorted(routes - set(TABLE))}"
    assert not set(TABLE) - routes, f"rows for endpoints that no longer exist: {sorted(set(TABLE) - routes)}"
    assert all(set(row) == set(ROLES) for row in TABLE.values())


def test_every_endpoint_for_every_role(client: TestClient, runtime: Any, make_resident: Any) -> None:
    world = build_world(client, runtime, make_resident)
    wrong = []
    for row, expected in TABLE.items():
        for role in ROLES:
            response = _call(client, world, row, role)
            got = _verdict(response)
            if got != expected[role]:
                wrong.append(f"{row} as {role}: expected {expected[role]}, got {response.status_code} "
                             f"{response.text[:160]!r}")
    assert not wrong, f"{len(wrong)} of {len(TABLE) * len(ROLES)} cells differ:\n" + "\n".join(wrong)


def test_the_verdicts_can_tell_deny_from_allow(client: TestClient) -> None:
    """The classifier itself: a wrong token is 401, a resident on the merchant API 403, a stranger's id 404."""
    assert _verdict(client.get("/v1/auth/me", headers={"Authorization": "Bearer nope"})) == "401"
    assert _verdict(client.get("/console/", follow_redirects=False)) == "login"
    assert _verdict(client.get("/v1/procedures")) == "ok"
    assert _verdict(client.get(f"/v1/identity/links/{Account.create().address}",
                               headers=wallet_login(client, Account.create()))) == "404"
