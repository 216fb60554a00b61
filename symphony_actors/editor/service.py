"""The editor area's service factory at the conventional path (``symphony_actors.editor.service:build``).

The service is the editor bridge; ``symphony_actors.editor.bridge:build`` is the same factory.
"""

from symphony_actors.editor.bridge import EditorBridge, build

__all__ = ["EditorBridge", "build"]
