"""Retired everywhere: once a recovery ran, the person's applications, receipts and notifications are the new
wallet's, and the retired wallet sees none of them (its tokens revoked, its login refused)."""

from __future__ import annotations

import pytest
from eth_account import Account

from tests.procedures.conftest import Resident, let_recovery_run, wallet_login, wallet_login_response
from tests.procedures.identity.conftest import KAGA_RESIDENTS, Api, id_ca, id_keys, issue, trusting  # noqa: F401


@pytest.fixture
def settings(settings, id_ca):  # noqa: F811 - the TEST CA's cards are trusted, as in the identity tests
    return trusting(settings, id_ca)


def test_applications_receipts_and_notifications_follow_the_person(client, runtime, issue, filer):  # noqa: F811
    api = Api(client)
    card, lost, new = issue(KAGA_RESIDENTS[0]), Account.create(), Account.create()
    assert api.link(card, lost).status_code == 200
    old = Resident(lost, wallet_login(client, lost))
    filed = filer.submit(old, "snow-removal")
    assert filed.status_code in (200, 201), filed.text
    app_id = filed.json()["id"]
    assert [n["application_id"] for n in client.get("/v1/notifications", headers=old.headers).json()["data"]] \
        == [app_id]

    recovered = api.recover(card, new, lost.address).json()
    # while the recovery waits, everything is still the old wallet's (its owner may yet cancel)
    assert client.get(f"/v1/applications/{app_id}", headers=old.headers).status_code == 200
    let_recovery_run(runtime, recovered["id"])

    mine = wallet_login(client, new)
    assert [a["id"] for a in client.get("/v1/applications", headers=mine).json()["data"]] == [app_id]
    assert client.get(f"/v1/applications/{app_id}", headers=mine).status_code == 200
    receipt = client.get(f"/v1/applications/{app_id}/receipt", headers=mine)
    assert receipt.status_code == 200, receipt.text
    assert [n["application_id"] for n in client.get("/v1/notifications", headers=mine).json()["data"]] == [app_id]

    # the retired wallet: its token no longer works, and it cannot log in again
    for path in ("/v1/applications", f"/v1/applications/{app_id}", "/v1/notifications"):
        refused = client.get(path, headers=old.headers)
        assert refused.status_code == 401, (path, refused.text)
    again = wallet_login_response(client, lost)
    assert (again.status_code, again.json()["error"]["code"]) == (403, "wallet_retired")
