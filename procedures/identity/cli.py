"""``machi test-ca`` — the development TEST CA behind the demo (NOT J-LIS, refused in production).

    machi test-ca issue "加賀 花子" --birth-date 1985-06-15 --sex female \\
        --address 石川県加賀市大聖寺南町ニ41番地 [--out var/cards/hanako.p12]
    machi test-ca revoke card0001
    machi test-ca renew card0001 [--out var/cards/hanako-2.p12]

The CA lives where the service looks for it (``MACHI_JPKI_TEST_CA_DIR``, default
``var/jpki-test-ca``); its CRLs and renewal linkage are picked up by a running service.  Cards are
written under ``var/cards/`` unless ``--out`` says otherwise (``var/`` and ``*.p12`` are ignored by
git: a card's private key never lands in a commit by accident).
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from procedures.config import get_settings
from procedures.identity.trust import test_ca_dir

if TYPE_CHECKING:  # the TEST CA itself is loaded only when a command runs (``_open``)
    from procedures.identity.testca import TestCA, TestCard

__all__ = ["test_ca"]

console = Console(stderr=True, soft_wrap=True)  # paths and commands stay copy-pasteable
#: ``--sex`` choices → 住民基本台帳 codes (``procedures.identity.testca.Sex``).
_SEXES = {"male": "1", "female": "2", "unspecified": "3"}


def _open() -> TestCA:
    settings = get_settings()
    if settings.environment == "production":
        console.print("[bold red]error:[/] the TEST CA is not available in production")
        sys.exit(1)
    from procedures.identity.testca import TestCA

    return TestCA.open(test_ca_dir(settings))


def _written(card: TestCard, out: Path | None) -> None:
    auth, signing = card.write_soft_card(out or get_settings().var_dir / "cards" / f"{card.card_id}.p12")
    console.print(f"card [bold]{card.card_id}[/] (TEST): {auth}" + (f" and {signing}" if signing else ""))
    console.print(f"PIN {card.pin}" + (f", signing password {card.signing_password}" if signing else
                                       " (no signing key: under 15)"))
    console.print(f"link it: machi-wallet link-card --card soft:{auth}")


@click.group("test-ca")
def test_ca() -> None:
    """Development TEST CA: issue, revoke and renew software My Number cards."""


@test_ca.command()
@click.argument("name")
@click.option("--birth-date", type=click.DateTime(["%Y-%m-%d"]), required=True, help="YYYY-MM-DD")
@click.option("--sex", type=click.Choice(list(_SEXES)), default="unspecified", show_default=True)
@click.option("--address", required=True, help="registered address (e.g. 石川県加賀市…)")
@click.option("--minor", is_flag=True, help="a child under 15: no signing certificate")
@click.option("--pin", default="1234", show_default=True, help="4-digit PIN (TEST card)")
@click.option("--signing-password", default="TESTPASS1", show_default=True, help="6-16 letters/digits")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="PKCS#12 file to write, the signing key next to it as .sign.p12 (default var/cards/CARD_ID.p12)")
def issue(name: str, birth_date: object, sex: str, address: str, minor: bool, pin: str, signing_password: str,
          out: Path | None) -> None:
    """Issue a TEST card to a fictional resident and write it as a software card."""
    assert hasattr(birth_date, "date")
    born: date = birth_date.date()
    ca = _open()
    from procedures.identity.testca import Sex, TestResident

    card = ca.issue_card(TestResident(name, born, Sex(_SEXES[sex]), address, minor=minor), pin=pin,
                         signing_password=signing_password)
    _written(card, out)


@test_ca.command()
@click.argument("card_id")
def revoke(card_id: str) -> None:
    """Revoke a card's certificates (the CRLs are rewritten)."""
    _open().revoke(card_id)
    console.print(f"revoked {card_id}")


@test_ca.command()
@click.argument("card_id")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="PKCS#12 file to write (default var/cards/NEW_CARD_ID.p12)")
def renew(card_id: str, out: Path | None) -> None:
    """Renew a card: new keys and serials, linked to the old ones (the holder keeps their identity)."""
    _written(_open().renew(card_id), out)
