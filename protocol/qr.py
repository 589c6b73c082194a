"""QR codes drawn in a terminal, for the programs at either end of a payment (``machi-pos`` shows a payment
request's code to the resident; ``machi-wallet`` can show what it signed).

Two modules of the code share one character cell (Unicode half blocks ▀ ▄ █), so a payment URI fits an
80-column terminal. Dark modules are drawn as spaces on a light background: the light quiet zone around the
code is what phone scanners need, whatever the terminal's own colours. ``qrcode`` is the same library the
service draws its PNG and SVG codes with.
"""

from __future__ import annotations

import qrcode

__all__ = ["qr_matrix", "qr_text"]

#: (upper module dark, lower module dark) → the character, light modules drawn as the block
_CELLS = {(False, False): "█", (True, False): "▄", (False, True): "▀", (True, True): " "}


def qr_matrix(data: str, border: int = 2) -> list[list[bool]]:
    """The QR code of ``data`` (error correction M) as rows of modules, ``True`` = dark, with a quiet zone of
    ``border`` modules."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=border)
    code.add_data(data)
    code.make(fit=True)
    return [[bool(module) for module in row] for row in code.get_matrix()]


def qr_text(data: str, border: int = 2) -> str:
    """The QR code of ``data`` as lines of half-block characters (one line per two rows of modules)."""
    matrix = qr_matrix(data, border)
    if len(matrix) % 2:
        matrix.append([False] * len(matrix[0]))
    lines = []
    for upper, lower in zip(matrix[0::2], matrix[1::2], strict=True):
        lines.append("".join(_CELLS[(top, bottom)] for top, bottom in zip(upper, lower, strict=True)))
    return "\n".join(lines)
