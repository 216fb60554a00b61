"""``python -m symphony_actors.editor``: the same program as ``symphony-editor``."""

import sys

from symphony_actors.editor.server import main

sys.exit(main())
