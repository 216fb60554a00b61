"""The extension host: what an extension is and how it is found, installed, resolved and loaded.

Modules (imported on use; this package imports nothing so that sandboxed workers start light):

* ``manifest``: ``extension.toml`` parsing and validation (every problem, with its field)
* ``versions.resolver``: dependency resolution with resolvelib, cycle refusal, conflicts in words
* ``permissions``: the permission grammar, grants, ``AccessGuard``, the JSONL ``AuditLog``,
  ``sandbox_grants`` (what the OS sandbox must allow)
* ``archives``: safe unpacking of .zip/.tar.gz (no traversal, no links, no bombs)
* ``registry``: installed extensions in SQLite under ``<data dir>/extensions``
* ``search``: field-weighted search with prefix and typo tolerance (tantivy, or SQLite FTS5)
* ``inprocess``: import, validate, set up and call an extension in this process
* ``plan``: ``plan_load``, the resolved steps the loader starts as extension actors
* ``service``: the ``ExtensionHost`` service (``build(settings)``) and its client
* ``sandbox``: OS confinement of extension workers (issue 7)
"""
