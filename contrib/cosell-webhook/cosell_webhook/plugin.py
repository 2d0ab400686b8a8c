"""Posts a JSON summary of every finished run to a webhook (Slack workflow, Teams, an internal service).

    plugins:
      webhook: {url: "https://hooks.example.com/cosell", timeout_seconds: 10}

A webhook that cannot be reached is reported by cosell and the run exits 3: the run itself (ledger and
write-back) is complete by then, so nothing is undone.
"""

from __future__ import annotations

from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from cosell import hookimpl
from cosell.context import RunContext, RunReport

KEY = "webhook"


class WebhookSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: HttpUrl = Field(description="where to POST the run summary")
    timeout_seconds: float = Field(default=10, gt=0, le=120)


@hookimpl
def cosell_plugin_settings() -> tuple[str, type[BaseModel]]:
    return (KEY, WebhookSettings)


def summary(context: RunContext, report: RunReport) -> dict[str, Any]:
    """The JSON body: what a RevOps channel wants to see after a run."""
    return {
        "program": context.program.program,
        "period": report.period,
        "run_id": report.run_id,
        "partners": [
            {
                "id": p["id"],
                "name": p["name"],
                "tier": p["tier"],
                "score": p["score"],
                "earnings": p["earnings"],
            }
            for p in report.partners
        ],
        "currency": context.program.currency,
        "records_changed": len(report.changes),
        "records_written": report.written,
        "failures": list(report.failures),
    }


@hookimpl
def cosell_run_finished(context: RunContext, report: RunReport) -> None:
    settings = context.setting(KEY, WebhookSettings)
    if settings is None:
        return
    url = settings.url
    # Only the host is ever named: an incoming-webhook URL's path is its secret (Slack, Teams).
    where = f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port not in (None, 80, 443) else "")
    try:
        # Not redirected: requests would follow a 301 or 302 with a GET and no body, and the summary
        # would be lost while the endpoint answered 200.
        response = requests.post(
            str(url), json=summary(context, report), timeout=settings.timeout_seconds, allow_redirects=False
        )
    except requests.RequestException as exc:
        raise RuntimeError(f"the webhook at {where} could not be reached ({type(exc).__name__})") from None
    if 300 <= response.status_code < 400:
        raise RuntimeError(
            f"the webhook at {where} answered {response.status_code} {response.reason}, a redirect: "
            "give plugins.webhook.url the address it points to"
        )
    if response.status_code >= 400:
        raise RuntimeError(f"the webhook at {where} answered {response.status_code} {response.reason}")
