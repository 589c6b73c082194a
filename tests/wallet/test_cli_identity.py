"""``machi-wallet`` end to end against a live service (uvicorn on a free port, real chain and DB):
init → link-card → whoami → lose the wallet → recover (announced, then run after the delay) or cancel it from
the old wallet; PC/SC through the APDU fake."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from chain.contracts.base import send_call
from protocol.cards import pcsc
from tests.fixtures.fake_jpki_card import FakeJpkiCard
from tests.procedures.conftest import let_recovery_run, wait_until
from tests.procedures.identity.conftest import KAGA_RESIDENTS, MINOR
from wallet import cli, keystore

PASSWORD = "correct horse battery"


@pytest.fixture
def wallet_cli(live_server, tmp_path, monkeypatch) -> object:
    monkeypatch.setattr(keystore, "SCRYPT_N", 2**12)  # same format, cheaper unlock (tests/wallet checks the default)
    runner = CliRunner()
    env = {"MACHI_API_URL": live_server, "MACHI_WALLET_HOME": str(tmp_path / "home"), "MACHI_WALLET_PASSWORD": PASSWORD,
           "MACHI_CARD_PIN": None, "MACHI_CARD_SIGNING_PASSWORD": None, "COLUMNS": "200", "MACHI_WALLET_LANG": "en"}

    def run(*args: str, input: str | None = None, ok: bool = True):
        result = runner.invoke(cli.main, list(args), env=env, input=input)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return run


def test_init_link_whoami_lose_recover(wallet_cli, issue, contracts, runtime, tmp_path):
    card = issue(KAGA_RESIDENTS[0], pin="2468", signing_password="KAGA2025")
    soft, _ = card.write_soft_card(tmp_path / "hanako.p12")

    created = wallet_cli("init")
    old = wallet_cli("address").output.strip()
    assert old in created.output
    again = wallet_cli("init", ok=False)
    assert again.exit_code == 1 and "already exists" in again.output and "Traceback" not in again.output

    linked = wallet_cli("link-card", "--card", f"soft:{soft}", input="2468\nKAGA2025\n")
    assert "Resident of the city" in linked.output and "confirmed" in linked.output
    assert "2468" not in linked.output and "KAGA2025" not in linked.output
    who = wallet_cli("whoami")
    assert "Verified on chain" in who.output and "Yes" in who.output and "Resident of the city" in who.output

    send_call(runtime.w3, runtime.keys.topup_minter, contracts.coin.mint_call(old, 30_000))
    # the wallet is lost; a new one on another keystore takes over with the card
    new_keystore = str(tmp_path / "new" / "keystore.json")
    wallet_cli("--keystore", new_keystore, "init")
    new = wallet_cli("--keystore", new_keystore, "address").output.strip()
    recovered = wallet_cli("--keystore", new_keystore, "recover", "--card", f"soft:{soft}", "--lost", old,
                           input="2468\nKAGA2025\n")
    assert "Recovery from" in recovered.output and "Pending recovery" in recovered.output
    assert "Runs from" in recovered.output and "JST" in recovered.output and "--cancel" in recovered.output
    # announced, nothing moved yet; both wallets see it (the old one with whoami or status)
    assert contracts.coin.balance_of(old) == 30_000 and contracts.registry.is_verified(old)
    for shown in (wallet_cli("status").output, wallet_cli("whoami").output):
        assert "Pending recovery" in shown and f"{old} → {new}" in shown and "Runs from" in shown
    (row,) = _recovering(runtime)
    let_recovery_run(runtime, row)
    assert contracts.coin.balance_of(new) == 30_000 and contracts.coin.balance_of(old) == 0
    assert contracts.registry.is_verified(new) and not contracts.registry.is_verified(old)
    assert "30,000" in wallet_cli("--keystore", new_keystore, "whoami").output
    # the old wallet is retired everywhere: it cannot even log in
    retired = wallet_cli("whoami", ok=False)
    assert retired.exit_code == 1 and "retired" in retired.output


def test_recover_cancel_from_the_old_wallet(wallet_cli, issue, contracts, runtime, tmp_path):
    card = issue(KAGA_RESIDENTS[1], pin="2468", signing_password="KAGA2025")
    soft, _ = card.write_soft_card(tmp_path / "taro.p12")
    wallet_cli("init")
    old = wallet_cli("address").output.strip()
    wallet_cli("link-card", "--card", f"soft:{soft}", input="2468\nKAGA2025\n")
    nothing = wallet_cli("recover", "--cancel", ok=False)
    assert nothing.exit_code == 1 and "no pending recovery" in nothing.output
    # somebody recovers "the lost wallet" from another keystore — its owner still has it and says no
    other = str(tmp_path / "other" / "keystore.json")
    wallet_cli("--keystore", other, "init")
    wallet_cli("--keystore", other, "recover", "--card", f"soft:{soft}", "--lost", old, input="2468\nKAGA2025\n")
    assert contracts.coin.pending_recovery(old).pending
    usage = wallet_cli("--keystore", other, "recover", ok=False)
    assert usage.exit_code == 2 and "--cancel" in usage.output
    cancelled = wallet_cli("recover", "--cancel")
    assert "cancellation of the recovery" in cancelled.output
    wait_until(lambda: not contracts.coin.pending_recovery(old).pending, what="the cancellation on chain")
    assert contracts.registry.is_verified(old)


def test_recover_refuses_the_authentication_certificate_alone(wallet_cli, issue, contracts, tmp_path):
    card = issue(KAGA_RESIDENTS[2], pin="2468", signing_password="KAGA2025")
    soft, _ = card.write_soft_card(tmp_path / "jiro.p12")
    wallet_cli("init")
    old = wallet_cli("address").output.strip()
    wallet_cli("link-card", "--card", f"soft:{soft}", input="2468\nKAGA2025\n")
    other = str(tmp_path / "other" / "keystore.json")
    wallet_cli("--keystore", other, "init")
    refused = wallet_cli("--keystore", other, "recover", "--auth-only", "--card", f"soft:{soft}", "--lost", old,
                         input="2468\n", ok=False)
    assert refused.exit_code == 1 and "signing certificate" in refused.output
    assert not contracts.coin.pending_recovery(old).pending


def _recovering(runtime) -> list[str]:
    from procedures.identity.models import WalletIdentity

    with runtime.sessions() as session:
        return [row.id for row in session.query(WalletIdentity).filter_by(status="recovering")]


def test_errors_are_one_line(wallet_cli, issue, tmp_path, live_server):
    soft, _ = issue(MINOR, pin="1357").write_soft_card(tmp_path / "child.p12")
    wallet_cli("init")
    wrong = wallet_cli("link-card", "--card", f"soft:{soft}", input="9999\n", ok=False)
    assert wrong.exit_code == 1 and "wrong PIN" in wrong.output and "Traceback" not in wrong.output
    bad = wallet_cli("link-card", "--card", "floppy:a", input="1357\n", ok=False)
    assert bad.exit_code == 2 and "soft:PATH.p12" in bad.output
    assert wallet_cli("link-card", "--card", f"soft:{soft}", input="1357\n").exit_code == 0
    twice = wallet_cli("link-card", "--card", f"soft:{soft}", input="1357\n", ok=False)
    assert twice.exit_code == 1 and twice.output.strip().splitlines()[-1].startswith("Error: this wallet is already")
    down = CliRunner().invoke(cli.main, ["--lang", "en", "--api-url", "http://127.0.0.1:9", "link-card", "--card",
                                         f"soft:{soft}"],
                              env={"MACHI_WALLET_HOME": str(tmp_path / "home"), "MACHI_WALLET_PASSWORD": PASSWORD},
                              input="1357\n")
    assert down.exit_code == 1 and "cannot reach" in down.output
    wrong_password = CliRunner().invoke(cli.main, ["whoami"], env={
        "MACHI_API_URL": live_server, "MACHI_WALLET_HOME": str(tmp_path / "home"), "MACHI_WALLET_PASSWORD": "nope",
        "MACHI_WALLET_LANG": "en"})
    assert wrong_password.exit_code == 1 and "wrong wallet password" in wrong_password.output


def test_link_with_a_pcsc_reader(wallet_cli, issue, contracts, monkeypatch):
    card = issue(KAGA_RESIDENTS[1], pin="8080", signing_password="YAMANAKA1")
    fake = FakeJpkiCard(card)
    monkeypatch.setattr(pcsc, "PyscardTransport", lambda reader=None: fake)
    wallet_cli("init")
    wrong = wallet_cli("link-card", "--card", "pcsc", input="1111\n\n", ok=False)
    assert wrong.exit_code == 1 and "2 attempt(s) left" in wrong.output
    linked = wallet_cli("link-card", "--card", "pcsc", input="8080\nYAMANAKA1\n")
    assert "Resident of the city" in linked.output
    address = wallet_cli("address").output.strip()
    assert contracts.registry.status(address).verified
    assert any(apdu[:4] == bytes.fromhex("802A0080") for apdu, sw in fake.log if sw == 0x9000)  # card signed
    fake.pins[pcsc.JpkiFile.AUTH_PIN].remaining = 0  # three wrong PINs elsewhere
    locked = wallet_cli("link-card", "--card", "pcsc", "--auth-only", input="8080\n", ok=False)
    assert locked.exit_code == 1 and "locked" in locked.output and "Traceback" not in locked.output


def test_the_card_link_in_japanese(wallet_cli, issue, tmp_path):
    """The resident's default language: prompts, the result, a service refusal and a card error in Japanese, the
    level under its one name (本人確認レベル: 市民確認済)."""
    card = issue(KAGA_RESIDENTS[3], pin="4321", signing_password="HASHI123")
    soft, _ = card.write_soft_card(tmp_path / "ken.p12")
    ja = ("--lang", "ja")
    wallet_cli(*ja, "init")
    wrong = wallet_cli(*ja, "link-card", "--card", f"soft:{soft}", input="1111\n", ok=False)
    assert wrong.exit_code == 1 and "エラー: 利用者証明用暗証番号が違います" in wrong.output
    linked = wallet_cli(*ja, "link-card", "--card", f"soft:{soft}", input="4321\nHASHI123\n")
    assert "利用者証明用暗証番号（数字4桁）" in linked.output and "署名用パスワード" in linked.output  # the prompts
    assert "本人確認を登録しました" in linked.output and "本人確認レベル" in linked.output
    assert "市民確認済" in linked.output and "チェーン上で確定しました" in linked.output
    assert "Resident" not in linked.output and "level" not in linked.output
    who = wallet_cli(*ja, "whoami")
    assert "チェーン上の本人確認" in who.output and "はい" in who.output and "市民確認済" in who.output
    twice = wallet_cli(*ja, "link-card", "--card", f"soft:{soft}", input="4321\nHASHI123\n", ok=False)
    refusal = "エラー: このウォレットはすでに本人確認済みです [wallet_already_linked]"
    assert twice.output.strip().splitlines()[-1] == refusal
