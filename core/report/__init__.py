"""The program report (``cosell report``): the quarterly review's page and data, from the ledger alone.

``facts`` is what a run records for it; ``model`` reads the periods from the ledger and computes every
figure; ``charts`` draws the charts; ``render`` writes the JSON, CSV and HTML forms.
"""

from .facts import CampaignFunds, GuardedDeal, ReportFacts

__all__ = ["CampaignFunds", "GuardedDeal", "ReportFacts"]
