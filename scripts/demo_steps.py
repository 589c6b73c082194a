"""The steps of the story (see ``scripts.demo_story``), in order; ``run_story`` runs them all.

Each step acts through the real interfaces — ``machi-wallet`` and ``machi`` as subprocesses, the REST API
over HTTP, the console in a browser — checks that it came out right (raising ``DemoError`` if not) and
prints one line.
"""

from __future__ import annotations

import base64
import os
import secrets
import struct
import zlib
from collections.abc import Callable

from scripts.demo_story import (
    CARD_PRICE,
    CARD_TOPUP,
    DEMO_STAFF,
    GIFT,
    OFFLINE,
    PRICE,
    REFUND,
    TOPUP_YEN,
    Story,
    StoryConfig,
    StoryResult,
    staff_login,
    yen,
)
from scripts.demo_tools import CliRun, DemoError, wait_for

__all__ = ["STEPS", "run_story"]

CHILD_NAME = "加賀 さくら"
CHILDCARE_FORM = {"child_name": CHILD_NAME, "child_birth_date": "2019-07-07", "relationship": "parent",
                  "lives_with_child": True}
BENEFIT = 30_000


def service(story: Story) -> None:
    """The service answers, and the RPC URL is the chain it uses."""
    story.api.call("GET", "/healthz")
    signing = story.api.json("GET", "/v1/procedures/signing")
    if story.w3.eth.chain_id != signing["chain_id"]:
        raise DemoError(f"{story.config.rpc_url} is chain {story.w3.eth.chain_id}, the service uses "
                        f"{signing['chain_id']}: give the service's node with --rpc-url")
    story.result.ledger = signing["ledger"]
    story.say(f"service {story.config.api_url} is up on chain {signing['chain_id']} ({story.config.rpc_url}); "
              f"ProcedureLedger {signing['ledger']}")


def staff(story: Story) -> None:
    """The demo's operator and clerk accounts (``machi admin create-clerk``; kept across runs)."""
    states = []
    for username, password, options in DEMO_STAFF.values():
        run = story.machi(f"staff {username}", "admin", "create-clerk", username, *options, "--password", password,
                          ok=False)
        if run.returncode and "exists" not in run.output:
            raise DemoError(f"could not create {username}: {run.output.strip()[-300:]}")
        states.append(f"{username} ({'created' if run.returncode == 0 else 'already there'})")
    story.tokens["admin"] = staff_login(story, "admin")
    story.say(f"city staff: {', '.join(states)}; the operator is logged in to the admin API")


def residents(story: Story) -> None:
    """Two residents: TEST card from the city's TEST CA, a new wallet, the card linked on chain."""
    for resident in (story.result.hanako, story.result.taro):
        resident.issue_card(story.config.machi_env)
        resident.new_wallet()
        resident.link_card()
        story.say(f"{resident.label} linked a TEST My Number card to wallet {resident.wallet} "
                  "(attested on chain: resident of the city)")
    api = story.resident_api(story.result.hanako)
    try:
        story.result.coin = str(api.request("GET", "/v1/coin", auth=True)["address"])
    finally:
        api.close()


def topup(story: Story) -> None:
    """The operator tops Hanako up with ¥10,000 at the counter: ¥10,000 of coins, and the campaign premium as
    points."""
    hanako = story.result.hanako
    receipt = story.api.json("POST", "/v1/admin/topups", token=story.tokens["admin"], json={
        "wallet": hanako.wallet, "amount": TOPUP_YEN, "channel": "counter", "location": "加賀市役所 1F 窓口",
        "reference": f"DEMO-{story.run_id}"})
    receipt = story.api.until(f"/v1/admin/topups/{receipt['id']}", story.tokens["admin"], "status", "confirmed",
                              "the top-up")
    story.result.topup = receipt
    story.wait_balance(hanako.wallet, receipt["amount_minted"], "the top-up on chain")
    story.wait_points(hanako.wallet, receipt["bonus"], "the top-up's premium points")
    story.say(f"Hanako paid {yen(TOPUP_YEN)} at the counter: {yen(receipt['amount_minted'])} minted as coins, the "
              f"premium as {receipt['bonus']:,} points, receipt {receipt['id']}")


def merchant(story: Story) -> None:
    """The city onboards a merchant (bank account, API key) who registers a webhook endpoint."""
    number = f"{secrets.randbelow(9_000_000) + 1_000_000}"
    body = story.api.json("POST", "/v1/admin/merchants", token=story.tokens["admin"], json={
        "business_name": f"加賀棒茶本舗 demo {story.run_id}", "display_name": "加賀棒茶本舗",
        "bank_account": {"bank_code": "0146", "branch_code": "101", "account_type": "ordinary",
                         "account_number": number, "holder_name_kana": "カ）カガボウチャホンポ",
                         "bank_name_kana": "ホッコク", "branch_name_kana": "ダイショウジ"}})
    story.result.merchant, story.result.bank_account_number = body, number
    story.note("api_key", story.merchant_key())
    story.note("bank_account", number)
    story.api.until("/v1/merchant", story.merchant_key(), "status", "active", "the merchant's registration")
    endpoint = story.api.json("POST", "/v1/webhook_endpoints", token=story.merchant_key(), json={
        "url": story.config.receiver.url,
        "enabled_events": ["payment_request.paid", "refund.succeeded", "payout.paid", "payout.failed"]})
    story.result.webhook_secret = str(endpoint["secret"])
    story.note("webhook_secret", story.result.webhook_secret)
    story.say(f"merchant {body['display_name']} ({body['id']}) onboarded, registered on chain; "
              f"webhooks to {story.config.receiver.url}")


def payment(story: Story) -> None:
    """A payment request; Hanako pays its URI with ``machi-wallet pay``; the signed webhook arrives."""
    key = story.merchant_key()
    request = story.api.json("POST", "/v1/payment_requests", token=key, json={
        "amount": PRICE, "description": "加賀棒茶 3袋", "order_reference": f"ORDER-{story.run_id}"})
    story.say(f"the merchant asks {yen(PRICE)}: {request['uri']}")
    points = story.points(story.result.hanako.wallet)
    story.result.hanako.cli("pay", request["uri"], "--yes")
    paid = story.api.until(f"/v1/payment_requests/{request['id']}", key, "status", "paid", "the payment")
    story.result.payment_request = paid
    story.wait_points(story.result.hanako.wallet, max(points - PRICE, 0), "the points the payment spent")
    spent = min(points, PRICE)
    story.say(f"Hanako paid {yen(PRICE)} from machi-wallet, {spent:,} points first and {yen(PRICE - spent)} in coins "
              f"(the shop gets {yen(PRICE)} of coins; gasless, relayed; tx {paid['tx_hash']})")
    event = story.webhook("payment_request.paid", request["id"])
    story.say(f"the merchant's receiver got {event['type']} {event['id']}; Machi-Signature verified")


def gift(story: Story) -> None:
    """Hanako sends Taro coins, person to person."""
    hanako, taro = story.result.hanako, story.result.taro
    hanako.cli("send", taro.wallet, str(GIFT), "--memo", "お土産代", "--yes")
    story.wait_balance(taro.wallet, GIFT, "Taro's coins")
    story.say(f"Hanako sent Taro {yen(GIFT)} (machi-wallet send)")


#: A service nobody answers at: the resident's phone and the counter with the network cut.
NO_NETWORK = "http://127.0.0.1:9"


def _counter(story: Story, api_url: str, *args: str) -> CliRun:
    """``machi-pos ARGS`` at the merchant's counter (its offline file beside the residents' wallets)."""
    env = {**os.environ, "MACHI_API_URL": api_url, "MACHI_POS_API_KEY": story.merchant_key(), "MACHI_POS_LANG": "en",
           "COLUMNS": "200", "LANG": "C.UTF-8"}
    store = story.result.hanako.home.parent / "counter-offline.json"
    return story.result.transcript.run("the counter", "machi-pos", *args, "--store", str(store), env=env)


def offline(story: Story) -> None:
    """Hanako locks coins in her offline reserve; with the network cut she pays at the counter (``machi-wallet
    pay --offline`` → ``machi-pos offline-accept``); when it is back the counter relays it and it is paid."""
    hanako, shop = story.result.hanako, story.result.merchant["wallet"]
    hanako.cli("reserve", str(OFFLINE), "--yes")
    if "Offline reserve" not in hanako.cli("balance").stdout:
        raise DemoError("machi-wallet balance does not show the offline reserve")
    _counter(story, story.config.api_url, "offline-sync")
    story.say(f"Hanako locked {yen(OFFLINE)} in her offline reserve on chain (machi-wallet reserve; balance shows "
              "it); the counter synced the reserves (machi-pos offline-sync)")
    code = hanako.home / "offline-payment.txt"
    hanako.cli("--api-url", NO_NETWORK, "pay", "--offline", shop, "--amount", str(OFFLINE), "--out", str(code),
               "--yes")
    accepted = _counter(story, NO_NETWORK, "offline-accept", str(code))
    if "accepted" not in accepted.stdout:
        raise DemoError(f"the counter did not accept the offline payment: {accepted.output}")
    story.say(f"with no network Hanako signed an offline payment of {yen(OFFLINE)} (a QR code and {code.name}); "
              "the counter checked it against its last sync and kept it (machi-pos offline-accept)")
    held = story.balance(shop)
    relayed = _counter(story, story.config.api_url, "offline-relay")
    if "paid" not in relayed.stdout or "NOT paid" in relayed.stdout:
        raise DemoError(f"the offline payment was not paid: {relayed.output}")
    story.wait_balance(shop, held + OFFLINE, "the offline payment")
    story.say(f"the network is back: machi-pos offline-relay sent it through the merchant API, the reserve paid "
              f"the merchant {yen(OFFLINE)} — a payment that could not bounce")


def card_payment(story: Story) -> None:
    """Taro, with no phone, is opted in to a card wallet at the city counter with his My Number card (the
    operator tops it up); at the merchant's counter he pays ``machi-pos card-pay`` with the card and his PIN."""
    from protocol.cards.soft import SoftCard

    taro, admin = story.result.taro, story.tokens["admin"]
    challenge = story.api.json("POST", "/v1/admin/card_wallets/challenge", token=admin)
    card = SoftCard(taro.card, taro.pin)
    opted = story.api.json("POST", "/v1/admin/card_wallets", token=admin, json={
        "statement": challenge["statement"], "auth_certificate": base64.b64encode(card.auth_certificate()).decode(),
        "auth_signature": base64.b64encode(card.sign_auth(challenge["canonical"].encode(), taro.pin)).decode()})
    wallet = str(opted["wallet"])
    wait_for(lambda: story.is_verified(wallet) or None, "Taro's card wallet on chain")
    receipt = story.api.json("POST", "/v1/admin/topups", token=admin, json={
        "wallet": wallet, "amount": CARD_TOPUP, "channel": "counter", "location": "加賀市役所 1F 窓口",
        "reference": f"DEMO-CARD-{story.run_id}"})
    receipt = story.api.until(f"/v1/admin/topups/{receipt['id']}", admin, "status", "confirmed",
                              "the card wallet's top-up")
    story.wait_balance(wallet, receipt["amount_minted"], "the card wallet's top-up on chain")
    story.wait_points(wallet, receipt["bonus"], "the card wallet's premium points")
    story.result.card_wallet = wallet
    story.say(f"at the city counter Taro opened a card wallet with his My Number card ({wallet}, no phone) and "
              f"paid in {yen(CARD_TOPUP)}: {yen(receipt['amount_minted'])} minted")
    held = story.balance(story.result.merchant["wallet"])
    env = {**os.environ, "MACHI_API_URL": story.config.api_url, "MACHI_POS_API_KEY": story.merchant_key(),
           "MACHI_POS_LANG": "en", "MACHI_CARD_PIN": taro.pin, "COLUMNS": "200", "LANG": "C.UTF-8"}
    paid = story.result.transcript.run("the counter", "machi-pos", "card-pay", str(CARD_PRICE), "-d", "九谷焼の小皿",
                                       "--card", f"soft:{taro.card}", env=env)
    if f"paid: {yen(CARD_PRICE)}" not in paid.stdout or "My Number card" not in paid.stdout:
        raise DemoError(f"the card payment was not paid: {paid.output[-400:]}")
    coins_paid = CARD_PRICE - min(receipt["bonus"], CARD_PRICE)  # the premium points first
    story.wait_balance(wallet, receipt["amount_minted"] - coins_paid, "the card payment from the card wallet")
    story.wait_balance(story.result.merchant["wallet"], held + CARD_PRICE, "the card payment to the merchant")
    story.say(f"with no phone Taro paid {yen(CARD_PRICE)} at the counter with his card and PIN (machi-pos card-pay, "
              "TEST card signed the payment statement): paid from his card wallet, receipt printed")


def application(story: Story) -> None:
    """A form carrying a My Number is refused; the real childcare application is filed."""
    hanako = story.result.hanako
    try:
        refused, _ = hanako.apply("childcare-benefit", {**CHILDCARE_FORM, "notes": f"個人番号 {hanako.my_number}"},
                                  "form-with-my-number", ok=False)
    finally:  # a My Number in clear must not stay on disk
        (hanako.home / "form-with-my-number.json").unlink(missing_ok=True)
    if refused.returncode == 0 or "My Number" not in refused.output:
        raise DemoError(f"a form with a My Number was not refused: {refused.output[-300:]}")
    story.result.refused_my_number = refused
    story.say("the service refused a form with Hanako's 12-digit My Number in it (never stored, never logged)")
    _, application_id = hanako.apply("childcare-benefit", CHILDCARE_FORM, "childcare")
    if not application_id:
        raise DemoError("machi-wallet apply did not print the application id")
    story.result.application_id = application_id
    story.note("personal_data", CHILD_NAME, CHILD_NAME.replace(" ", ""))
    story.say(f"Hanako applied for the childcare support benefit ({yen(BENEFIT)}): {application_id}")


def approval(story: Story) -> None:
    """The child-welfare clerk claims and approves the application in the console."""
    username, password, _ = DEMO_STAFF["clerk"]
    done = story.config.clerk(story.config.api_url, username, password, story.result.application_id)
    story.result.approval_how = done.how
    story.note("bearer_token", *done.secrets)
    story.note("staff_password", password)
    story.say(f"clerk {username} approved {story.result.application_id} {done.how}")


def benefit(story: Story) -> None:
    """The benefit is credited to Hanako's wallet as points (spent first at shops, not redeemable)."""
    hanako = story.result.hanako
    topup = story.result.topup
    # the premium paid part of PRICE; OFFLINE: paid from the reserve
    coins = topup["amount_minted"] - (PRICE - min(topup["bonus"], PRICE)) - GIFT - OFFLINE
    story.wait_points(hanako.wallet, BENEFIT, "the childcare benefit on chain")
    if story.balance(hanako.wallet) != coins:
        raise DemoError(f"Hanako holds {story.balance(hanako.wallet)} coins, not {coins}")
    story.say(f"the benefit landed as {BENEFIT:,} points: Hanako holds {yen(coins)} in coins and {BENEFIT:,} points")


def receipt(story: Story) -> None:
    """Hanako proves her application's history against the chain alone (once every event is anchored)."""
    hanako = story.result.hanako

    def verified() -> CliRun | None:
        run = hanako.cli("receipt", story.result.application_id, "--verify", "--rpc-url", story.config.rpc_url,
                         "--ledger", story.result.ledger, ok=False)
        if run.returncode:
            raise DemoError(f"the receipt does not verify: {run.output.strip()[-400:]}")
        return None if "not anchored yet" in run.output else run

    run = wait_for(verified, "every event of the application to be anchored", timeout=240, interval=3)
    story.result.receipt = run
    summary = next((line for line in run.output.splitlines() if line.startswith("verified")), "verified")
    story.say(f"Hanako verified the receipt against the chain (machi-wallet receipt --verify): {summary}")


def _photo() -> bytes:
    """A small real PNG (a grey square): what a phone would send, without shipping a picture."""
    width = height = 16
    raw = b"".join(b"\x00" + b"\x80\x80\x80" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


POTHOLE = {"service_code": "road-damage", "lat": "36.3027", "long": "136.3146", "address_string": "大聖寺駅前",
           "description": "交差点の手前に深さ10cmほどの穴があります", "attribute[service_code]": "pothole",
           "attribute[hazard]": "true"}
DUPLICATE_DESCRIPTION = "駅前の穴が危ないです"


def civic_report(story: Story) -> None:
    """Taro reports a pothole through Open311 with a photo; a reporting app files the same pothole."""
    taro = story.result.taro
    app_key = story.api.json("POST", "/v1/admin/open311/keys", token=story.tokens["admin"],
                             json={"name": "まちレポ (demo)"})["secret"]
    story.note("api_key", app_key)
    login = story.resident_api(taro)
    token = login.token
    login.close()
    if not token:
        raise DemoError("Taro could not log in")
    story.note("bearer_token", token)
    posted = story.api.call("POST", "/open311/v2/requests.json", token=token, data=POTHOLE,
                            files=[("media", ("pothole.png", _photo(), "image/png"))]).json()[0]
    request_id = posted["service_request_id"]
    if not request_id:
        raise DemoError(f"Taro's linked report was not public at once: {posted}")
    email = f"reporter-{story.run_id}@example.jp"
    story.note("personal_data", email)
    duplicate = story.api.call("POST", "/open311/v2/requests.json", data={
        **POTHOLE, "lat": "36.3028", "description": DUPLICATE_DESCRIPTION, "email": email, "api_key": app_key,
    }).json()[0]
    if duplicate["service_request_id"] is not None:
        raise DemoError("an app's report was public before review")
    [public] = story.api.call("GET", f"/open311/v2/requests/{request_id}.json").json()
    story.result.civic_report = public
    story.say(f"Taro reported a pothole through Open311 ({request_id}, public at once: grid cell "
              f"{public['lat']}, {public['long']}, no name); an app's report of the same pothole waits for review")


def civic_fix(story: Story) -> None:
    """The road clerk merges the duplicate, releases the report, and works it to fixed; Taro is rewarded."""
    taro, report = story.result.taro, story.result.civic_report
    road = staff_login(story, "road")
    before = story.points(taro.wallet)
    waiting = story.api.call("GET", "/v1/clerk/civic/reports", token=road, params={"status": "submitted"}).json()
    duplicate = next((r["id"] for r in waiting  # newest first: this run's, not an earlier run's
                      if not r["verified"] and r["description"] == DUPLICATE_DESCRIPTION), None)
    if duplicate is None:
        raise DemoError("the app's report is not in the road department's queue")
    request_id = report["service_request_id"]
    story.api.call("POST", f"/v1/clerk/civic/reports/{duplicate}/merge", token=road, json={"into": request_id})
    story.api.call("POST", f"/v1/clerk/civic/reports/{request_id}/review", token=road,
                   json={"listed": True, "description": "大聖寺駅前の交差点の路面に穴", "photo_public": True})
    for step in ({"status": "acknowledged"}, {"status": "in_progress", "reason": "補修班が出動"},
                 {"status": "closed", "resolution": "fixed"}):
        story.api.call("POST", f"/v1/clerk/civic/reports/{request_id}/status", token=road, json=step)
    [public] = story.api.call("GET", f"/open311/v2/requests/{request_id}.json").json()
    if (public["status"], public["resolution"]) != ("closed", "fixed"):
        raise DemoError(f"the report is not closed as fixed: {public}")
    reward = int(story.api.json("GET", f"/v1/clerk/civic/reports/{request_id}", token=road)["reward"])
    if reward:
        story.wait_points(taro.wallet, before + reward, "Taro's reward (points)")
    story.result.civic_report, story.result.civic_reward = public, reward
    story.say(f"clerk demo-road merged the app's duplicate, released a description and the photo, and closed "
              f"{request_id} as fixed (both reports closed)" + (f"; Taro was rewarded {yen(reward)}" if reward else ""))
    page = story.api.call("GET", "/town").text
    if request_id not in page:
        raise DemoError("the fixed pothole is not on /town")
    story.say(f"/town shows it fixed, with its history at {public['history_url']}")


def refund(story: Story) -> None:
    """The merchant refunds part of the payment."""
    key, paid = story.merchant_key(), story.result.payment_request
    body = story.api.json("POST", "/v1/refunds", token=key, json={
        "payment_request": paid["id"], "amount": REFUND, "reason": "1袋 品切れ"})
    story.result.refund = story.api.until(f"/v1/refunds/{body['id']}", key, "status", "succeeded", "the refund")
    story.webhook("refund.succeeded", body["id"])
    story.say(f"the merchant refunded {yen(REFUND)} of {paid['id']} to Hanako (refund.succeeded received)")


def payout(story: Story) -> None:
    """The merchant redeems its coins; the city exports the Zengin file and marks it transferred."""
    key, admin = story.merchant_key(), story.tokens["admin"]
    amount = story.balance(story.result.merchant["wallet"])
    created = story.api.json("POST", "/v1/payouts", token=key, json={"amount": amount})
    redeemed = story.api.until(f"/v1/payouts/{created['id']}", key, "status", "redeemed", "the redemption")
    story.say(f"the merchant redeemed {yen(amount)}: burned on chain, {yen(redeemed['net_amount'])} to pay "
              f"after the {yen(redeemed['fee'])} fee")
    batch = story.api.json("POST", "/v1/admin/payout_batches", token=admin, json={})
    if created["id"] not in batch["payouts"]:
        raise DemoError(f"the payout batch {batch['id']} does not hold {created['id']}")
    story.result.zengin_file = story.api.call("GET", f"/v1/admin/payout_batches/{batch['id']}/file",
                                              token=admin).content
    story.say(f"the city exported {batch['id']}: a Zengin file of {batch['count']} transfer(s), "
              f"{yen(batch['total_amount'])}, {len(story.result.zengin_file)} bytes")
    story.result.batch = story.api.json("POST", f"/v1/admin/payout_batches/{batch['id']}/transferred", token=admin)
    story.result.payout = story.api.until(f"/v1/payouts/{created['id']}", key, "status", "paid", "the payout")
    story.webhook("payout.paid", created["id"])
    story.say(f"the bank transfer is marked done: payout {created['id']} paid (payout.paid received)")


#: Up to this recovery delay the story waits for the recovery to run (a development deployment with
#: ``MACHI_RECOVERY_DELAY`` set short); the city's 72 h it only announces.
RECOVERY_WAIT_LIMIT = 120


def recovery(story: Story) -> None:
    """Hanako loses her wallet and, with her card, asks for her identity and coins on a new one: the recovery
    is announced on chain and runs after the delay (while her old wallet or the city could still cancel it)."""
    hanako = story.result.hanako
    old = hanako.wallet
    held, points = story.balance(old), story.points(old)
    hanako.new_wallet(hanako.home / "new-phone" / "keystore.json")
    hanako.cli("recover", "--card", f"soft:{hanako.card}", "--lost", old)
    delay = story.recovery_delay()
    if delay > RECOVERY_WAIT_LIMIT:
        if story.balance(old) != held:
            raise DemoError(f"coins left the lost wallet {old} before the recovery delay passed")
        story.say(f"Hanako lost her wallet; with her card she asked to recover into {hanako.wallet}: announced on "
                  f"chain, it runs in {delay / 3600:g} h (until then her old wallet or the city can cancel it)")
        return
    story.wait_balance(hanako.wallet, held, "the recovered coins", timeout=delay + 120.0)
    story.wait_points(hanako.wallet, points, "the recovered points")
    if story.balance(old) != 0 or story.points(old) != 0:
        raise DemoError(f"the lost wallet {old} still holds coins or points")
    story.say(f"Hanako lost her wallet; with her card she recovered into {hanako.wallet}: announced on chain, run "
              f"after the {delay} s delay, {yen(held)} and {points:,} points moved, the old wallet is empty")


def reconcile(story: Story) -> None:
    """``machi reconcile``: the database ledger equals the chain."""
    r = story.result
    wallets = [r.hanako.wallet, *r.hanako.lost_wallets, r.taro.wallet, r.card_wallet, r.merchant["wallet"]]
    run = story.machi("reconcile", "reconcile", *(arg for w in wallets for arg in ("--wallet", w)), ok=False)
    story.result.reconcile = run
    if run.returncode:
        raise DemoError(f"machi reconcile found differences:\n{run.output}")
    story.say("machi reconcile: " + next((line for line in run.output.splitlines() if "reconciled" in line),
                                         "no differences"))


STEPS: list[Callable[[Story], None]] = [service, staff, residents, topup, merchant, payment, gift, offline,
                                        card_payment, application,
                                        approval, benefit, receipt, civic_report, civic_fix, refund, payout,
                                        recovery, reconcile]


def run_story(config: StoryConfig) -> StoryResult:
    """Run every step in order; the result (also when a step fails, attached to the ``DemoError``)."""
    story = Story(config)
    try:
        for step in STEPS:
            step(story)
    except DemoError as exc:
        exc.result = story.result
        raise
    finally:
        story.api.close()
    return story.result
