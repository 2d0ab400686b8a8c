"""The Salesforce connector (being built: see docs/salesforce.md when it lands)."""
