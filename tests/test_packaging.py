"""pyproject.toml in the shape current setuptools builds without a deprecation warning."""

from __future__ import annotations

import tomllib

from chain.toolchain import PROJECT_ROOT


def test_the_license_is_an_spdx_expression_for_setuptools_77_or_later():
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    # a TOML table ({text = "MIT"}) makes setuptools >= 77 warn on every `pip install`
    assert project["project"]["license"] == "MIT"
    assert "setuptools>=77" in project["build-system"]["requires"]
