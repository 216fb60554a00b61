"""The editor: a separate process holding text buffers, and the bridge service that owns it.

Modules (nothing is imported here, so the editor process starts light):

* ``server``: the ``symphony-editor`` program (``python -m symphony_actors.editor``), JSON-RPC 2.0 over
  stdin/stdout, one message per line; ``core``: its buffers, views and methods; ``buffer``, ``rope``: the
  text model (revisions, undo, line endings, files); ``jsonrpc``: framing and error codes.
* ``bridge``: the ``editor`` service (``build(settings)``), implementing
  :class:`~symphony_actors.ports.text_editing.TextEditingPort` over the process, with health pings,
  restarts and resynchronisation (``journal``, ``process``); ``client``: ``TextEditingClient``.

The protocol is in ``docs/editor-protocol.md``.
"""
