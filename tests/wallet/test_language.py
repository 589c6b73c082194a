"""The resident's program speaks Japanese by default, English on request, with one name per concept shared
with the clerk console; colour on a terminal, on request, or never. (No service needed here; the commands
in Japanese against a live service: test_cli_identity and test_cli_payments.)"""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from rich.console import Console

from procedures.console.i18n import TEXTS as CONSOLE_TEXTS
from protocol.terms import TERMS
from wallet import cli, keystore
from wallet.context import WalletContext
from wallet.i18n import MESSAGES, SERVICE_ERRORS, Texts, choose_language

WALLET = Path(cli.__file__).parent


@pytest.mark.parametrize(
    ("option", "environ", "expected"),
    [
        (None, {}, "ja"),
        (None, {"LANG": "C.UTF-8"}, "ja"),  # no language chosen: the city's
        (None, {"LANG": "POSIX"}, "ja"),
        (None, {"LANG": "ja_JP.UTF-8"}, "ja"),
        (None, {"LANG": "en_US.UTF-8"}, "en"),
        (None, {"LANG": "pt_BR.UTF-8"}, "en"),  # another language: English is closer than Japanese
        (None, {"LANG": "ja_JP.UTF-8", "LC_ALL": "en_GB.UTF-8"}, "en"),  # LC_ALL first
        (None, {"LANG": "en_US.UTF-8", "LC_MESSAGES": "ja_JP.UTF-8"}, "ja"),
        (None, {"LANG": "ja_JP.UTF-8", "MACHI_WALLET_LANG": "en"}, "en"),
        (None, {"LANG": "en_US.UTF-8", "MACHI_WALLET_LANG": "ja"}, "ja"),
        (None, {"LANG": "en_US.UTF-8", "MACHI_WALLET_LANG": "klingon"}, "en"),  # unknown: the locale decides
        ("en", {"MACHI_WALLET_LANG": "ja"}, "en"),
        ("ja", {"LANG": "en_US.UTF-8"}, "ja"),
    ],
)
def test_the_language_is_japanese_unless_asked_or_the_locale_says_otherwise(option, environ, expected):
    assert choose_language(option, environ) == expected


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_message_in_both_languages_with_the_same_blanks():
    for key, entry in {**MESSAGES, **TERMS}.items():
        assert set(entry) == {"ja", "en"} and all(entry.values()), key
        assert _fields(entry["ja"]) == _fields(entry["en"]), key
        assert entry["ja"].count("[/]") == entry["en"].count("[/]"), key  # markup closed in both
    assert all(SERVICE_ERRORS.values())


def _keys_used() -> set[tuple[str, str]]:
    """Message keys and term prefixes the wallet's code names: t("…"), say("…"), WalletError.of("…"),
    t.term("prefix", …), KeystoreError("…")."""
    used: set[tuple[str, str]] = set()
    for path in WALLET.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("t", "say", "of", "KeystoreError"):
                used.add(("key", node.args[0].value))
            elif name == "term":
                used.add(("prefix", node.args[0].value))
    return used


def test_every_key_the_wallet_uses_is_worded():
    used = _keys_used()
    assert len(used) > 100  # the scan sees the commands
    known = set(MESSAGES) | set(TERMS)
    missing = [key for kind, key in used if kind == "key" and key not in known]
    assert not missing, missing
    prefixes = {key.split("_", 1)[0] for key in known if "_" in key}
    assert not [p for kind, p in used if kind == "prefix" and p not in prefixes]


def test_one_name_per_concept_with_the_console():
    """The console's texts take the shared concepts from protocol.terms unchanged."""
    for key, names in TERMS.items():
        assert CONSOLE_TEXTS[key] == names, key
    assert TERMS["level"] == {"ja": "本人確認レベル", "en": "Identity level"}
    assert TERMS["lvl_2"]["en"] == "Resident of the city"
    # The wallet has no second name for those concepts.
    assert not set(MESSAGES) & set(TERMS)
    for entry in MESSAGES.values():
        assert "identity level" not in entry["en"].lower() and "保証レベル" not in entry["ja"]


def test_texts_fall_back_to_the_value_for_unknown_terms():
    texts = Texts("ja")
    assert texts.term("st", "in_review") == "審査中"
    assert texts.term("st", "something_new") == "something_new"
    assert Texts("en")("coins", amount="1,200") == "1,200 coins"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setattr(keystore, "SCRYPT_N", 2**12)
    return {"MACHI_WALLET_HOME": str(tmp_path), "MACHI_WALLET_PASSWORD": "a wallet password", "LANG": "C.UTF-8",
            "MACHI_WALLET_LANG": None}


def test_japanese_by_default_and_english_on_request(home, tmp_path):
    made = CliRunner().invoke(cli.main, ["init"], env=home)
    assert made.exit_code == 0, made.output
    assert "ウォレットを作成しました" in made.output and "鍵ファイル" in made.output
    again = CliRunner().invoke(cli.main, ["init"], env=home)
    assert again.exit_code == 1 and again.output.startswith("エラー: ") and "上書きはしません" in again.output
    english = CliRunner().invoke(cli.main, ["--lang", "en", "init"], env=home)
    assert english.exit_code == 1 and english.output.startswith("Error: ") and "not overwritten" in english.output
    by_env = CliRunner().invoke(cli.main, ["init"], env={**home, "MACHI_WALLET_LANG": "en"})
    assert "not overwritten" in by_env.output


def test_prompts_are_japanese_too(home, tmp_path):
    fresh = {**home, "MACHI_WALLET_HOME": str(tmp_path / "other"), "MACHI_WALLET_PASSWORD": None}
    made = CliRunner().invoke(cli.main, ["init"], env=fresh, input="secret words\nsecret words\n")
    assert made.exit_code == 0, made.output
    assert "新しいウォレットのパスワード" in made.output and "確認のためもう一度入力" in made.output
    declined = CliRunner().invoke(cli.main, ["whoami"], env=fresh, input="")
    assert declined.exit_code == 1 and "ウォレットのパスワード" in declined.output
    assert "中止しました" in declined.output and "MACHI_WALLET_PASSWORD" in declined.output  # no terminal: the hint
    assert "Aborted!" not in declined.output


def test_colour_only_on_a_terminal_unless_asked(home, tmp_path):
    ansi = re.compile(r"\x1b\[")

    def init(*flags: str) -> str:
        where = {**home, "MACHI_WALLET_HOME": str(tmp_path / "c" / "-".join(flags or ("plain",)))}
        result = CliRunner().invoke(cli.main, [*flags, "init"], env=where)
        assert result.exit_code == 0, result.output
        return result.output

    assert not ansi.search(init())  # piped: plain text
    assert ansi.search(init("--color"))  # asked for: colour (bold) through the pipe
    assert not ansi.search(init("--no-color"))


def test_a_table_title_never_wraps_the_address():
    """The balance table's title is the wallet address; narrow columns must not break it."""
    address = "0x" + "AbCdEf0123" * 4
    wallet = WalletContext(api_url="http://127.0.0.1:1", keystore=Path("k"), console=Console(width=100))
    table = wallet.table(address, show_header=False)
    table.add_column("what")
    table.add_column("coins", justify="right")
    table.add_row("balance", "8,500")
    with wallet.console.capture() as captured:
        wallet.console.print(table)
    assert any(address in line for line in captured.get().splitlines())


def test_help_in_both_languages_for_every_command_and_option():
    from wallet.help import HELP_JA

    for name, command in cli.main.commands.items():
        texts = HELP_JA[name]
        assert texts["help"] and texts["short"], name
        options = [p.name for p in command.params if isinstance(p, click.Option) and p.help]
        assert not [o for o in options if o not in texts], (name, options)
    group = [p.name for p in cli.main.params if isinstance(p, click.Option) and p.help and p.name != "version"]
    assert not [o for o in group if o not in HELP_JA[""]]
    ja = CliRunner().invoke(cli.main, ["link-card", "--help"], env={"LANG": "C.UTF-8", "MACHI_WALLET_LANG": None})
    assert "マイナンバーカードと結びつけます" in ja.output and "利用者証明用の鍵だけ" in ja.output
    en = CliRunner().invoke(cli.main, ["--lang", "en", "link-card", "--help"])
    assert "Link this wallet to your My Number card" in en.output and "マイナンバー" not in en.output
    listing = CliRunner().invoke(cli.main, ["--help"], env={"MACHI_WALLET_LANG": "ja"})
    assert "残高を表示します" in listing.output and "表示の言語" in listing.output
    # the help texts are the commands' own again afterwards (nothing stays swapped)
    assert cli.main.commands["link-card"].help.startswith("Link this wallet")
