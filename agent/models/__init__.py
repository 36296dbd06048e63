"""The one loader: ``manager`` (ModelManager: lazy, shared, budgeted), ``catalog`` (which
model each tool uses), ``weights`` (where its files are), ``loaders`` (how each family of
model loads) and ``tiny`` (tiny random models for tests and the tiny profile)."""
