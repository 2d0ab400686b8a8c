"""The built-in incentive rules, each a plugin that uses only the public hooks."""
