"""Every way a link can fail, through the HTTP API: a clear code, an honest status, nothing on chain."""

from __future__ import annotations

import pytest
from cryptography import x509

from procedures.auth.models import Challenge
from procedures.identity.testca import AUTH_PROFILE, CertProfile
from protocol.statement import LinkStatement
from tests.procedures.identity.conftest import KAGA_RESIDENTS, OTHER_CITY, error_of, new_wallet, past

MY_NUMBER = "123456789018"  # a syntactically valid individual number (check digit 8)


def _refused(api, wallet, response, status, code):
    assert error_of(response) == (status, code), response.text
    body = response.json()["error"]
    assert set(body) == {"type", "code", "message", "param"}
    assert not api.client.app.state.identity_service.runtime.registry.record_of(wallet.address).exists


def test_unknown_root(api, impostor_ca):
    wallet = new_wallet()
    response = api.link(impostor_ca.issue_card(KAGA_RESIDENTS[0]), wallet)
    _refused(api, wallet, response, 422, "unknown_root")


def test_expired_certificate(api, issue):
    wallet = new_wallet()
    card = issue(KAGA_RESIDENTS[0], not_before=past(400), not_after=past(2))
    response = api.link(card, wallet)
    _refused(api, wallet, response, 422, "certificate_expired")
    assert str(card.auth_cert.not_valid_after_utc.year) not in response.json()["error"]["message"]


def test_revoked_certificate(api, issue, id_ca):
    wallet, card = new_wallet(), issue(KAGA_RESIDENTS[1])
    id_ca.revoke(card, reason=x509.ReasonFlags.key_compromise)
    _refused(api, wallet, api.link(card, wallet), 403, "certificate_revoked")


def test_wrong_key_usage(api, issue):
    wallet = new_wallet()
    profile = CertProfile(key_usage=frozenset({"key_encipherment"}),
                          extended_key_usages=AUTH_PROFILE.extended_key_usages, policy_oids=AUTH_PROFILE.policy_oids)
    _refused(api, wallet, api.link(issue(KAGA_RESIDENTS[2], auth_profile=profile), wallet), 422, "wrong_key_usage")


def test_wrong_policy(api, issue):
    wallet = new_wallet()
    profile = CertProfile(key_usage=AUTH_PROFILE.key_usage, extended_key_usages=AUTH_PROFILE.extended_key_usages,
                          policy_oids=("1.2.392.200149.8.5.1.1.20",))  # the signing policy on an auth certificate
    _refused(api, wallet, api.link(issue(KAGA_RESIDENTS[3], auth_profile=profile), wallet), 422, "wrong_policy")


def test_card_signature_over_another_statement(api, issue):
    wallet, card = new_wallet(), issue(KAGA_RESIDENTS[0])
    challenge = api.challenge(wallet.address)
    other = LinkStatement.from_json({**challenge["statement"], "wallet": new_wallet().address})
    body = api.body(card, wallet, challenge, card_statement=other)
    _refused(api, wallet, api.post("link", body), 401, "bad_card_signature")
    # the failed attempt used its nonce up
    with api.client.app.state.runtime.sessions() as session:
        assert session.get(Challenge, challenge["nonce"]).used_at is not None


def test_wallet_signature_mismatch(api, issue):
    wallet, card = new_wallet(), issue(KAGA_RESIDENTS[1])
    body = api.body(card, wallet, api.challenge(wallet.address), wallet_key=bytes(new_wallet().key))
    _refused(api, wallet, api.post("link", body), 401, "wallet_signature_mismatch")


def test_reused_nonce(api, issue):
    wallet, card = new_wallet(), issue(KAGA_RESIDENTS[2])
    body = api.body(card, wallet, api.challenge(wallet.address))
    assert api.post("link", body).status_code == 200
    assert error_of(api.post("link", body)) == (409, "nonce_reused")


def test_stale_challenge(api, issue, runtime):
    wallet, card = new_wallet(), issue(KAGA_RESIDENTS[3])
    challenge = api.challenge(wallet.address)
    with runtime.sessions() as session, session.begin():
        session.get(Challenge, challenge["nonce"]).expires_at = past(0)
    _refused(api, wallet, api.post("link", api.body(card, wallet, challenge)), 400, "nonce_expired")


def test_stale_statement_and_unknown_nonce(api, issue):
    wallet, card = new_wallet(), issue(KAGA_RESIDENTS[0])
    challenge = api.challenge(wallet.address)
    old = {**challenge, "statement": {**challenge["statement"], "issued_at": int(past(1).timestamp())}}
    _refused(api, wallet, api.post("link", api.body(card, wallet, old)), 400, "nonce_expired")
    unknown = {**challenge, "statement": {**challenge["statement"], "nonce": "ab" * 32}}
    _refused(api, wallet, api.post("link", api.body(card, wallet, unknown)), 400, "nonce_expired")


def test_statement_for_another_chain_or_purpose(api, issue):
    wallet, card = new_wallet(), issue(KAGA_RESIDENTS[1])
    challenge = api.challenge(wallet.address)
    for change in ({"chain_id": 1}, {"registry": new_wallet().address}, {"purpose": "renew"}):
        tampered = {**challenge, "statement": {**challenge["statement"], **change}}
        _refused(api, wallet, api.post("link", api.body(card, wallet, tampered)), 400, "malformed_statement")


def test_subject_already_linked_to_another_live_wallet(api, issue, contracts):
    card, first, second = issue(KAGA_RESIDENTS[2]), new_wallet(), new_wallet()
    assert api.link(card, first).status_code == 200
    _refused(api, second, api.link(card, second), 409, "subject_already_linked")
    assert error_of(api.link(issue(OTHER_CITY), first)) == (409, "wallet_already_linked")
    assert contracts.registry.is_verified(first.address)


@pytest.mark.parametrize("where", ["extra", "nested", "fullwidth", "query"])
def test_my_number_anywhere_is_refused(api, issue, where):
    wallet, card = new_wallet(), issue(KAGA_RESIDENTS[3])
    body = api.body(card, wallet, api.challenge(wallet.address))
    params = {"wait": "true"}
    if where == "extra":
        body["my_number"] = MY_NUMBER
    elif where == "nested":
        body["statement"] = {**body["statement"], "note": f"個人番号 {MY_NUMBER[:4]} {MY_NUMBER[4:8]} {MY_NUMBER[8:]}"}
    elif where == "fullwidth":
        body["memo"] = MY_NUMBER.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    else:
        params["ref"] = MY_NUMBER
    response = api.client.post("/v1/identity/link", params=params, json=body)
    _refused(api, wallet, response, 422, "my_number_refused")
    assert MY_NUMBER not in response.text
    challenge = api.client.post("/v1/identity/challenge", json={"wallet": wallet.address, "purpose": "link",
                                                                "memo": MY_NUMBER})
    assert error_of(challenge) == (422, "my_number_refused")


def test_malformed_input_is_a_4xx(api, issue):
    wallet, card = new_wallet(), issue(KAGA_RESIDENTS[0])
    body = api.body(card, wallet, api.challenge(wallet.address))
    assert error_of(api.post("link", {**body, "auth_certificate": "!!not base64"})) == (422, "invalid_parameter")
    assert error_of(api.post("link", {**body, "auth_certificate": "AAAA"})) == (400, "malformed_certificate")
    assert error_of(api.post("link", {**body, "wallet_signature": "0x1234"})) == (422, "invalid_parameter")
    assert api.post("link", {**body, "unexpected": 1}).status_code == 422
    no_wallet = {**body, "statement": {**body["statement"], "wallet": "0x1234"}}
    assert error_of(api.post("link", no_wallet)) == (400, "malformed_statement")


def test_binary_fields_are_not_mistaken_for_a_my_number(api, issue):
    """Hex and base64 carry digit runs by chance; they are bytes, not text, and must not be refused."""
    wallet, card = new_wallet(), issue(KAGA_RESIDENTS[1])
    body = api.body(card, wallet, api.challenge(wallet.address))
    body["wallet_signature"] = "0x" + MY_NUMBER + "ab" * 59  # 65 bytes whose hex holds a valid number
    assert error_of(api.post("link", body)) == (401, "wallet_signature_mismatch")
    short = {**body, "wallet_signature": MY_NUMBER}  # too short to be binary: scanned as text
    assert error_of(api.post("link", short)) == (422, "my_number_refused")
