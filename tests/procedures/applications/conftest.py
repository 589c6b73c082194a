"""Fixtures for e-applications: fast anchoring, staff accounts with tokens, signed submissions."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from chain.contracts.authorization import random_nonce
from chain.contracts.coin import RegionalCoinClient
from procedures.auth.service import STAFF_TOKEN_TTL, create_staff, issue_token
from protocol import applications as protocol
from tests.procedures.conftest import auth_json  # noqa: F401 - re-exported for this package's tests
from tests.procedures.conftest import wait_until as shared_wait_until

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + os.urandom(64)
PDF = b"%PDF-1.7\n" + b"1 0 obj <<>> endobj\n" * 4

#: A valid form for each shipped procedure (locations inside Kaga's bounding box).
FORMS: dict[str, dict[str, Any]] = {
    "moving-in": {
        "moved_on": "2025-04-01", "previous_address": "東京都千代田区霞が関1-1",
        "new_address": "石川県加賀市大聖寺南町ニ41",
        "household": [{"name": "加賀 太郎", "birth_date": "1985-05-05", "relationship": "head"},
                      {"name": "加賀 花子", "birth_date": "2019-07-07", "relationship": "child"}],
    },
    "residence-certificate": {"copies": 2, "scope": "self", "purpose": "employment", "delivery": "counter"},
    "childcare-benefit": {"child_name": "加賀 花子", "child_birth_date": "2019-07-07", "relationship": "parent",
                          "lives_with_child": True},
    "road-damage": {"service_code": "pothole", "lat": 36.3027, "long": 136.3146,
                    "address_string": "大聖寺駅前 交差点", "description": "深さ10cmほどの穴があります", "hazard": True},
    "snow-removal": {"service_code": "elderly_household", "lat": 36.2466, "long": 136.3760, "snow_depth_cm": 80},
    "vacant-house-bank": {"property_address": "石川県加賀市山中温泉本町2丁目", "offer": "sale", "price_yen": 3_000_000,
                          "building_area_m2": 120.5, "built_year": 1978, "owner_consent": True},
}

ATTACHMENTS: dict[str, list[tuple[str, str, bytes]]] = {
    "road-damage": [("pothole.png", "image/png", PNG)],
    "childcare-benefit": [("記録.pdf", "application/pdf", PDF)],
}


@pytest.fixture
def settings(settings):
    """Anchor quickly in tests; sweeps are run by the tests themselves."""
    return settings.model_copy(update={
        "applications_anchor_interval": 0.3, "applications_anchor_max_leaves": 64,
        "applications_sweep_interval": 3600.0,
    })


@pytest.fixture
def coin(w3, city) -> RegionalCoinClient:
    return RegionalCoinClient(w3, city.coin.address, city.coin.abi)


@dataclass
class Staff:
    id: int
    role: str
    department: str | None
    signing_address: str
    headers: dict[str, str]


@pytest.fixture
def make_staff(runtime) -> Callable[..., Staff]:
    """Factory: a staff account (argon2 password, own signing key) with a bearer token."""
    counter = iter(range(1, 10_000))

    def make(role: str = "clerk", department: str | None = "child-welfare") -> Staff:
        with runtime.sessions() as session, session.begin():
            account = create_staff(session, runtime.vault, username=f"{role}{next(counter)}_{os.urandom(3).hex()}",
                                   password="correct horse battery", role=role, department=department)
            token, _ = issue_token(session, "staff", str(account.id), STAFF_TOKEN_TTL)
            return Staff(account.id, role, department, str(account.signing_address),
                         {"Authorization": f"Bearer {token}"})

    return make


# the procedures' fees, refunds and anchors ride on several relayed transactions: a longer default wait
wait_until = partial(shared_wait_until, timeout=60.0)


@pytest.fixture
def treasury(client, runtime) -> str:
    """The city treasury, registered on chain (the start-up hook's registration confirmed)."""
    from procedures.transfers.custodial import treasury_address

    def ready() -> str | None:
        with runtime.sessions() as session:
            address = treasury_address(session)
        return address if address and runtime.registry.is_verified(address) else None

    def show() -> object:
        from chain.outbox import TxIntent

        with runtime.sessions() as session:
            intent = session.scalar(select(TxIntent).where(TxIntent.kind == "registry.register_city"))
            return intent and (intent.status, intent.error_code, intent.error_message)

    return str(wait_until(ready, what="the treasury's registration", show=show))


class Filer:
    """Builds and sends signed submissions, resubmissions and withdrawals for a resident."""

    def __init__(self, client: TestClient, coin: RegionalCoinClient) -> None:
        self.client = client
        self.coin = coin
        self._signing: dict[str, Any] | None = None

    @property
    def signing(self) -> dict[str, Any]:
        if self._signing is None:
            self._signing = self.client.get("/v1/procedures/signing").json()
        return self._signing

    def sign(self, account: Any, action: str, application: str, content: str, **overrides: Any) -> dict[str, Any]:
        nonce = overrides.pop("nonce", protocol.hex32(os.urandom(32)))
        deadline = overrides.pop("deadline", int(time.time()) + 600)
        typed = protocol.resident_act(overrides.pop("chain_id", self.signing["chain_id"]),
                                      overrides.pop("ledger", self.signing["ledger"]), applicant=account.address,
                                      action=action, application=application, content=content, nonce=nonce,
                                      deadline=deadline)
        return {"nonce": nonce, "deadline": deadline, "signature": protocol.sign_typed(account, typed)}

    def body(self, resident: Any, code: str, form: dict[str, Any] | None = None,
             attachments: list[tuple[str, str, bytes]] | None = None, *, version: int = 1, fee: int = 0,
             sign_as: Any = None, **sign_overrides: Any) -> dict[str, Any]:
        form = FORMS[code] if form is None else form
        files = ATTACHMENTS.get(code, []) if attachments is None else attachments
        salt = protocol.hex32(os.urandom(32))
        digests = [protocol.attachment_digest(n, t, d) for n, t, d in files]
        content = protocol.content_hash(code, version, form, digests, salt)
        body: dict[str, Any] = {
            "procedure": code, "version": version, "form": form, "salt": salt,
            "attachments": [{"name": n, "content_type": t, "data": base64.b64encode(d).decode()} for n, t, d in files],
            "signature": self.sign(sign_as or resident.account, "submit", "", content, **sign_overrides),
        }
        if fee:
            auth = self.coin.sign_authorization(resident.account, self.signing["treasury"], fee,
                                                nonce=random_nonce(), valid_before=int(time.time()) + 600)
            body["payment"] = auth_json(auth)
        return body

    def submit(self, resident: Any, code: str, **kw: Any) -> Any:
        return self.client.post("/v1/applications", json=self.body(resident, code, **kw), headers=resident.headers)

    def resubmit(self, resident: Any, application_id: str, code: str, form: dict[str, Any],
                 attachments: list[tuple[str, str, bytes]] | None = None, keep: list[dict[str, Any]] | None = None,
                 **sign_overrides: Any) -> Any:
        salt = protocol.hex32(os.urandom(32))
        if attachments is None:
            digests = keep or []
            files = None
        else:
            digests = [protocol.attachment_digest(n, t, d) for n, t, d in attachments]
            files = [{"name": n, "content_type": t, "data": base64.b64encode(d).decode()} for n, t, d in attachments]
        content = protocol.content_hash(code, 1, form, digests, salt)
        body = {"form": form, "salt": salt, "attachments": files,
                "signature": self.sign(resident.account, "resubmit", application_id, content, **sign_overrides)}
        return self.client.post(f"/v1/applications/{application_id}/resubmit", json=body, headers=resident.headers)

    def withdraw(self, resident: Any, application_id: str) -> Any:
        body = {"signature": self.sign(resident.account, "withdraw", application_id, protocol.ZERO_HASH)}
        return self.client.post(f"/v1/applications/{application_id}/withdraw", json=body, headers=resident.headers)


@pytest.fixture
def filer(client, coin) -> Filer:
    return Filer(client, coin)


def staff_post(client: TestClient, staff: Staff, application_id: str, action: str, **body: Any) -> Any:
    """POST a clerk action (claim, assign, approve, reject, return, comments)."""
    return client.post(f"/v1/clerk/applications/{application_id}/{action}", json=body, headers=staff.headers)


@dataclass
class Cast:
    """Everyone around one snow-removal application (department road-maintenance)."""

    applicant: Any
    stranger: Any
    clerk: Staff
    clerk2: Staff
    outsider: Staff
    supervisor: Staff
    admin: Staff


@pytest.fixture
def cast(make_resident, make_staff) -> Cast:
    return Cast(
        applicant=make_resident(), stranger=make_resident(),
        clerk=make_staff("clerk", "road-maintenance"), clerk2=make_staff("clerk", "road-maintenance"),
        outsider=make_staff("clerk", "child-welfare"), supervisor=make_staff("supervisor", "road-maintenance"),
        admin=make_staff("admin", None),
    )


def correction_deadline(days: float = 7) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


class Builder:
    """Drives a fresh application into a given status through the API."""

    CODE = "snow-removal"

    def __init__(self, client: TestClient, filer: Filer, cast: Cast, runtime: Any) -> None:
        self.client, self.filer, self.cast, self.runtime = client, filer, cast, runtime

    def _ok(self, response: Any) -> dict[str, Any]:
        assert response.status_code in (200, 201), response.text
        return response.json()

    def build(self, status: str) -> str:
        c = self.cast
        app_id = self._ok(self.filer.submit(c.applicant, self.CODE))["id"]
        if status == "submitted":
            return app_id
        if status == "withdrawn":
            self._ok(self.filer.withdraw(c.applicant, app_id))
            return app_id
        self._ok(staff_post(self.client, c.clerk, app_id, "claim"))
        if status == "in_review":
            return app_id
        if status in ("approved", "rejected"):
            action = {"approved": "approve", "rejected": "reject"}[status]
            self._ok(staff_post(self.client, c.clerk, app_id, action, reason="確認しました"))
            return app_id
        self._ok(staff_post(self.client, c.clerk, app_id, "return", reason="写真を追加してください",
                            correction_deadline=correction_deadline()))
        if status == "returned":
            return app_id
        if status == "lapsed":
            self.expire_correction(app_id)
            from procedures.applications.jobs import deadline_sweep

            assert deadline_sweep(self.runtime).lapsed >= 1
            return app_id
        self._ok(self.filer.resubmit(c.applicant, app_id, self.CODE, {**FORMS[self.CODE], "snow_depth_cm": 95}))
        assert status == "resubmitted"
        return app_id

    def expire_correction(self, app_id: str) -> None:
        from datetime import timedelta

        from chain.storage import utcnow
        from procedures.applications.models import Application

        with self.runtime.sessions() as session, session.begin():
            session.get(Application, app_id).correction_deadline = utcnow() - timedelta(seconds=1)

    def status(self, app_id: str) -> str:
        from procedures.applications.models import Application

        with self.runtime.sessions() as session:
            return str(session.get(Application, app_id).status)


@pytest.fixture
def builder(client, filer, cast, runtime) -> Builder:
    return Builder(client, filer, cast, runtime)
