"""The counter's drawings: the terminal QR code holds exactly the code's modules; the PDF receipt is a
well-formed PDF whose text is the receipt's lines."""

from __future__ import annotations

import re

from pos.i18n import Texts
from pos.receipts import receipt_lines, receipt_pdf
from protocol.qr import qr_matrix, qr_text

URI = ("ethereum:0x5FbDB2315678afecb367f032d93F642f64180aa3@31337/transfer?"
       "address=0x70997970C51812dc3A010C7d01b50e0d17dc79C8&uint256=1200&req=pr_01JEXAMPLE")
PAID = {"id": "pr_01JEXAMPLE", "amount": 1200, "amount_refunded": 0, "description": "加賀棒茶 2本",
        "paid_at": "2026-12-07T00:41:05+00:00", "payer": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "tx_hash": "0x" + "ab" * 32}


def test_the_terminal_qr_code_draws_every_module_of_the_code():
    lines = qr_text(URI).splitlines()
    matrix = qr_matrix(URI)
    width = len(matrix[0])
    assert all(len(line) == width for line in lines) and len(lines) == (len(matrix) + 1) // 2
    assert width <= 80, "a payment URI fits an 80-column terminal"
    drawn = []  # read the modules back from the half blocks (light drawn as ink, dark as space)
    for line in lines:
        drawn.append([c in (" ", "▄") for c in line])
        drawn.append([c in (" ", "▀") for c in line])
    assert drawn[: len(matrix)] == matrix


def test_receipt_lines_in_japanese_and_english():
    merchant = {"display_name": "加賀棒茶本舗", "id": "mer_1"}
    ja = receipt_lines(Texts("ja"), merchant, PAID)
    assert ja[0].strip() == "領収書"
    assert any(line.startswith("日時") and line.endswith("2026-12-07 09:41 JST") for line in ja)  # city time
    assert any(line.startswith("金額") and line.endswith("1,200 円") for line in ja)
    en = receipt_lines(Texts("en"), merchant, {**PAID, "amount_refunded": 200})
    assert any(line.startswith("Refunded") and line.endswith("¥200") for line in en)
    assert any(line.endswith(PAID["tx_hash"]) for line in en)


def test_the_pdf_receipt_is_a_well_formed_pdf_holding_the_lines():
    lines = receipt_lines(Texts("ja"), {"display_name": "加賀棒茶本舗", "id": "mer_1"}, PAID)
    pdf = receipt_pdf(lines)
    assert pdf.startswith(b"%PDF-1.4\n") and pdf.endswith(b"%%EOF\n")
    startxref = int(re.search(rb"startxref\n(\d+)\n", pdf).group(1))
    assert pdf[startxref:].startswith(b"xref\n0 8\n")
    offsets = [int(o) for o in re.findall(rb"(\d{10}) 00000 n ", pdf[startxref:])]
    assert [pdf[o:o + 8] for o in offsets] == [b"%d 0 obj\n" % n for n in range(1, 8)]
    length = int(re.search(rb"/Length (\d+) >>\nstream\n", pdf).group(1))
    stream = pdf[pdf.index(b"stream\n") + 7:][:length]
    assert pdf[pdf.index(b"stream\n") + 7 + length:].startswith(b"\nendstream")
    shown = [bytes.fromhex(h.decode()).decode("utf-16-be") for h in re.findall(rb"<([0-9A-F]+)> Tj", stream)]
    assert shown == lines
