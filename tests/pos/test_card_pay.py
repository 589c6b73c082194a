"""``machi-pos card-pay`` at the counter against a real service, with the APDU-level fake My Number card in the
reader: good PIN, wrong PIN (the card counts, the counter says how many tries are left), locked card, revoked
card, over the daily limit — each refusal one clear line, the request canceled, nothing paid."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from cryptography import x509

from pos.cli import main as pos_cli
from protocol.cards import pcsc
from tests.fixtures.fake_jpki_card import FakeJpkiCard
from tests.pos.test_counter import pos_env

PIN = "2468"


@pytest.fixture
def reader(monkeypatch):
    """The counter's PC/SC reader: whichever fake card is put on it."""
    slot: dict[str, FakeJpkiCard] = {}

    def put(card) -> FakeJpkiCard:
        slot["card"] = FakeJpkiCard(card)
        return slot["card"]

    monkeypatch.setattr(pcsc, "PyscardTransport", lambda reader=None: slot["card"])
    return put


def card_pay(server: str, key: str, amount: int, *, pins: list[str], lang: str = "en"):
    env = {**pos_env(server, key, lang), "MACHI_CARD_PIN": None}
    return CliRunner().invoke(pos_cli, ["card-pay", str(amount), "-d", "加賀棒茶", "--card", "pcsc"],
                              input="".join(pin + "\n" for pin in pins), env=env)


def _request_id(output: str) -> str:
    return re.search(r"(pr_[0-9a-f]{24})", output).group(1)


def test_good_pin_and_a_wrong_one_first(server, client, city_counter, onboard, reader, runtime):
    holder = city_counter.linked(0, pin=PIN)
    opted = city_counter.opt_in(holder, coins=5_000)
    merchant = onboard("加賀棒茶本舗")
    fake = reader(holder.card)
    result = card_pay(server, merchant.key, 1_200, pins=["1111", PIN])
    assert result.exit_code == 0, result.output
    assert "wrong PIN; 2 attempt(s) left before the card locks" in result.output
    assert "paid: ¥1,200" in result.output and "My Number card (card wallet)" in result.output
    request = client.get(f"/v1/payment_requests/{_request_id(result.output)}", headers=merchant.headers).json()
    assert (request["status"], request["payer"]) == ("paid", opted["wallet"])
    assert runtime.coin.balance_of(opted["wallet"]) == 5_000 - 1_200
    assert any(apdu[:4] == bytes.fromhex("802A0080") for apdu, sw in fake.log if sw == 0x9000)  # the card signed
    assert PIN not in result.output


def test_a_locked_card_is_said_so_and_nothing_is_paid(server, client, city_counter, onboard, reader, runtime):
    holder = city_counter.linked(1, pin=PIN)
    opted = city_counter.opt_in(holder, coins=5_000)
    merchant = onboard()
    fake = reader(holder.card)
    fake.pins[pcsc.JpkiFile.AUTH_PIN].remaining = 0  # three wrong PINs before, anywhere
    result = card_pay(server, merchant.key, 800, pins=[PIN], lang="ja")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "ロックされています" in result.output and "市役所の窓口で解除" in result.output
    assert not any(apdu[:4] == bytes.fromhex("802A0080") for apdu, _ in fake.log)  # nothing signed
    request = client.get(f"/v1/payment_requests/{_request_id(result.output)}", headers=merchant.headers).json()
    assert request["status"] == "canceled" and runtime.coin.balance_of(opted["wallet"]) == 5_000


def test_three_wrong_pins_lock_the_card(server, city_counter, onboard, reader):
    holder = city_counter.linked(2, pin=PIN)
    city_counter.opt_in(holder)
    merchant = onboard()
    fake = reader(holder.card)
    result = card_pay(server, merchant.key, 500, pins=["1111", "2222", "3333"])
    assert result.exit_code == 1
    assert "2 attempt(s) left" in result.output and "1 attempt(s) left" in result.output
    assert "locked after too many wrong attempts" in result.output
    assert fake.pins[pcsc.JpkiFile.AUTH_PIN].remaining == 0


def test_a_revoked_card_is_refused(server, client, city_counter, onboard, reader, id_ca):
    holder = city_counter.linked(3, pin=PIN)
    city_counter.opt_in(holder, coins=5_000)
    merchant = onboard()
    reader(holder.card)
    id_ca.revoke(holder.card, reason=x509.ReasonFlags.key_compromise)
    result = card_pay(server, merchant.key, 500, pins=[PIN])
    assert result.exit_code == 1 and result.output.strip().splitlines()[-1].startswith("Error: ")
    assert "[certificate_revoked]" in result.output
    request = client.get(f"/v1/payment_requests/{_request_id(result.output)}", headers=merchant.headers).json()
    assert request["status"] == "canceled"


def test_over_the_daily_limit(server, client, city_counter, onboard, reader, settings):
    settings.card_payment_daily_limit = 1_500
    holder = city_counter.linked(0, pin=PIN)
    city_counter.opt_in(holder, coins=5_000)
    merchant = onboard()
    reader(holder.card)
    assert card_pay(server, merchant.key, 1_000, pins=[PIN]).exit_code == 0
    over = card_pay(server, merchant.key, 1_000, pins=[PIN], lang="ja")
    assert over.exit_code == 1
    assert "カードウォレットの1日の上限を超えています [card_daily_limit_exceeded]" in over.output
    request = client.get(f"/v1/payment_requests/{_request_id(over.output)}", headers=merchant.headers).json()
    assert request["status"] == "canceled"
