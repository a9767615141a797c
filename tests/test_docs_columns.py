"""The guides' lists of sweep columns come from the code: a guide cannot name a column the code lacks."""
from __future__ import annotations

import builtins
import dataclasses
import importlib.util
import pathlib
import re

import pytest

import lipconv.manifolds
from lipconv.losses import LOSSES
from lipconv.rates import COLUMNS, LABELS, METHOD_RUNNERS, SETTING_COLUMNS, SweepConfig
from lipconv.rates._sweep import KEY_COLUMNS

ROOT = pathlib.Path(__file__).resolve().parents[1]
GUIDES = ["docs/user_guide/dask.rst", "docs/user_guide/study.rst"]


def _substitutions():
    spec = importlib.util.spec_from_file_location("_substitutions", ROOT / "docs" / "_substitutions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    prolog = module.rst_prolog()
    return {name: tuple(re.findall(r"``([^`]+)``", text))
            for name, text in re.findall(r"^\.\. \|(\w+)\| replace:: (.*)$", prolog, flags=re.M)}


def test_the_substitutions_are_the_codes_lists():
    assert _substitutions() == {"KEY_COLUMNS": KEY_COLUMNS, "SETTING_COLUMNS": SETTING_COLUMNS}


@pytest.mark.parametrize("guide", GUIDES)
def test_the_guides_list_the_columns_through_the_code(guide):
    """Each guide states the key and setting columns through the generated lists, uses no
    substitution the build does not define, and every name it writes as a literal is something the
    code has: a column, a SweepConfig setting, a loss, a label, a method, a manifold or an exception."""
    text = (ROOT / guide).read_text(encoding="utf-8")
    assert "|KEY_COLUMNS|" in text and "|SETTING_COLUMNS|" in text
    assert set(re.findall(r"\|([A-Z_]+)\|", text)) <= set(_substitutions())
    known = (set(COLUMNS) | {f.name for f in dataclasses.fields(SweepConfig)} | set(LOSSES) | set(LABELS) | set(METHOD_RUNNERS)
             | set(lipconv.manifolds.__all__) | {n for n in dir(builtins) if n.endswith("Error")})
    names = set(re.findall(r"``([A-Za-z_][A-Za-z0-9_]*)``", text))
    assert names - known == set()
