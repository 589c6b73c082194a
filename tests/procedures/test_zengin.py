"""The Zengin (全銀) transfer file format, without a chain: records byte by byte, kana conversion,
values that do not fit."""

from __future__ import annotations

from datetime import date

import pytest

from procedures import zengin

ORIGIN = zengin.Originator(code="1234567890", name="ｶｶﾞｼ", bank_code="0146", bank_name="ﾎﾂｺｸ", branch_code="001",
                           branch_name="ﾎﾝﾃﾝ", account_type="1", account_number="7777777")


def test_zengin_file_structure_without_line_breaks():
    lines = [zengin.TransferLine("0001", "ﾐｽﾞﾎ", "001", "", "1", "0000001", "ﾃｽﾄ ﾀﾛｳ", 1),
             zengin.TransferLine("0005", "", "123", "ｼﾌﾞﾔ", "4", "0000002", "ﾃｽﾄ ﾊﾅｺ", 9_999_999_999)]
    content = zengin.build_transfer_file(ORIGIN, date(2026, 3, 31), lines, line_breaks=False)
    assert len(content) == 5 * 120
    records = [content[i:i + 120] for i in range(0, len(content), 120)]
    assert [r[:1] for r in records] == [b"1", b"2", b"2", b"8", b"9"]
    assert records[0][54:58] == b"0331" and records[0][4:14] == b"1234567890"
    assert records[2][80:90] == b"9999999999"
    assert records[3][1:7] == b"000002" and records[3][7:19] == b"010000000000"


@pytest.mark.parametrize("text,expected", [
    ("ヤマダ　タロウ", "ﾔﾏﾀﾞ ﾀﾛｳ"), ("がっこう", "ｶﾞﾂｺｳ"), ("ｶﾌﾞｼｷｶﾞｲｼｬ ﾊﾟﾝ", "ｶﾌﾞｼｷｶﾞｲｼﾔ ﾊﾟﾝ"),
    ("ヴィーナス", "ｳﾞｲ-ﾅｽ"), ("abc（ｶ", "ABC(ｶ"), ("ＡＢＣ１２３", "ABC123"),
])
def test_kana_conversion(text, expected):
    assert zengin.to_zengin_kana(text) == expected


def test_values_that_do_not_fit_are_refused():
    with pytest.raises(zengin.ZenginFormatError):
        zengin.to_zengin_kana("山田太郎")
    with pytest.raises(zengin.ZenginFormatError):
        zengin.data_record(zengin.TransferLine("0001", "", "001", "", "1", "1", "ｱ" * 31, 1))
    with pytest.raises(zengin.ZenginFormatError):
        zengin.data_record(zengin.TransferLine("0001", "", "001", "", "1", "1", "ｱ", 10_000_000_000))
    with pytest.raises(zengin.ZenginFormatError):
        zengin.data_record(zengin.TransferLine("0001", "", "001", "", "1", "1", "ｱ", 0))
