"""What ships with cosell beside the core: the CRM sandbox and the demo, each adding its command."""

BUILTIN_PLUGINS = ("sandbox.cli", "demo")
"""The modules cosell registers itself: ``cosell sandbox`` and ``cosell demo``."""
