"""Linking a wallet to a My Number card over HTTP, on a real chain and database."""

from __future__ import annotations

from chain.contracts.registry import AssuranceLevel, Kind
from procedures.identity.models import CardSerial, IdentitySubject, WalletIdentity
from tests.procedures.identity.conftest import KAGA_RESIDENTS, MINOR, OTHER_CITY, error_of, new_wallet


def test_adult_in_kaga_is_resident_of_city(api, issue, contracts, runtime):
    card, wallet = issue(KAGA_RESIDENTS[0]), new_wallet()
    response = api.link(card, wallet)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["wallet"] == wallet.address
    assert body["level"] == "resident_of_city" and body["status"] == "linked", body
    assert body["operation"]["status"] == "confirmed"
    (intent,) = body["operation"]["intents"]
    assert intent["kind"] == "registry.attest"
    assert intent["status"] == "confirmed", "the relayer sent the attest twice? (chain.relayer._track drop race)"
    assert body["attestation_tx_hash"] == intent["tx_hash"] and intent["tx_hash"].startswith("0x")

    status = contracts.registry.status(wallet.address)
    assert (status.kind, status.level, status.verified) == (Kind.RESIDENT, AssuranceLevel.RESIDENT_OF_CITY, True)
    record = contracts.registry.record_of(wallet.address)
    with runtime.sessions() as session:
        row = session.get(WalletIdentity, body["id"])
    lifetime = runtime.settings.identity_attestation_days * 86400
    assert record.expires_at == int(row.expires_at.timestamp())  # the chain got the service's expiry…
    assert abs((row.expires_at - row.created_at).total_seconds() - lifetime) < 5  # …a fixed lifetime
    assert record.expires_at != int(card.auth_cert.not_valid_after_utc.timestamp())  # never the birthday
    assert record.holds_evidence(body["evidence_commitment"])

    service = api.client.app.state.identity_service
    with runtime.sessions() as session:
        row = session.get(WalletIdentity, body["id"])
        subject = session.get(IdentitySubject, row.subject_id)
        assert subject.subject_key == service.subjects.subject_key(subject.id)
        assert record.holds_subject(subject.subject_key)
        serials = session.query(CardSerial).filter_by(subject_id=subject.id).all()
        assert {s.certificate for s in serials} == {"user-authentication", "signing"}
        assert all(format(card.auth_cert.serial_number, "x") not in s.serial_hash for s in serials)
        bundle = service.open_evidence(session, row.id)
    assert bundle["verification"]["facts"]["name"] == KAGA_RESIDENTS[0].name  # only inside the sealed bundle
    assert bundle["verification"]["level"] == 2


def test_other_city_adult_stays_card_authenticated(api, issue, contracts):
    wallet = new_wallet()
    response = api.link(issue(OTHER_CITY), wallet)
    assert response.status_code == 200, response.text
    assert response.json()["level"] == "card_authenticated"
    assert "outside the city" in response.json()["note"]
    assert contracts.registry.status(wallet.address).level == AssuranceLevel.CARD_AUTHENTICATED


def test_minor_is_card_authenticated(api, issue, contracts):
    wallet = new_wallet()
    response = api.link(issue(MINOR), wallet)
    assert response.status_code == 200, response.text
    assert response.json()["level"] == "card_authenticated"
    status = contracts.registry.status(wallet.address)
    assert status.verified and status.level == AssuranceLevel.CARD_AUTHENTICATED


def test_adult_without_signing_key_is_card_authenticated(api, issue, contracts):
    wallet = new_wallet()
    response = api.link(issue(KAGA_RESIDENTS[1]), wallet, signing=False)
    assert response.status_code == 200, response.text
    assert contracts.registry.status(wallet.address).level == AssuranceLevel.CARD_AUTHENTICATED


def test_link_without_wait_is_accepted_then_polled(api, issue, contracts):
    wallet = new_wallet()
    response = api.link(issue(KAGA_RESIDENTS[2]), wallet, wait=False)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["operation"]["status"] == "pending"
    assert api.client.get(f"/v1/identity/links/{body['id']}").status_code == 401  # only for its wallet
    stranger = api.client.get(f"/v1/identity/links/{body['id']}", headers=api.login(new_wallet()))
    assert error_of(stranger) == (404, "identity_not_found")
    polled = api.poll(body["id"], wallet, wait=True)
    assert polled.status_code == 200 and polled.json()["operation"]["status"] == "confirmed"
    assert contracts.registry.is_verified(wallet.address)


def test_me_reads_database_and_chain(api, issue):
    wallet = new_wallet()
    headers = api.login(wallet)
    unlinked = api.client.get("/v1/identity/me", headers=headers).json()
    assert unlinked["identity"] is None and unlinked["chain"]["verified"] is False
    assert api.link(issue(KAGA_RESIDENTS[3]), wallet).status_code == 200
    me = api.client.get("/v1/identity/me", headers=headers).json()
    assert me["wallet"] == wallet.address
    assert me["identity"]["status"] == "linked" and me["identity"]["level"] == "resident_of_city"
    assert me["chain"] == {**me["chain"], "kind": "resident", "level": 2, "verified": True, "balance": 0}
    assert api.client.get("/v1/identity/me").status_code == 401
