"""The counter's receipt: text for the terminal (or a receipt printer fed by it), and a one-page PDF.

The PDF is written by hand — seven objects — rather than with a PDF library: its text uses the PDF
standard's non-embedded Japanese font (HeiseiKakuGo-W5 in ``UniJIS-UCS2-HW-H``: ASCII half width, so the
columns line up), which every PDF reader supplies, so the file stays small and needs no font here.
"""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len

from pos.i18n import Texts
from protocol.citytime import city_clock

__all__ = ["receipt_lines", "receipt_pdf"]


def receipt_lines(texts: Texts, merchant: dict[str, Any], request: dict[str, Any], paid_with: str | None = None,
                  width: int = 42) -> list[str]:
    """The receipt of a paid request, as lines of at most ``width`` cells (labels aligned)."""
    rows = [("receipt_store", merchant["display_name"]), ("receipt_date", city_clock().show(request["paid_at"]))]
    if request.get("description"):
        rows.append(("receipt_item", request["description"]))
    rows.append(("receipt_amount", texts("yen", amount=f"{request['amount']:,}")))
    if request.get("amount_refunded"):
        rows.append(("receipt_refunded", texts("yen", amount=f"{request['amount_refunded']:,}")))
    rows += [("receipt_paid_with", paid_with or texts("receipt_currency")), ("receipt_number", request["id"])]
    if request.get("payer"):
        rows.append(("receipt_payer", request["payer"]))
    if request.get("tx_hash"):
        rows.append(("receipt_tx", request["tx_hash"]))
    labels = [(texts(key), value) for key, value in rows]
    label_width = max(cell_len(label) for label, _ in labels) + 2
    title = texts("receipt_title")
    lines = [" " * max(0, (width - cell_len(title)) // 2) + title, "-" * width]
    for label, value in labels:
        lines.append(label + " " * (label_width - cell_len(label)) + str(value))
    lines.append("-" * width)
    return lines


# --------------------------------------------------------------------------- PDF
def _text(value: str) -> str:
    """A PDF string in the font's encoding (UCS-2 big endian, hex); characters beyond it become '?'."""
    return "<" + "".join(f"{ord(c) if ord(c) < 0x10000 else 0x3F:04X}" for c in value) + ">"


def receipt_pdf(lines: list[str]) -> bytes:
    """A one-page PDF (80 mm wide, as tall as the receipt) holding ``lines`` in a monospaced Japanese font."""
    size, leading, margin = 8, 11, 14
    width, height = 227, margin * 2 + leading * len(lines)
    content = ["BT", f"/F1 {size} Tf", f"{leading} TL", f"{margin} {height - margin - size} Td"]
    for line in lines:
        content.append(f"{_text(line)} Tj T*")
    content.append("ET")
    stream = "\n".join(content).encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] /Resources << /Font << /F1 4 0 R >> >> "
        f"/Contents 6 0 R >>".encode("ascii"),
        b"<< /Type /Font /Subtype /Type0 /BaseFont /HeiseiKakuGo-W5 /Encoding /UniJIS-UCS2-HW-H "
        b"/DescendantFonts [5 0 R] >>",
        b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /HeiseiKakuGo-W5 "
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (Japan1) /Supplement 2 >> "
        b"/FontDescriptor 7 0 R /DW 1000 /W [1 [500] 2 95 500 231 632 500] >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /FontDescriptor /FontName /HeiseiKakuGo-W5 /Flags 4 /FontBBox [-92 -250 1010 922] "
        b"/ItalicAngle 0 /Ascent 752 /Descent -221 /CapHeight 737 /StemV 58 >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
