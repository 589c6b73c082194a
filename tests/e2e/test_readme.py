"""The README's "Try it" walk, run as written: its ```sh blocks, in order, as one bash script against a
real ``machi serve`` (the README and this test cannot drift apart: the commands come from the README).

Only where things are differs from ``make run``: the service's URL and chain (``MACHI_API_URL``,
``MACHI_RPC_URL``), the wallet's home (``MACHI_WALLET_HOME``) and a scratch project folder whose
``.venv`` is the project's own.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from chain.toolchain import PROJECT_ROOT

pytestmark = pytest.mark.timeout(900)

SECTION = "## Try it"
#: The walk ends where the section's table of every command begins (what follows are other tools' notes).
WALK_END = "| who | where | commands / pages |"


def readme_walk(text: str) -> list[str]:
    """The ```sh blocks of the README's "Try it" walk, in order."""
    start = text.index(SECTION)
    end = text.index(WALK_END, start)
    section = text[start:end]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)


def test_the_walk_has_every_step_the_issue_asks_for():
    script = "\n".join(readme_walk((PROJECT_ROOT / "README.md").read_text(encoding="utf-8")))
    for step in ("machi test-ca issue", "machi-wallet init", "machi-wallet link-card", "create-clerk tanaka",
                 "--password-file", "apply childcare-benefit --form", "/v1/clerk/applications/$APP/approve",
                 "machi-wallet balance", "receipt \"$APP\" --verify", "/v1/admin/merchants", "/v1/payment_requests",
                 "machi-wallet pay"):
        assert step in script, step


@pytest.mark.parametrize("shape", ["anvil"])  # what `make run` starts; the other node shapes have the story test
def test_the_readme_walk_runs_as_written(story_service, tmp_path):
    blocks = readme_walk((PROJECT_ROOT / "README.md").read_text(encoding="utf-8"))
    work = tmp_path / "project"
    work.mkdir()
    (work / ".venv").symlink_to(PROJECT_ROOT / ".venv")
    script = work / "walk.sh"
    script.write_text("set -euo pipefail\n" + "\n".join(blocks), encoding="utf-8")
    env = {**story_service.env, "MACHI_API_URL": story_service.url, "MACHI_RPC_URL": story_service.rpc_url,
           "MACHI_WALLET_HOME": str(tmp_path / "wallet-home"), "COLUMNS": "160", "LANG": "C.UTF-8"}
    env.pop("MACHI_WALLET_LANG", None)
    trace = tmp_path / "walk.trace"
    try:
        with trace.open("w", encoding="utf-8") as stderr:  # the commands as run (set -x) and what they said
            done = subprocess.run(["bash", "-x", str(script)], cwd=work, env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=780)
    except subprocess.TimeoutExpired:
        pytest.fail("the README walk did not finish:\n" + trace.read_text(encoding="utf-8")[-6000:])
    output = done.stdout
    assert done.returncode == 0, output[-3000:] + trace.read_text(encoding="utf-8")[-4000:]
    assert "市民確認済" in output  # whoami: linked at the city's level
    assert output.count("in_review") == 1 and "approved" in output  # the clerk API's answers
    assert "30,000" in output and "加賀市" in output  # the benefit arrived, from the city
    assert re.search(r"検証しました: (\d+) 件中 \1 件の出来事をチェーン上で確認", output)  # the receipt, proven
    assert "paid\n" in output and "山中漆器店" in output  # the first payment, to the shop by name
    # the benefit was points and paid the shop: 28,800 points left, the coin history adds up to 0
    assert "28,800" in output and "（うち 1,200 pt）" in output and "残高 0 コイン（履歴の合計）" in output
    assert (work / "var" / "cards" / "hanako.p12").exists()
