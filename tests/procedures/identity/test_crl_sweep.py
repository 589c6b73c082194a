"""Revocation reaches the chain: the CRL sweep revokes the wallet of a card the TEST CA revoked after linking,
and only that one (not a card on hold, not a renewed card, not from a CRL no pinned root signed)."""

from __future__ import annotations

from cryptography import x509

from chain.contracts.registry import RevocationReason
from procedures.identity.certs import CertKind
from procedures.identity.crl_sweep import CRL_SWEEP_ACTOR, SweepResult, crl_sweep, revoked_refs
from procedures.identity.models import WalletIdentity
from tests.procedures.conftest import wait_until, wallet_login_response
from tests.procedures.identity.conftest import KAGA_RESIDENTS, OTHER_CITY, new_wallet


def test_a_card_revoked_after_linking_revokes_its_wallet(api, issue, id_ca, contracts, runtime, caplog):
    revoked_card, kept_card, renewed_card, held_card = (issue(r) for r in (*KAGA_RESIDENTS[:3], OTHER_CITY))
    wallets = {name: new_wallet() for name in ("revoked", "kept", "renewed", "held")}
    linked = {}
    for name, card in zip(wallets, (revoked_card, kept_card, renewed_card, held_card), strict=True):
        response = api.link(card, wallets[name])
        assert response.status_code == 200, response.text
        linked[name] = response.json()["id"]
    service = api.client.app.state.identity_service

    assert crl_sweep(runtime, service).revoked == []  # nothing revoked yet
    id_ca.revoke(revoked_card)  # the card was lost and reported to J-LIS
    id_ca.renew(renewed_card)  # superseded, but the renewal linkage names the new card
    id_ca.revoke(held_card, reason=x509.ReasonFlags.certificate_hold)  # temporary
    result = crl_sweep(runtime, service)
    assert result.revoked == [wallets["revoked"].address] and result.crls == 2 and not result.refused

    wait_until(lambda: not contracts.registry.is_verified(wallets["revoked"].address), what="the revocation")
    record = contracts.registry.record_of(wallets["revoked"].address)
    assert record.revocation_reason is RevocationReason.REVOKED  # the chain learns no reason
    with runtime.sessions() as session:
        row = session.get(WalletIdentity, linked["revoked"])
        assert (row.status, row.revocation_reason, row.revoked_by) == ("revoked", "card_revoked", CRL_SWEEP_ACTOR)
    for name in ("kept", "renewed", "held"):
        assert contracts.registry.is_verified(wallets[name].address), name
    # the revoked wallet cannot log in any more; a second sweep changes nothing
    refused = wallet_login_response(api.client, wallets["revoked"])
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "wallet_retired")
    assert crl_sweep(runtime, service).revoked == []
    # no serial in the logs: the sweep hashes the CRL's serials and says only how many wallets it revoked
    serial = format(revoked_card.auth_cert.serial_number, "x")
    assert serial not in caplog.text and str(revoked_card.auth_cert.serial_number) not in caplog.text


def test_a_crl_no_pinned_root_signed_is_refused(impostor_ca, id_ca):
    # the forged CRL revokes a card of its own: none of its entries may count
    forged_card = impostor_ca.issue_card(KAGA_RESIDENTS[0])
    impostor_ca.revoke(forged_card)
    result = SweepResult()
    forged, genuine = impostor_ca.crl_path(CertKind.AUTH), id_ca.crl_path(CertKind.AUTH)
    refs = revoked_refs([forged, genuine], id_ca.trust_anchors(), result)
    assert forged_card.auth_cert.serial_number not in {ref.serial for ref in refs}
    assert refs == revoked_refs([genuine], id_ca.trust_anchors(), SweepResult())
    assert result.refused == [forged.name] and result.crls == 1
