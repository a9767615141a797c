"""Every text a user reads cites the papers by their keys, and every key is on the References page."""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
USER_FACING = ["README.md", "CHANGELOG.md", "CITATION.cff", "docs", "lipconv", "studies", "examples", "benchmarks",
               "paper_figures"]
SUFFIXES = {".py", ".md", ".rst", ".cff", ".txt"}
KEY = re.compile(r"\[([A-Z]{2,5})\]")  # a citation key: two to five capitals in brackets


def _files():
    for entry in USER_FACING:
        path = ROOT / entry
        paths = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for p in paths:
            if p.suffix in SUFFIXES and "_build" not in p.parts and "auto_examples" not in p.parts:
                yield p


def test_no_internal_seed_labels():
    """The team's file labels ("seed 000") mean nothing to a reader: no user-facing file uses them."""
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in _files()
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if re.search(r"\bseeds? 0\d\d\b", line)]
    assert hits == []


@pytest.mark.parametrize("page", ["docs/references.rst", "README.md"])
def test_every_cited_key_is_on_the_references_page(page):
    """A key cited anywhere (e.g. "[FCAO] eq. (2.7)") is defined on the docs' References page and in the README."""
    text = (ROOT / page).read_text(encoding="utf-8")
    defined = set(re.findall(r"^\*{0,2}-? ?\*{0,2}\[([A-Z]{2,5})\]", text, flags=re.M))
    assert {"FCAO", "FOA", "FO", "RKH"} <= defined
    cited = {m.group(1) for p in _files() for m in KEY.finditer(p.read_text(encoding="utf-8"))}
    assert cited <= defined, sorted(cited - defined)
