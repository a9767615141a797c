"""Sphinx configuration of the lipconv documentation.

Build (warnings are errors; the gallery's examples are executed)::

    pip install torch==2.13.0 && pip install -e ".[docs]" && python -m sphinx -W -b html docs docs/_build/html
"""
from __future__ import annotations

import inspect
import os
import shutil
import sys

import lipconv

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _substitutions import rst_prolog as _rst_prolog  # noqa: E402

project = "lipconv"
author = "the lipconv developers"
copyright = "the lipconv developers"
version = release = lipconv.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build"]
default_role = "code"
# Lists of the code's names that the text uses (|SETTING_COLUMNS|, ...): built from the code at
# every build, so a guide cannot name a column the code does not record (docs/_substitutions.py).
rst_prolog = _rst_prolog()

# Every build starts from the sources alone. autosummary writes one stub per public name under
# api/generated/ and never deletes one, and sphinx-gallery keeps the pages of removed examples: a
# page left by a name dropped from an __all__, or by a deleted example, would be outside every
# toctree (a warning, so an error under -W). And an example must run against the library as it is
# now, not be skipped because its own file did not change (see run_stale_examples below).
_HERE = os.path.dirname(os.path.abspath(__file__))
for _generated in ("api/generated", "auto_examples", "gen_modules"):
    shutil.rmtree(os.path.join(_HERE, _generated), ignore_errors=True)

# API reference: one page per public package, listing exactly its ``__all__``.
autosummary_generate = True
autosummary_ignore_module_all = False
autodoc_typehints = "none"
autodoc_member_order = "bysource"

# The docstrings are numpydoc; their Attributes sections document dataclass fields, so numpydoc
# does not add its own member tables (they would list each field a second time).
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

html_theme = "furo"
html_title = f"lipconv {release}"

# The gallery: every examples/plot_*.py is executed at build time and its figures embedded.
sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "run_stale_examples": True,
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("lipconv",),
    "backreferences_dir": "gen_modules/backreferences",
    "min_reported_time": 0,
    "remove_config_comments": True,
}


def _drop_inherited_builtin_docstrings(app, what, name, obj, options, lines):
    """A constant such as ``METHODS`` (a tuple) has no docstring of its own; autodoc would show
    its type's (``tuple.__doc__``). Show only the value."""
    if what in ("data", "attribute") and not inspect.isroutine(obj) and not inspect.isclass(obj):
        own = inspect.getdoc(type(obj)) or ""
        if lines and "\n".join(lines).strip() == own.strip():
            lines.clear()


def _skip_scikit_learn_members(app, what, name, obj, skip, options):
    """The estimators of :mod:`lipconv.sklearn` inherit scikit-learn's API methods (``get_params``,
    ``score``, ``set_fit_request``, ...), whose docstrings cite scikit-learn's own glossary and
    labels; their pages show lipconv's methods only."""
    if what == "class" and (getattr(obj, "__module__", None) or "").startswith("sklearn."):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_scikit_learn_members)
    # Before numpydoc (priority 500) rewrites the lines.
    app.connect("autodoc-process-docstring", _drop_inherited_builtin_docstrings, priority=100)
