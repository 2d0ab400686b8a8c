"""The ``nps`` metric and the ``nps_bonus`` payout line.

The score comes from a partner attribute (a column of ``partners.csv``, or a CRM field the connector
maps into the partner's attributes). Configure it in the program file:

    scoring:
      metrics:
        nps: {weight: 1, target: 50}
    plugins:
      nps: {attribute: nps, bonus_threshold: 60, bonus: 750}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from cosell import hookimpl
from cosell.context import PartnerFacts, RunContext
from cosell.money import parse_decimal, round_cents, show, show_number
from cosell.results import LineKind, MetricDefinition, PartnerStanding, PayoutLine

METRIC = "nps"
KIND = "nps_bonus"


class NpsSettings(BaseModel):
    """The ``plugins: nps:`` entry of a program file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attribute: str = Field(
        default="nps",
        validation_alias=AliasChoices(
            "attribute", "field"
        ),  # `field`: the CRM field's name, as some write it
        description="the partner attribute (or CRM field mapped into the attributes) holding the score (-100 to 100)",
    )
    bonus_threshold: Decimal | None = Field(
        default=None, ge=-100, le=100, description="pay the bonus at or above this NPS"
    )
    bonus: Decimal = Field(default=Decimal(0), ge=0, description="the bonus, in the program currency")


@hookimpl
def cosell_plugin_settings() -> tuple[str, type[BaseModel]]:
    return (METRIC, NpsSettings)


@hookimpl
def cosell_metric_definitions() -> Iterable[MetricDefinition]:
    return [MetricDefinition(METRIC, "net promoter score of the partner's customers, -100 to 100")]


def partner_nps(partner: PartnerFacts, settings: NpsSettings) -> Decimal | None:
    """The partner's NPS, or None when the attribute is missing or not a number in range."""
    raw = partner.partner.attributes.get(settings.attribute)
    if raw is None or not raw.strip():
        return None
    try:
        value = parse_decimal(raw.strip())  # ASCII digits only: Decimal() would read '٧٠' as 70
    except ValueError:
        return None
    return value if -100 <= value <= 100 else None


@hookimpl
def cosell_line_kinds() -> Iterable[LineKind]:
    # A bonus like any other: inside the per-partner cap and the program budget, not tied to a deal.
    return [LineKind(KIND, "NPS bonus", description="paid when the partner's NPS reaches the threshold")]


@hookimpl
def cosell_metrics(partner: PartnerFacts, context: RunContext) -> Mapping[str, Decimal | None]:
    return {METRIC: partner_nps(partner, context.setting(METRIC, NpsSettings) or NpsSettings())}


@hookimpl
def cosell_payout_lines(
    partner: PartnerFacts, standing: PartnerStanding, context: RunContext
) -> Iterable[PayoutLine]:
    settings = context.setting(METRIC, NpsSettings) or NpsSettings()
    value = standing.metrics.get(METRIC)
    if (
        settings.bonus_threshold is None
        or settings.bonus == 0
        or value is None
        or value < settings.bonus_threshold
    ):
        return ()
    amount = round_cents(settings.bonus)
    text = f"NPS bonus: customer NPS {show_number(value)} is at or above {show_number(settings.bonus_threshold)}, {show(amount)}"
    return [PayoutLine(partner.id, KIND, amount, text)]
