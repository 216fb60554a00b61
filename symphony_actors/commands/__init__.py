"""Command groups of the ``symphony`` CLI; each module defines ``register(subparsers)``."""
