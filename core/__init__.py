"""cosell: partner-incentive logic inside the CRM you already run."""

from .hookspecs import hookimpl

__all__ = ["hookimpl"]
