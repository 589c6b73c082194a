"""My Number detection: find it anywhere, refuse it, and do not cry wolf."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from procedures.identity.errors import MyNumberRefused
from procedures.identity.mynumber import (
    check_digit,
    contains_my_number,
    find_my_number_paths,
    find_my_number_spans,
    is_valid_my_number,
    redact_my_numbers,
    refuse_my_number,
)

# Worked by hand from the statutory formula (not from the implementation):
# digits 1 2 3 4 5 6 7 8 9 0 1, P(n) from the right = 1,0,9,8,7,6,5,4,3,2,1,
# Q(n) = 2,3,4,5,6,7,2,3,4,5,6 → Σ = 2+0+36+40+42+42+10+12+12+10+6 = 212;
# 212 mod 11 = 3 → check digit 11 − 3 = 8.
VALID = "123456789018"
# 0 0 0 0 0 0 0 0 0 0 1: Σ = 1·2 = 2 → 11 − 2 = 9.
VALID_2 = "000000000019"
# 9 × 11: Σ = 9·(2+3+4+5+6+7+2+3+4+5+6) = 9·47 = 423; 423 mod 11 = 5 → 6.
VALID_3 = "999999999996"


def test_check_digit_worked_examples():
    assert check_digit("12345678901") == 8
    assert check_digit("00000000001") == 9
    assert check_digit("99999999999") == 6
    # remainder 0 or 1 gives check digit 0: Σ = 0 → r = 0 → 0
    assert check_digit("00000000000") == 0
    # "00000000060": P(2) = 6, Q(2) = 3 → Σ = 18 → r = 7 → 4
    assert check_digit("00000000060") == 4
    # "10000000000": P(11) = 1, Q(11) = 6 → Σ = 6 → r = 6 → 5
    assert check_digit("10000000000") == 5
    # "00000600000": P(6)=6, Q(6)=7 → 42 → r=9 → 2
    assert check_digit("00000600000") == 2
    # "00000000006": P(1)=6, Q(1)=2 → 12 → r=1 → 0
    assert check_digit("00000000006") == 0


@pytest.mark.parametrize("number", [VALID, VALID_2, VALID_3])
def test_valid_numbers(number):
    assert is_valid_my_number(number)
    assert contains_my_number(number)


@pytest.mark.parametrize(
    "text",
    [
        "123456789017",  # wrong check digit
        "123456789019",
        "1234567890180",  # 13 digits (e.g. a corporate number)
        "91234567890189",  # our 12 inside a longer run
        "1234-5678-9018-1234",  # 4-4-4-4: a card number, not a My Number
        "1234 5678 9018 1234",
        "12345678901",  # 11 digits
        "tel 0761-72-1111",
        "12,345,678,901,8",
        "1234.5678.9018",  # dots are not separators
    ],
)
def test_not_a_my_number(text):
    assert find_my_number_spans(text) == []
    assert not contains_my_number({"note": text})


@pytest.mark.parametrize(
    "text",
    [
        "123456789018",
        "My Number: 123456789018.",
        "番号は1234 5678 9018です",
        "1234-5678-9018",
        "1234 - 5678 - 9018",
        "１２３４５６７８９０１８",  # full-width
        "１２３４－５６７８－９０１８",  # full-width hyphens
        "1234\u30005678\u30009018",  # ideographic spaces
        "1234ー5678ー9018",  # long-vowel mark typed as a hyphen
        "ID123456789018X",  # letters are not digits
        "call 0761-72-1111 or see 123456789018",
    ],
)
def test_my_number_is_found(text):
    assert find_my_number_spans(text), text
    with pytest.raises(MyNumberRefused) as exc:
        refuse_my_number(text)
    assert exc.value.code == "my_number_refused"


def test_found_in_nested_json_with_paths_and_without_echoing_it():
    payload = json.loads(
        """
        {"applicant": {"name": "加賀 花子",
                       "notes": ["moving in", {"memo": "番号 1234-5678-9018"}]},
         "id": 123456789018,
         "amount": 123456789017,
         "ok": true,
         "score": 123456789018.0}
        """
    )
    assert find_my_number_paths(payload) == ["$.applicant.notes[1].memo", "$.id", "$.score"]
    with pytest.raises(MyNumberRefused) as exc:
        refuse_my_number(payload)
    assert exc.value.details["paths"] == ["$.applicant.notes[1].memo", "$.id", "$.score"]
    assert VALID not in exc.value.message and "9018" not in exc.value.message


def test_keys_are_scanned_but_never_echoed():
    paths = find_my_number_paths({"outer": {VALID: "x"}})
    assert paths == ["$.outer[…]<key>"]
    assert VALID not in str(paths)


def test_bytes_tuples_and_model_dump():
    class Model:
        def model_dump(self) -> dict[str, object]:
            return {"field": ("a", b"1234 5678 9018")}

    assert find_my_number_paths(Model()) == ["$.field[1]"]


def test_clean_input_passes():
    refuse_my_number(
        {"name": "加賀 花子", "phone": "0761-72-1111", "amount": 1500, "flag": True, "none": None}
    )


def test_redaction():
    assert redact_my_numbers("a 1234 5678 9018 b 123456789017") == "a [REDACTED] b 123456789017"


@given(st.text(alphabet="0123456789", min_size=11, max_size=11), st.sampled_from(["", " ", "-"]),
       st.text(alphabet="abc, ", max_size=5), st.text(alphabet="xyz. ", max_size=5))
def test_any_valid_number_is_detected_and_any_other_check_digit_is_not(first11, sep, before, after):
    good = first11 + str(check_digit(first11))
    text = before + sep.join([good[:4], good[4:8], good[8:]]) + after
    assert contains_my_number(text)
    for wrong in set("0123456789") - {good[-1]}:
        bad = first11 + wrong
        assert not contains_my_number(before + sep.join([bad[:4], bad[4:8], bad[8:]]) + after)


@given(st.text(alphabet="0123456789", min_size=13, max_size=20))
def test_longer_digit_runs_are_never_my_numbers(digits):
    assert not contains_my_number(digits)
