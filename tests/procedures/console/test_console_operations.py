"""The city operator's pages (merchants, payouts, residents) against a live server: over HTTP for
every page and action, and in a real browser for the stories the counter staff follow."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from eth_account import Account

from chain.contracts.registry import AssuranceLevel
from procedures.identity.certs import CertKind
from procedures.identity.models import WalletIdentity
from procedures.merchants.models import Merchant
from procedures.settlement.models import Payout, PayoutBatch
from tests.procedures.conftest import pass_recovery_delay
from tests.procedures.console.conftest import console_login
from tests.procedures.console.operations_support import (
    BANK_FORM,
    AdminApi,
    Console,
    error_message,
    onboard,
    redeemed_payout,
    wait_for,
)
from tests.procedures.identity.conftest import KAGA_RESIDENTS, Api, id_ca, id_keys, issue  # noqa: F401

PASSWORD = "console pass 123"


@pytest.fixture
def settings(settings, id_ca):  # noqa: F811 - the TEST CA's cards are trusted, as in the identity tests
    return settings.model_copy(update={
        "jpki_auth_anchors": [id_ca.directory / "roots" / "auth.pem"],
        "jpki_signing_anchors": [id_ca.directory / "roots" / "signing.pem"],
        "jpki_crl_paths": [id_ca.crl_path(CertKind.AUTH), id_ca.crl_path(CertKind.SIGNING)],
        "jpki_linkage_path": id_ca.directory / "ca.json",
    })


@pytest.fixture
def admin(live_server, staff) -> Iterator[Console]:
    username, password = staff("kaikei", role="admin", department=None)
    console = Console(live_server, username, password)
    yield console
    console.close()


@pytest.fixture
def second_admin(live_server, staff) -> Iterator[Console]:
    """Another staff member, for what needs four eyes (an unfreeze, a large top-up)."""
    username, password = staff("kansa", role="admin", department=None)
    console = Console(live_server, username, password)
    yield console
    console.close()


def approve_unfreeze(console: Console, path: str) -> None:
    """Approve the unfreeze awaiting a second staff member on the resident page at ``path``."""
    action_id = re.search(r'id="approve-(wa_[0-9a-f]+)"', console.get(path).text)
    assert action_id, "no unfreeze awaiting approval"
    assert console.post(f"{path}/actions/{action_id.group(1)}/approve").status_code == 303


@pytest.fixture
def api(live_server, admin) -> Iterator[AdminApi]:
    client = AdminApi(live_server, "kaikei", PASSWORD)
    yield client
    client.close()


@pytest.fixture
def identity(live_server) -> Iterator[Api]:
    with httpx.Client(base_url=live_server, timeout=60) as http:
        yield Api(http)  # type: ignore[arg-type]  # drives /v1/identity like the wallet CLI


def _count(runtime, model) -> int:
    with runtime.sessions() as session:
        return session.query(model).count()


def _merchant_id(page: httpx.Response) -> str:
    found = re.search(r"/console/admin/merchants/(mer_[0-9a-f]+)", page.text)
    assert found, page.text[:2000]
    return found.group(1)


def _secret(page: httpx.Response) -> str:
    found = re.search(r'id="api-key-secret"[^>]*>(mk_test_[A-Za-z0-9]+)<', page.text)
    assert found, page.text[:2000]
    return found.group(1)


# --------------------------------------------------------------------------- navigation and roles
def test_admin_sees_every_operator_page_in_the_nav(admin):
    home = admin.get("/console/")
    nav = home.text.split('<nav aria-label="main">')[1].split("</nav>")[0]
    for href in ("/console/", "/console/applications", "/console/admin/merchants", "/console/admin/topups",
                 "/console/admin/payouts", "/console/admin/residents"):
        assert f'href="{href}"' in nav
    for path in ("/console/admin/merchants", "/console/admin/payouts", "/console/admin/residents"):
        page = admin.get(path)
        assert page.status_code == 200 and '<html lang="ja">' in page.text
    english = admin.get("/console/admin/merchants?lang=en")
    assert "Onboard a merchant" in english.text and "Bank code (4 digits)" in english.text


def test_clerks_get_403_and_no_operator_nav(live_server, staff, admin, runtime):
    username, password = staff("kakari", role="clerk", department="child-welfare")
    supervisor_name, supervisor_password = staff("kakaricho", role="supervisor", department="child-welfare")
    for name, secret in ((username, password), (supervisor_name, supervisor_password)):
        clerk = Console(live_server, name, secret)
        assert "/console/admin/" not in clerk.get("/console/").text
        for path in ("/console/admin/merchants", "/console/admin/payouts", "/console/admin/residents",
                     f"/console/admin/residents/{Account.create().address}"):
            page = clerk.get(path)
            assert page.status_code == 403 and "権限がありません" in error_message(page)
        refused = clerk.post("/console/admin/merchants", {"business_name": "不正な店", **BANK_FORM})
        assert refused.status_code == 403
        clerk.close()
    assert _count(runtime, Merchant) == 0


# --------------------------------------------------------------------------- merchants
def test_onboard_shows_the_key_once_and_only_a_masked_account(admin, api, runtime):
    page = admin.post("/console/admin/merchants", {"business_name": "山中漆器店", "display_name": "山中漆器",
                                                   **BANK_FORM})
    assert page.status_code == 201 and page.headers["cache-control"] == "no-store"
    secret, merchant_id = _secret(page), _merchant_id(page)
    assert "今回だけ表示" in page.text
    # the key is real: the merchant API takes it
    assert api.http.get("/v1/payment_requests", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    wait_for(lambda: api.merchant(merchant_id)["status"] == "active", "the merchant's registration")
    detail = admin.get(f"/console/admin/merchants/{merchant_id}")
    assert detail.status_code == 200
    assert "****567" in detail.text and "1234567" not in detail.text
    assert secret not in detail.text and secret[:20] in detail.text  # the prefix, never the secret again
    assert "有効" in detail.text
    listing = admin.get("/console/admin/merchants")
    assert "山中漆器店" in listing.text and api.merchant(merchant_id)["wallet"] in listing.text


def test_sending_the_onboarding_form_again_does_not_onboard_twice(admin, runtime):
    import re

    form_token = re.search(r'name="form_token" value="([^"]+)"', admin.get("/console/admin/merchants").text)
    assert form_token is not None
    fields = {"business_name": "大聖寺十万石まんじゅう", "form_token": form_token.group(1), **BANK_FORM}
    first = admin.post("/console/admin/merchants", fields)
    assert first.status_code == 201
    again = admin.post("/console/admin/merchants", fields)  # the browser's "resend the form?" on reload
    assert again.status_code == 303
    assert again.headers["location"] == f"/console/admin/merchants/{_merchant_id(first)}?done=already_onboarded"
    assert _secret(first) not in admin.get(again.headers["location"]).text
    assert _count(runtime, Merchant) == 1


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("bank_code", "12", "bank_code is the 4-digit bank code"),
    ("account_number", "12345678", "account_number is up to 7 digits"),
    ("holder_name_kana", "山中漆器", "cannot be written in a bank transfer name (use katakana)"),
    ("account_type", "bitcoin", "account_type is one of"),
    ("business_name", "", "enter the business name"),
])
def test_onboard_bad_input_is_a_message_and_creates_nothing(admin, runtime, field, value, expected):
    page = admin.post("/console/admin/merchants", {"business_name": "九谷焼工房", **BANK_FORM, field: value})
    assert page.status_code == 422
    assert expected in error_message(page)
    assert "Traceback" not in page.text
    assert _count(runtime, Merchant) == 0


def test_forms_without_the_csrf_token_are_refused(admin, api, runtime):
    refused = admin.post("/console/admin/merchants", {"business_name": "九谷焼工房", **BANK_FORM}, csrf=False)
    assert refused.status_code == 403 and "有効期限が切れました" in error_message(refused)
    assert _count(runtime, Merchant) == 0
    merchant = onboard(api)
    wallet = Account.create().address
    for path in (f"/console/admin/merchants/{merchant['id']}/suspend", "/console/admin/payouts/batches",
                 f"/console/admin/residents/{wallet}/freeze"):
        assert admin.post(path, {"confirm": "yes"}, csrf=False).status_code == 403
    wrong = admin.http.post(f"/console/admin/merchants/{merchant['id']}/suspend",
                            data={"confirm": "yes", "csrf_token": "forged"})
    assert wrong.status_code == 403
    assert api.merchant(merchant["id"])["status"] == "active"
    assert not runtime.coin.is_frozen(wallet)


def test_suspend_and_reinstate_take_a_confirmation_step(admin, api):
    merchant = onboard(api)
    path = f"/console/admin/merchants/{merchant['id']}"
    asked = admin.post(f"{path}/suspend", {"reason": "届出のない営業"})
    assert asked.status_code == 200 and 'id="confirm-question"' in asked.text and "届出のない営業" in asked.text
    assert api.merchant(merchant["id"])["status"] == "active"  # nothing happens before confirming
    done = admin.post(f"{path}/suspend", {"reason": "届出のない営業", "confirm": "yes"})
    assert done.status_code == 303 and done.headers["location"] == f"{path}?done=suspended"
    assert api.merchant(merchant["id"])["status"] == "suspended"
    key = {"Authorization": f"Bearer {merchant['api_key']['secret']}"}
    assert api.http.get("/v1/payment_requests", headers=key).status_code == 403  # the merchant is cut off
    again = admin.post(f"{path}/suspend", {"confirm": "yes"})
    assert again.status_code == 409 and "already suspended" in error_message(again)

    assert 'id="confirm-question"' in admin.post(f"{path}/reinstate").text
    assert api.merchant(merchant["id"])["status"] == "suspended"
    assert admin.post(f"{path}/reinstate", {"confirm": "yes"}).status_code == 303
    wait_for(lambda: api.merchant(merchant["id"])["status"] == "active", "re-registration on chain")
    assert api.http.get("/v1/payment_requests", headers=key).status_code == 200


def test_issue_a_scoped_key_then_revoke_it(admin, api):
    merchant = onboard(api)
    path = f"/console/admin/merchants/{merchant['id']}"
    none = admin.post(f"{path}/api_keys", {"name": "レジ"})
    assert none.status_code == 422 and "scopes" in error_message(none)
    issued = admin.post(f"{path}/api_keys", {"name": "レジ", "scope.payments:read": "1"})
    assert issued.status_code == 201 and "payments:read" in issued.text
    secret = _secret(issued)
    headers = {"Authorization": f"Bearer {secret}"}
    assert api.http.get("/v1/payment_requests", headers=headers).status_code == 200
    assert api.http.post("/v1/payment_requests", headers=headers, json={"amount": 100}).status_code == 403
    assert secret not in admin.get(path).text
    keys = api.http.get("/v1/api_keys", headers={"Authorization": f"Bearer {merchant['api_key']['secret']}"}).json()
    key_id = next(k["id"] for k in keys["data"] if k["name"] == "レジ")
    asked = admin.post(f"{path}/api_keys/{key_id}/revoke")
    assert 'id="confirm-question"' in asked.text
    assert api.http.get("/v1/payment_requests", headers=headers).status_code == 200
    assert admin.post(f"{path}/api_keys/{key_id}/revoke", {"confirm": "yes"}).status_code == 303
    assert api.http.get("/v1/payment_requests", headers=headers).status_code == 401
    assert "無効" in admin.get(path).text
    other = admin.post(f"/console/admin/merchants/{merchant['id']}/api_keys/key_doesnotexist/revoke")
    assert other.status_code == 404


# --------------------------------------------------------------------------- payouts
def test_export_download_and_mark_transferred(admin, api, arrange, runtime):
    merchant, payout_id = redeemed_payout(api, arrange, runtime)
    listing = admin.get("/console/admin/payouts")
    assert payout_id in listing.text and "山中漆器店" in listing.text
    bad = admin.post("/console/admin/payouts/batches", {"transfer_date": "12/01/2026"})
    assert bad.status_code == 422 and "YYYY-MM-DD" in error_message(bad)
    assert _count(runtime, PayoutBatch) == 0

    exported = admin.post("/console/admin/payouts/batches", {"transfer_date": "2026-12-01"})
    assert exported.status_code == 303
    batch_path = exported.headers["location"].split("?")[0]
    batch_id = batch_path.rsplit("/", 1)[1]
    page = admin.get(batch_path)
    assert payout_id in page.text and "¥9,850" in page.text  # net of the 1.5 % fee
    nothing = admin.post("/console/admin/payouts/batches", {"transfer_date": ""})
    assert nothing.status_code == 409 and "no redeemed payouts" in error_message(nothing)

    download = admin.get(f"{batch_path}/file")
    assert download.status_code == 200
    assert download.headers["content-type"] == "text/plain; charset=shift_jis"
    assert download.headers["content-disposition"] == f'attachment; filename="zengin_{batch_id}_20261201.txt"'
    records = download.content.split(b"\r\n")[:-1]
    assert [len(r) for r in records] == [120] * 4 and [r[:1] for r in records] == [b"1", b"2", b"8", b"9"]
    assert records[1][50:80].decode("shift_jis").rstrip() == "ｶ)ﾔﾏﾅｶｼﾂｷ"  # half-width kana, Shift_JIS
    assert int(records[1][80:90]) == 9_850
    assert download.content == api.get(f"/v1/admin/payout_batches/{batch_id}/file").content

    asked = admin.post(f"{batch_path}/transferred")
    assert 'id="confirm-question"' in asked.text and "¥9,850" in asked.text
    with runtime.sessions() as session:
        assert session.get(Payout, payout_id).status == "in_transit"
    assert admin.post(f"{batch_path}/transferred", {"confirm": "yes"}).status_code == 303
    with runtime.sessions() as session:
        assert session.get(Payout, payout_id).status == "paid"
        assert session.get(PayoutBatch, batch_id).status == "transferred"
    again = admin.post(f"{batch_path}/transferred", {"confirm": "yes"})
    assert again.status_code == 409 and "already marked" in error_message(again)
    assert admin.get("/console/admin/payouts/batches/pb_nothing").status_code == 404


# --------------------------------------------------------------------------- residents
def test_lookup_shows_database_and_chain_status(admin, identity, issue, arrange, runtime):  # noqa: F811
    resident = Account.create()
    assert identity.link(issue(KAGA_RESIDENTS[0]), resident).status_code == 200
    arrange.mint(resident.address, 4_321)
    found = admin.get(f"/console/admin/residents?wallet={resident.address.lower()}")
    assert found.status_code == 303 and found.headers["location"].endswith(resident.address)
    page = admin.get(f"/console/admin/residents/{resident.address}")
    assert page.status_code == 200
    assert "有効" in page.text and "¥4,321" in page.text and "住民" in page.text
    assert re.search(r'id="chain-verified">はい<', page.text)
    assert "加賀 花子" not in page.text  # nothing personal on the page
    unknown = admin.get(f"/console/admin/residents/{Account.create().address}")
    assert "本人確認の記録はありません" in unknown.text and "未登録" in unknown.text
    bad = admin.get("/console/admin/residents?wallet=0x1234")
    assert bad.status_code == 422 and "not a valid wallet address" in error_message(bad)
    assert "machi-wallet recover" in admin.get("/console/admin/residents").text  # what "recover" means


def test_revoke_with_a_reason_and_a_confirmation(admin, identity, issue, runtime):  # noqa: F811
    resident = Account.create()
    assert identity.link(issue(KAGA_RESIDENTS[1]), resident).status_code == 200
    path = f"/console/admin/residents/{resident.address}"
    bad = admin.post(f"{path}/revoke", {"reason": "rebound", "confirm": "yes"})
    assert bad.status_code == 422 and "revocation reason" in error_message(bad)
    asked = admin.post(f"{path}/revoke", {"reason": "moved_out"})
    assert 'id="confirm-question"' in asked.text and "転出" in asked.text
    assert runtime.registry.is_verified(resident.address)
    done = admin.post(f"{path}/revoke", {"reason": "moved_out", "confirm": "yes"})
    assert done.status_code == 303
    wait_for(lambda: not runtime.registry.is_verified(resident.address), "the revocation on chain")
    page = admin.get(path)
    assert "失効" in page.text and 'id="revocation-reason">転出<' in page.text
    twice = admin.post(f"{path}/revoke", {"reason": "moved_out", "confirm": "yes"})
    assert twice.status_code == 409 and "no live identity" in error_message(twice)


def test_freeze_then_unfreeze_through_the_relayer(admin, second_admin, api, arrange, runtime):
    resident = Account.create()
    arrange.attest(resident.address)
    path = f"/console/admin/residents/{resident.address}"
    asked = admin.post(f"{path}/freeze", {"reason": "カード紛失の届出"})
    assert 'id="confirm-question"' in asked.text and "カード紛失の届出" in asked.text
    assert not runtime.coin.is_frozen(resident.address)
    assert admin.post(f"{path}/freeze", {"reason": "カード紛失の届出", "confirm": "yes"}).status_code == 303
    wait_for(lambda: runtime.coin.is_frozen(resident.address), "the freeze on chain")
    wait_for(lambda: "凍結中" in admin.get(path).text and "確定" in admin.get(path).text, "the page to show it")
    page = admin.get(path)
    assert "カード紛失の届出" in page.text and "operator:" in page.text
    twice = admin.post(f"{path}/freeze", {})
    assert twice.status_code == 409 and "already frozen" in error_message(twice)
    assert admin.post(f"{path}/unfreeze", {"confirm": "yes"}).status_code == 303
    page = admin.get(path).text
    assert "承認待ち" in page and runtime.coin.is_frozen(resident.address)  # four eyes: not yet
    action_id = re.search(r'id="approve-(wa_[0-9a-f]+)"', page)
    assert action_id is not None
    own = admin.post(f"{path}/actions/{action_id.group(1)}/approve")
    assert own.status_code == 403 and "別の職員が承認" in error_message(own)
    approve_unfreeze(second_admin, path)
    wait_for(lambda: not runtime.coin.is_frozen(resident.address), "the unfreeze on chain")
    again = second_admin.post(f"{path}/actions/{action_id.group(1)}/approve")
    assert again.status_code == 409 and "unfreeze is not awaiting approval" in error_message(again)
    settlement = runtime.keys.settlement.address
    wait_for(lambda: runtime.registry.status(settlement).kind.name == "CITY", "the settlement account")
    city = admin.post(f"/console/admin/residents/{settlement}/freeze", {"confirm": "yes"})
    assert city.status_code == 409 and "city's own accounts" in error_message(city)
    assert not runtime.coin.is_frozen(settlement)


def test_recovery_state_and_retry_of_a_failed_execution(admin, second_admin, api, identity, issue,  # noqa: F811
                                                         runtime):
    card, lost, new = issue(KAGA_RESIDENTS[2]), Account.create(), Account.create()
    assert identity.link(card, lost).status_code == 200
    from chain.contracts.base import send_call

    send_call(runtime.w3, runtime.keys.topup_minter, runtime.coin.mint_call(lost.address, 7_000))
    # the new wallet is frozen before the recovery runs: its execution fails, nothing moves
    assert api.post(f"/v1/admin/wallets/{new.address}/freeze", {"reason": "test"}).status_code == 202
    wait_for(lambda: runtime.coin.is_frozen(new.address), "the freeze")
    recovered = identity.recover(card, new, lost.address)
    assert recovered.status_code == 200, recovered.text
    path = f"/console/admin/residents/{new.address}"
    page = admin.get(path)
    assert 'id="recovery-state">待機中' in page.text and 'id="recovery-eta">' in page.text
    assert 'id="cancel-recovery"' in page.text  # staff with the freezer power may stop it
    pass_recovery_delay(runtime, recovered.json()["id"])
    wait_for(lambda: 'id="move-step">失敗' in admin.get(path).text, "the refused execution")
    with runtime.sessions() as session:  # the refused move leaves the recovery pending, not executed
        assert session.get(WalletIdentity, recovered.json()["id"]).status == "recovering"
    page = admin.get(path)
    assert "RegionalCoinFrozenAccount" in page.text
    assert 'id="retry-blocked"' in page.text and "先に凍結を解除" in page.text
    blocked = admin.post(f"{path}/recovery/retry", {"confirm": "yes"})
    assert blocked.status_code == 409 and "unfreeze it first" in error_message(blocked)
    assert runtime.coin.balance_of(lost.address) == 7_000

    wait_for(lambda: api.get(f"/v1/admin/wallets/{new.address}").json()["pending"] is None, "the freeze's receipt")
    assert admin.post(f"{path}/unfreeze", {"confirm": "yes"}).status_code == 303
    approve_unfreeze(second_admin, path)
    wait_for(lambda: not runtime.coin.is_frozen(new.address), "the unfreeze")
    assert 'id="retry-move"' in admin.get(path).text
    asked = admin.post(f"{path}/recovery/retry")
    assert 'id="confirm-question"' in asked.text and "¥7,000" in asked.text
    assert admin.post(f"{path}/recovery/retry", {"confirm": "yes"}).status_code == 303
    wait_for(lambda: runtime.coin.balance_of(new.address) == 7_000, "the balance move")
    assert runtime.coin.balance_of(lost.address) == 0
    wait_for(lambda: 'id="move-step">確定' in admin.get(path).text, "the page to show the move")
    assert 'id="retry-move"' not in admin.get(path).text and 'id="recovery-state">実行済' in admin.get(path).text
    lost_page = admin.get(f"/console/admin/residents/{lost.address}")  # the lost wallet finds the same recovery
    assert "再発行により移行済" in lost_page.text and new.address in lost_page.text
    assert identity.poll(recovered.json()["id"], new).json()["operation"]["status"] \
        == "confirmed"


def test_staff_cancel_a_pending_recovery(admin, identity, issue, runtime):  # noqa: F811
    card, lost, new = issue(KAGA_RESIDENTS[3]), Account.create(), Account.create()
    assert identity.link(card, lost).status_code == 200
    recovered = identity.recover(card, new, lost.address)
    path = f"/console/admin/residents/{lost.address}"
    asked = admin.post(f"{path}/recovery/cancel")
    assert 'id="confirm-question"' in asked.text and new.address in asked.text
    assert runtime.coin.pending_recovery(lost.address).pending  # the question changes nothing
    assert admin.post(f"{path}/recovery/cancel", {"confirm": "yes"}).status_code == 303
    wait_for(lambda: not runtime.coin.pending_recovery(lost.address).pending, "the cancellation on chain")
    wait_for(lambda: 'id="recovery-state">取消済' in admin.get(path).text, "the page to show it")
    page = admin.get(path)
    assert "再発行の取消" in page.text and "operator:" in page.text  # audited
    assert 'id="cancel-recovery"' not in page.text
    assert runtime.registry.is_verified(lost.address) and not runtime.registry.record_of(new.address).exists
    with runtime.sessions() as session:
        assert session.get(WalletIdentity, recovered.json()["id"]).status == "cancelled"


def test_retry_needs_a_recovery(admin):
    wallet = Account.create().address
    page = admin.post(f"/console/admin/residents/{wallet}/recovery/retry", {"confirm": "yes"})
    assert page.status_code == 404


# --------------------------------------------------------------------------- in a real browser
def test_browser_onboard_a_merchant_and_see_the_key_once(page, live_server, staff, runtime):
    username, password = staff("kaikei", role="admin", department=None)
    console_login(page, live_server, username, password)
    page.click("#nav-merchants")
    page.fill("#business_name", "九谷焼工房")
    page.fill("#bank_code", "0146")
    page.fill("#bank_name_kana", "ホッコク")
    page.fill("#branch_code", "101")
    page.fill("#branch_name_kana", "ダイショウジ")
    page.select_option("#account_type", "current")
    page.fill("#account_number", "7654321")
    page.fill("#holder_name_kana", "クタニヤキコウボウ")
    page.click("#onboard")
    secret = page.inner_text("#api-key-secret")
    assert secret.startswith("mk_test_") and len(secret) == 8 + 12 + 32
    assert "今回だけ表示" in page.content()
    page.click("#open-merchant")
    assert "****321" in page.inner_text("#bank") and "当座" in page.inner_text("#bank")
    assert secret not in page.content()
    with runtime.sessions() as session:
        assert session.query(Merchant).one().business_name == "九谷焼工房"


def test_browser_export_a_zengin_batch_and_mark_it_transferred(page, live_server, staff, arrange, runtime):
    username, password = staff("kaikei", role="admin", department=None)
    api = AdminApi(live_server, username, password)
    _, payout_id = redeemed_payout(api, arrange, runtime, amount=20_000)
    api.close()
    console_login(page, live_server, username, password)
    page.click("#nav-payouts")
    assert payout_id in page.inner_text("#pending-payouts")
    page.fill("#transfer_date", "2026-12-01")
    page.click("#export")
    page.wait_for_url("**/console/admin/payouts/batches/*?done=exported")
    assert "¥19,700" in page.inner_text("#batch-total")
    with page.expect_download() as info:
        page.click("#download")
    download = info.value
    assert re.fullmatch(r"zengin_pb_[0-9a-f]+_20261201\.txt", download.suggested_filename)
    content = open(download.path(), "rb").read()
    assert len(content) == 4 * 122 and b"\x1b" not in content  # 4 records of 120 bytes + CRLF
    page.click("#mark-transferred")
    assert page.locator("#confirm-question").count() == 1
    page.click("#confirm")
    page.wait_for_url("**?done=transferred")
    assert "振込完了" in page.inner_text("#batch-status")
    with runtime.sessions() as session:
        assert session.get(Payout, payout_id).status == "paid"


def test_browser_freeze_a_resident_wallet_and_see_it_frozen_on_chain(page, live_server, staff, arrange, runtime):
    resident = Account.create()
    arrange.attest(resident.address, AssuranceLevel.RESIDENT_OF_CITY)
    arrange.mint(resident.address, 3_000)
    username, password = staff("kaikei", role="admin", department=None)
    console_login(page, live_server, username, password)
    page.click("#nav-residents")
    page.fill("#lookup-wallet", resident.address)
    page.click("#lookup")
    assert "¥3,000" in page.inner_text("#chain-balance") and "凍結なし" in page.inner_text("#frozen-state")
    page.fill("#freeze-reason", "不正利用の疑い")
    page.click("#freeze")
    assert "凍結しますか" in page.inner_text("#confirm-question")
    page.click("#confirm")
    page.wait_for_url("**?done=freeze")
    wait_for(lambda: runtime.coin.is_frozen(resident.address), "the freeze on chain")

    def shown() -> bool:
        page.reload()
        return "凍結中" in page.inner_text("#frozen-state") and page.locator("#unfreeze").count() == 1

    wait_for(shown, "the page to show the wallet frozen, its freeze confirmed")
    assert "不正利用の疑い" in page.inner_text("#wallet-actions") and "確定" in page.inner_text("#wallet-actions")


def test_the_dashboard_shows_admins_the_service_keys_and_their_roles(admin, live_server, staff):
    page = admin.get("/console/").text
    assert "サービスの鍵とオンチェーン権限" in page
    assert "RegionalCoin.RELAYER_ROLE" in page and "topup_minter" in page and "must not hold" not in page
    clerk = Console(live_server, *staff("suzuki"))
    try:
        assert "サービスの鍵" not in clerk.get("/console/").text
    finally:
        clerk.close()
