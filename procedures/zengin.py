"""Zengin (全銀協) 総合振込 transfer files: what the city hands its bank to pay merchants in yen.

A file is fixed-width 120-byte records in Shift_JIS, names in half-width katakana:

=====  ==========================================================================================
 kind  layout (width in bytes)
=====  ==========================================================================================
 1     header: 区分 1 ``1`` · 種別 2 ``21`` (総合振込) · コード区分 1 ``0`` (JIS) · 依頼人コード 10 ·
       依頼人名 40 · 取組日 4 (MMDD) · 仕向銀行番号 4 · 銀行名 15 · 支店番号 3 · 支店名 15 ·
       預金種目 1 · 口座番号 7 · ダミー 17
 2     data (one per transfer): 区分 1 ``2`` · 被仕向銀行番号 4 · 銀行名 15 · 支店番号 3 · 支店名 15 ·
       手形交換所番号 4 (blank) · 預金種目 1 · 口座番号 7 · 受取人名 30 · 振込金額 10 · 新規コード 1 ·
       顧客コード1 10 · 顧客コード2 10 · 振込指定区分 1 ``7`` (telegraphic) · 識別表示 1 · ダミー 7
 8     trailer: 区分 1 ``8`` · 合計件数 6 · 合計金額 12 · ダミー 101
 9     end: 区分 1 ``9`` · ダミー 119
=====  ==========================================================================================

Numbers are right-aligned and zero-padded, text left-aligned and space-padded. Records end with
CRLF (most banks' upload screens expect it; ``line_breaks=False`` gives the bare 120-byte stream).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from procedures.errors import InvalidRequest

RECORD_LENGTH = 120
ENCODING = "shift_jis"
ACCOUNT_TYPES = {"ordinary": "1", "current": "2", "savings": "4", "other": "9"}

# Half-width katakana (U+FF66..U+FF9D) by their full-width forms, e.g. "カ" → "ｶ".
_HALF_KANA = {unicodedata.normalize("NFKC", chr(c)): chr(c) for c in range(0xFF66, 0xFF9E)}
_SMALL_TO_LARGE = str.maketrans("ｧｨｩｪｫｬｭｮｯ", "ｱｲｳｴｵﾔﾕﾖﾂ")
_MARKS = {"\u3099": "ﾞ", "\u309a": "ﾟ"}
_PUNCTUATION = {"ー": "-", "ｰ": "-", "‐": "-", "−": "-", "・": ".", "「": "｢", "」": "｣", "、": ",", "。": "."}
_ALLOWED = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ ().,-/\\｢｣ﾞﾟ") | {chr(c) for c in range(0xFF66, 0xFF9E)}
_ALLOWED -= set("ｧｨｩｪｫｬｭｮｯｰ")


class ZenginFormatError(InvalidRequest):
    """A value cannot be written into a Zengin record (not representable, or too long)."""

    code = "zengin_format"


def to_zengin_kana(text: str) -> str:
    """Convert a name to the characters a Zengin record accepts.

    Full-width or hiragana kana become half-width katakana (voiced marks split: ガ → ｶﾞ), small
    kana become large ones (ッ → ﾂ, as banks require), Latin letters become upper case, the long
    vowel mark becomes ``-``.

    Raises:
        ZenginFormatError: a character has no Zengin form (kanji, emoji…).
    """
    normalized = unicodedata.normalize("NFKC", text).strip()
    out: list[str] = []
    for char in normalized:
        if "\u3041" <= char <= "\u3096":  # hiragana → katakana
            char = chr(ord(char) + 0x60)
        char = _PUNCTUATION.get(char, char).upper()
        if char in _ALLOWED:
            out.append(char)
            continue
        decomposed = unicodedata.normalize("NFD", char)
        base, marks = decomposed[0], decomposed[1:]
        half = _HALF_KANA.get(base)
        if half is None or any(m not in _MARKS for m in marks):
            raise ZenginFormatError(f"{char!r} cannot be written in a bank transfer name (use katakana)",
                                    param="holder_name_kana")
        out.append(half + "".join(_MARKS[m] for m in marks))
    converted = "".join(out).translate(_SMALL_TO_LARGE)
    if any(c not in _ALLOWED for c in converted):
        raise ZenginFormatError("the name has characters a bank transfer cannot carry", param="holder_name_kana")
    return converted


def _text(value: str, width: int, what: str) -> str:
    converted = to_zengin_kana(value)
    if len(converted) > width:
        raise ZenginFormatError(f"{what} is {len(converted)} characters in half-width kana; at most {width} fit",
                                param=what)
    return converted.ljust(width)


def _number(value: int | str, width: int, what: str) -> str:
    digits = str(value)
    if not digits.isdigit() or len(digits) > width:
        raise ZenginFormatError(f"{what} must be at most {width} digits", param=what)
    return digits.zfill(width)


@dataclass(frozen=True)
class Originator:
    """The city's own account (依頼人) at its bank."""

    code: str
    name: str
    bank_code: str
    bank_name: str
    branch_code: str
    branch_name: str
    account_type: str
    account_number: str


@dataclass(frozen=True)
class TransferLine:
    """One transfer (data record).

    Attributes:
        account_type: Zengin 預金種目 digit (``ACCOUNT_TYPES`` values).
        holder: 受取人名 (converted with ``to_zengin_kana``; at most 30 half-width characters).
        amount: yen.
        customer_code1/2: 顧客コード (we put the payout's number in code 1, digits only).
    """

    bank_code: str
    bank_name: str
    branch_code: str
    branch_name: str
    account_type: str
    account_number: str
    holder: str
    amount: int
    customer_code1: str = ""
    customer_code2: str = ""


def header_record(originator: Originator, transfer_date: date) -> str:
    """The header (データ区分 1) for 総合振込."""
    record = (
        "1" + "21" + "0"
        + _number(originator.code, 10, "originator_code")
        + _text(originator.name, 40, "originator_name")
        + transfer_date.strftime("%m%d")
        + _number(originator.bank_code, 4, "bank_code")
        + _text(originator.bank_name, 15, "bank_name")
        + _number(originator.branch_code, 3, "branch_code")
        + _text(originator.branch_name, 15, "branch_name")
        + _number(originator.account_type, 1, "account_type")
        + _number(originator.account_number, 7, "account_number")
        + " " * 17
    )
    return record


def data_record(line: TransferLine) -> str:
    """One data record (データ区分 2)."""
    if line.amount <= 0:
        raise ZenginFormatError("a transfer amount must be positive", param="amount")
    return (
        "2"
        + _number(line.bank_code, 4, "bank_code")
        + _text(line.bank_name, 15, "bank_name")
        + _number(line.branch_code, 3, "branch_code")
        + _text(line.branch_name, 15, "branch_name")
        + " " * 4  # 手形交換所番号: not used for transfers
        + _number(line.account_type, 1, "account_type")
        + _number(line.account_number, 7, "account_number")
        + _text(line.holder, 30, "holder_name_kana")
        + _number(line.amount, 10, "amount")
        + "0"  # 新規コード: 0 = other than first/changed (banks ignore it for transfers)
        + (_number(line.customer_code1, 10, "customer_code1") if line.customer_code1 else " " * 10)
        + (_number(line.customer_code2, 10, "customer_code2") if line.customer_code2 else " " * 10)
        + "7"  # 振込指定区分: telegraphic transfer
        + " "  # 識別表示: no EDI information
        + " " * 7
    )


def trailer_record(count: int, total: int) -> str:
    """The trailer (データ区分 8): number of data records and the sum of their amounts."""
    return "8" + _number(count, 6, "count") + _number(total, 12, "total") + " " * 101


def end_record() -> str:
    """The end record (データ区分 9)."""
    return "9" + " " * 119


def build_transfer_file(
    originator: Originator, transfer_date: date, lines: Sequence[TransferLine], *, line_breaks: bool = True
) -> bytes:
    """The whole 総合振込 file, Shift_JIS encoded.

    Raises:
        ZenginFormatError: a value does not fit its field (the file is never half-written).
    """
    records = [header_record(originator, transfer_date)]
    records += [data_record(line) for line in lines]
    records += [trailer_record(len(lines), sum(line.amount for line in lines)), end_record()]
    encoded = []
    for record in records:
        raw = record.encode(ENCODING)
        if len(raw) != RECORD_LENGTH:  # every character is one byte in JIS X 0201; guard anyway
            raise ZenginFormatError(f"a record came out {len(raw)} bytes long, not {RECORD_LENGTH}")
        encoded.append(raw)
    return (b"\r\n" if line_breaks else b"").join(encoded) + (b"\r\n" if line_breaks else b"")
