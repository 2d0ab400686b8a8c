"""The HubSpot connector (being built: see docs/hubspot.md when it lands)."""
