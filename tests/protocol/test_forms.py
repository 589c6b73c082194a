"""Answers as a person reads them: labels and values from the form's JSON Schema, in ja and en."""

from __future__ import annotations

from procedures.applications.catalog import Catalog
from protocol.forms import choices, form_rows, shown_value

SCHEMA = {
    "type": "object",
    "properties": {
        "size": {"type": "string", "x-titles": {"ja": "大きさ", "en": "Size"},
                 "oneOf": [{"const": "s", "x-titles": {"ja": "小", "en": "Small"}},
                           {"const": "l", "title": "Large"}]},
        "kind": {"type": "string", "enum": ["dog", "cat"], "title": "Kind",
                 "x-enum-titles": {"dog": {"ja": "犬", "en": "Dog"}}},
        "ok": {"type": "boolean", "x-titles": {"ja": "同意する", "en": "I agree"}},
        "pets": {"type": "array", "x-titles": {"ja": "ペット", "en": "Pets"},
                 "items": {"type": "object", "properties": {
                     "name": {"type": "string", "x-titles": {"ja": "名前", "en": "Name"}}}}},
    },
}


def _flat(rows):
    return [(r.label, r.text if not r.groups else [_flat(g) for g in r.groups]) for r in rows]


def test_labels_and_values_come_from_the_schema():
    form = {"pets": [{"name": "ポチ"}, {"name": "タマ"}], "ok": True, "kind": "cat", "size": "s"}
    assert _flat(form_rows(SCHEMA, form, "ja")) == [
        ("大きさ", "小"), ("Kind", "cat"), ("同意する", "はい"),
        ("ペット", [[("名前", "ポチ")], [("名前", "タマ")]])]
    assert _flat(form_rows(SCHEMA, {"ok": False, "kind": "dog", "size": "l"}, "en")) == [
        ("Size", "Large"), ("Kind", "Dog"), ("I agree", "No")]
    assert choices(SCHEMA["properties"]["size"], "en") == [("s", "Small"), ("l", "Large")]


def test_an_answer_the_schema_does_not_know_keeps_its_own_words():
    assert _flat(form_rows(SCHEMA, {"legacy": 3}, "ja")) == [("legacy", "3")]
    assert shown_value({}, None, "ja") == ""


def test_the_shipped_childcare_form_in_both_languages():
    form = Catalog.load().get("childcare-benefit").form
    answers = {"child_name": "加賀 花子", "child_birth_date": "2019-07-07", "relationship": "parent",
               "lives_with_child": True}
    assert _flat(form_rows(form, answers, "ja")) == [
        ("子の氏名", "加賀 花子"), ("子の生年月日", "2019-07-07"), ("子との続柄", "父母"), ("子と同居している", "はい")]
    assert _flat(form_rows(form, answers, "en"))[2:] == [("Relationship to the child", "Parent"),
                                                          ("I live with the child", "Yes")]
