"""``machi-pos`` speaks Japanese by default and English when asked; every message it names is worded in
both, with the same blanks; the service's errors in Japanese by code."""

from __future__ import annotations

import ast
import string

from click.testing import CliRunner

from chain.toolchain import PROJECT_ROOT
from pos.api import PosError
from pos.cli import main as pos_cli
from pos.i18n import MESSAGES, Texts, pos_language
from protocol.terms import TERMS


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_message_in_both_languages_with_the_same_blanks():
    for key, entry in MESSAGES.items():
        assert set(entry) == {"ja", "en"} and all(entry.values()), key
        assert _fields(entry["ja"]) == _fields(entry["en"]), key
        assert entry["ja"].count("[/]") == entry["en"].count("[/]"), key


def test_every_key_the_program_uses_is_worded():
    used = set()
    for path in (PROJECT_ROOT / "pos").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str) and isinstance(node.func, ast.Attribute | ast.Name)):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
                if name in ("t", "say", "of"):
                    used.add(node.args[0].value)
    assert len(used) > 20  # the scan sees the commands
    assert not [key for key in used if key not in MESSAGES and key not in TERMS]


def test_the_language_and_the_service_errors():
    assert pos_language(None, {}) == "ja" and pos_language(None, {"LANG": "en_US.UTF-8"}) == "en"
    assert pos_language(None, {"MACHI_POS_LANG": "en", "LANG": "ja_JP.UTF-8"}) == "en"
    assert pos_language("ja", {"MACHI_POS_LANG": "en"}) == "ja"
    refused = PosError("invalid API key", code="invalid_api_key", status=401)
    assert Texts("ja").error(refused) == "API キーが正しくありません [invalid_api_key]"
    assert Texts("en").error(refused) == "invalid API key [invalid_api_key]"
    assert Texts("en").error(PosError("something new", code="brand_new")) == "something new [brand_new]"
    help_ja = CliRunner().invoke(pos_cli, ["--help"], env={"MACHI_POS_LANG": None, "LANG": "C.UTF-8"})
    assert help_ja.exit_code == 0 and "加盟店レジ" in help_ja.output
