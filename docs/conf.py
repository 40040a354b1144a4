"""Sphinx configuration of the dicom-inventory documentation site.

Build (warnings are errors; ``tests/test_docs_site.py`` runs the same command)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

autodoc imports the *installed* package ``dicom_inventory`` (``pip install '.[test]'``, editable
or not): the folders of the checkout (``inventory/``, ``scu/`` ...) are not import names, so no
path into the checkout is added here.
"""

from __future__ import annotations

from importlib.metadata import version as _version

project = "dicom-inventory"
author = "the dicom-inventory developers"
copyright = "the dicom-inventory developers"
release = _version("dicom-inventory")
version = release

extensions = [
    "myst_parser",  # the Markdown pages (architecture, user guides, cli.md)
    "sphinx.ext.autodoc",  # the API reference, from the installed package's docstrings
    "numpydoc",  # Parameters / Returns / Raises sections
    "sphinx.ext.extlinks",
    "sphinx_click",  # the CLI reference, from the click commands themselves
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# -- Markdown (MyST) ---------------------------------------------------------------------------
# The pages link sections of each other by heading (``pacs-vendors.md#hardening``).
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# -- API reference -----------------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # numpydoc's sections and the signatures carry the types
autodoc_default_options = {"members": True, "show-inheritance": True}
# numpydoc lists a class's members itself unless told not to; autodoc already documents them,
# and the two together describe every method twice.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# ``:dcm:`` links a section of the standard (highdicom's convention, docs/architecture.md).
extlinks = {
    "dcm": ("https://dicom.nema.org/medical/dicom/current/output/chtml/%s", "%s"),
}

# -- HTML --------------------------------------------------------------------------------------
html_theme = "alabaster"
html_title = f"dicom-inventory {release}"
html_static_path: list[str] = []
