"""The built-in incentive rules, each a plugin that uses only the public hooks."""

BUILTIN_PLUGINS = (
    "metrics",
    "scoring",
    "tiers",
    "signing_bonus",
    "baseline",
    "commission",
    "accelerator",
    "milestones",
    "clawbacks",
    "mdf",
    "caps",
    "budget",
    "adjustments",
)
"""The rule modules cosell registers itself, in the order their payout lines come."""
