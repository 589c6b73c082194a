"""Privacy: after link, recovery, renewal and revocation for several residents, nothing personal is
on chain (every transaction input, every log), in the logs, or readable in the database."""

from __future__ import annotations

import logging
from datetime import date

from sqlalchemy import inspect, literal_column, select
from sqlalchemy import table as table_clause

from chain.contracts.base import send_call
from procedures.auth.service import create_staff
from procedures.identity.testca import TestCard, TestResident, era_birth_date
from procedures.logs import JsonFormatter
from tests.procedures.conftest import let_recovery_run
from tests.procedures.identity.conftest import KAGA_RESIDENTS, MINOR, OTHER_CITY, new_wallet

ENCODINGS = ("utf-8", "utf-16-le", "utf-16-be")


def _date_forms(d: date) -> list[str]:
    return [d.isoformat(), f"{d:%Y%m%d}", era_birth_date(d), f"{d.year}年{d.month}月{d.day}日", f"{d:%Y/%m/%d}"]


def _serial_needles(serial: int) -> list[bytes]:
    raw = serial.to_bytes((serial.bit_length() + 7) // 8, "big")
    texts = [format(serial, "x"), format(serial, "X"), format(serial, "032x"), str(serial)]
    return [raw] + [t.encode(enc) for t in texts for enc in ENCODINGS]


def _needles(residents: list[TestResident], cards: list[TestCard], secrets: list[str]) -> dict[str, list[bytes]]:
    texts: dict[str, list[str]] = {}
    for resident in residents:
        texts[f"name of {resident.name}"] = [resident.name, resident.name.replace(" ", ""),
                                             resident.name.replace(" ", "\u3000")]
        texts[f"address of {resident.name}"] = [resident.address]
        texts[f"birth date of {resident.name}"] = _date_forms(resident.birth_date)
    needles = {what: [t.encode(enc) for t in forms for enc in ENCODINGS] for what, forms in texts.items()}
    for card in cards:
        for kind, cert in (("auth", card.auth_cert), ("signing", card.signing_cert)):
            if cert is not None:
                needles[f"{kind} serial of {card.card_id}"] = _serial_needles(cert.serial_number)
    for n, secret in enumerate(secrets):
        needles[f"secret #{n}"] = [secret.encode(), secret.removeprefix("0x").encode()]
    return needles


def _hits(haystack: bytes, needles: dict[str, list[bytes]]) -> list[str]:
    return [what for what, forms in needles.items() if any(form in haystack for form in forms)]


def test_nothing_personal_on_chain_in_logs_or_in_clear_in_the_database(
    api, issue, id_ca, contracts, runtime, caplog
):
    caplog.set_level(logging.DEBUG)
    residents = [*KAGA_RESIDENTS, OTHER_CITY, MINOR]
    cards = [issue(r, pin="2468", signing_password="KAGAPW7731") for r in residents]
    wallets = [new_wallet() for _ in residents]

    for card, wallet in zip(cards, wallets, strict=True):
        assert api.link(card, wallet).status_code == 200
    # recovery with a balance
    send_call(runtime.w3, runtime.keys.topup_minter, contracts.coin.mint_call(wallets[0].address, 7_000))
    recovered = api.recover(cards[0], new_wallet(), wallets[0].address)
    assert recovered.status_code == 200
    let_recovery_run(runtime, recovered.json()["id"])
    # renewal with a renewed card (new serials, J-LIS linkage)
    renewed = id_ca.renew(cards[1])
    cards.append(renewed)
    assert api.renew(renewed, wallets[1]).status_code == 200
    # revocation by the city
    with runtime.sessions() as session, session.begin():
        create_staff(session, runtime.vault, username="ops", password="ops password 12", role="admin")
    token = api.client.post("/v1/auth/staff/token", json={"username": "ops", "password": "ops password 12"}).json()
    revoked = api.client.post("/v1/identity/admin/revoke", params={"wait": "true"},
                              json={"wallet": wallets[2].address, "reason": "deceased"},
                              headers={"Authorization": f"Bearer {token['access_token']}"})
    assert revoked.status_code == 200, revoked.text
    for wallet in wallets[1:2] + wallets[3:]:  # residents look themselves up too (the retired cannot log in)
        api.client.get("/v1/identity/me", headers=api.login(wallet))

    secrets = [runtime.settings.secret_key.get_secret_value(), runtime.settings.relayer_key.get_secret_value(),
               *("0x" + bytes(w.key).hex() for w in wallets), "KAGAPW7731"]
    needles = _needles(residents, cards, secrets)

    # 1. the chain: every transaction input and every log, from genesis to head
    w3 = runtime.w3
    scanned_txs = scanned_logs = 0
    for number in range(w3.eth.block_number + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        for tx in block["transactions"]:
            assert not _hits(bytes(tx["input"]), needles), f"personal data in the input of {tx['hash'].hex()}"
            scanned_txs += 1
            for entry in w3.eth.get_transaction_receipt(tx["hash"])["logs"]:
                blob = bytes(entry["data"]) + b"".join(bytes(t) for t in entry["topics"])
                assert not _hits(blob, needles), f"personal data in a log of {tx['hash'].hex()}"
                scanned_logs += 1
    assert scanned_txs >= 10 and scanned_logs >= 10  # the flows really ran on this chain

    # 2. the logs, as the JSON formatter would write them
    formatter = JsonFormatter()
    lines = "\n".join(formatter.format(record) for record in caplog.records)
    assert "identity linked" in lines and "identity recovery requested" in lines  # the service did log
    assert "ran: wallet" in lines
    assert not _hits(lines.encode(), needles)

    # 3. the database: personal data only inside sealed evidence, nothing readable in the clear
    with runtime.engine.connect() as conn:
        dump = b"".join(
            (bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode())
            for name in inspect(conn).get_table_names()
            for row in conn.execute(select(literal_column("*")).select_from(table_clause(name))).all()
            for value in row
        )
    assert KAGA_RESIDENTS[0].name.encode() not in dump and b"identity-evidence" in dump  # the dump is real
    assert not _hits(dump, {k: v for k, v in needles.items() if not k.startswith("secret")})
