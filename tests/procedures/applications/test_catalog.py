"""The catalog is data: six shipped procedures, a seventh added as a file, malformed files refused."""

from __future__ import annotations

import json
import shutil

import pytest

from procedures.applications.catalog import SHIPPED, Catalog, CatalogError, parse_entry
from tests.procedures.applications.conftest import FORMS


def _entry(**change):
    data = json.loads((SHIPPED / "snow-removal.json").read_text(encoding="utf-8"))
    data.update(change)
    return data


def test_the_shipped_catalog():
    catalog = Catalog.load()
    assert sorted(p.code for p in catalog) == sorted(FORMS)
    certificate = catalog.get("residence-certificate")
    assert certificate.fee == 300 and certificate.fee_for({"copies": 3}) == 900
    assert catalog.get("childcare-benefit").benefit == 30_000
    assert catalog.get("road-damage").attachments.min == 1
    for procedure in catalog:
        assert procedure.title["ja"] and procedure.title["en"] and procedure.retention_years >= 1


@pytest.mark.parametrize("change,problem", [
    ({"code": "Snow Removal"}, "does not match"),
    ({"assurance_level": 3}, "assurance_level"),
    ({"fee": -1}, "fee"),
    ({"form": {"type": "object", "properties": {"x": {"type": "strin"}}}}, "not a valid JSON Schema"),
    ({"form": {"type": "object", "properties": {"x": {"type": "string"}}}}, "x-titles"),
    ({"fee_per": "description"}, "not an integer form field"),
    ({"inside_city": [{"lat": "/latitude", "long": "/long"}]}, "names no form field"),
    ({"attachments": {"min": 3, "max": 1, "max_bytes": 10, "types": []}}, "exceeds"),
    ({"surprise": True}, "Additional properties"),
    ({"form": {"type": "object", "properties": {"x": {"type": "string", "enum": ["a", "b"],
                                                      "x-titles": {"ja": "エックス", "en": "X"},
                                                      "x-enum-titles": {"a": {"ja": "あ", "en": "A"}}}}}},
     "x-enum-titles.* for \"b\""),
    ({"form": {"type": "object", "properties": {"x": {"oneOf": [{"const": 1}],
                                                      "x-titles": {"ja": "エックス", "en": "X"}}}}},
     "option 1 needs"),
])
def test_malformed_entries_are_refused_at_load(change, problem):
    with pytest.raises(CatalogError, match=problem):
        parse_entry(_entry(**change), "snow-removal.json")


SEVENTH = {
    "code": "dog-registration", "version": 1, "title": {"ja": "犬の登録", "en": "Dog registration"},
    "assurance_level": 1, "fee": 0, "benefit": 0, "department": "environment", "deadline_days": 10,
    "retention_years": 15, "attachments": {"min": 0, "max": 0, "max_bytes": 0, "types": []},
    "form": {"type": "object", "required": ["dog_name"], "additionalProperties": False, "properties": {
        "dog_name": {"type": "string", "minLength": 1, "x-titles": {"ja": "犬の名前", "en": "Dog's name"}}}},
}


@pytest.fixture
def settings(settings, tmp_path):
    """The shipped catalog plus a seventh procedure, as a city would add it: one more file."""
    directory = tmp_path / "catalog"
    shutil.copytree(SHIPPED, directory, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (directory / "dog-registration.json").write_text(json.dumps(SEVENTH, ensure_ascii=False), encoding="utf-8")
    return settings.model_copy(update={"applications_catalog_dir": directory})


def test_a_seventh_procedure_needs_no_code(client, filer, make_resident, settings):
    assert len(Catalog.load(settings.applications_catalog_dir)) == 7
    alice = make_resident()
    assert "dog-registration" in [p["code"] for p in client.get("/v1/procedures").json()["data"]]
    response = filer.submit(alice, "dog-registration", form={"dog_name": "ポチ"}, attachments=[])
    assert response.status_code == 201, response.text
    assert response.json()["department"] == "environment"
    bad = filer.submit(alice, "dog-registration", form={"dog_name": ""}, attachments=[])
    assert bad.status_code == 422 and bad.json()["error"]["param"] == "form.dog_name"


def test_file_name_must_match_the_code(tmp_path):
    (tmp_path / "snow.json").write_text(json.dumps(_entry()), encoding="utf-8")
    with pytest.raises(CatalogError, match="named after its code"):
        Catalog.load(tmp_path)


def test_every_choice_has_titles_and_every_department_a_name():
    catalog = Catalog.load()
    for procedure in catalog:
        assert catalog.department_name(procedure.department, "ja") != procedure.department
        assert catalog.department_name(procedure.department, "en") != procedure.department
    assert catalog.department_name("child-welfare", "ja") == "子育て支援課"
    assert catalog.department_name("kosodate", "ja") == "kosodate"  # a staff department no procedure uses


def test_a_department_without_a_name_is_refused(tmp_path):
    (tmp_path / "snow-removal.json").write_text(json.dumps(_entry(department="snow-office")), encoding="utf-8")
    shutil.copy(SHIPPED / "_departments.json", tmp_path / "_departments.json")
    with pytest.raises(CatalogError, match="'snow-office' has no name in _departments.json"):
        Catalog.load(tmp_path)
