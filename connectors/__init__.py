"""The built-in connectors, each a plugin: ``files`` (CSV), ``salesforce`` and ``hubspot``."""

BUILTIN_PLUGINS = ("files", "salesforce", "hubspot")
"""The connector packages cosell registers itself."""
