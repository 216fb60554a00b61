"""``python -m symphony_actors.gateway``: the gateway server process (see server.py)."""

import sys

from symphony_actors.gateway.server import main

sys.exit(main())
