"""The procedure catalog: one JSON file per procedure type (``<code>.json``), loaded and checked
at start by ``procedures.applications.catalog``. Adding a procedure means adding a file here (or in
the directory ``MACHI_CATALOG_DIR`` points at) — no code. The file format is documented in
``procedures/applications/catalog.py`` (``CATALOG_FILE_SCHEMA``).
"""
