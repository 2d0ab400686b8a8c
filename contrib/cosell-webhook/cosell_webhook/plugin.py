"""Posts a JSON summary of every finished run to a webhook (Slack workflow, Teams, an internal service).

    plugins:
      webhook: {url: "https://hooks.example.com/cosell", timeout_seconds: 10}

A webhook that cannot be reached is reported by cosell and the run exits 3: the run itself (ledger and
write-back) is complete by then, so nothing is undone.
"""

from __future__ import annotations

import threading
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from cosell import hookimpl
from cosell.context import RunContext, RunReport

KEY = "webhook"


class WebhookSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: HttpUrl = Field(description="where to POST the run summary")
    timeout_seconds: float = Field(default=10, gt=0, le=120, description="how long the whole post may take")


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
        response = _post(str(url), summary(context, report), settings.timeout_seconds)
    except TimeoutError:
        raise RuntimeError(
            f"the webhook at {where} did not answer within {settings.timeout_seconds:g} s"
        ) from None
    except requests.RequestException as exc:
        raise RuntimeError(f"the webhook at {where} could not be reached ({type(exc).__name__})") from None
    if 300 <= response.status_code < 400:
        raise RuntimeError(
            f"the webhook at {where} answered {response.status_code} {response.reason}, a redirect: "
            "give plugins.webhook.url the address it points to"
        )
    if response.status_code >= 400:
        raise RuntimeError(f"the webhook at {where} answered {response.status_code} {response.reason}")


def _post(url: str, body: dict[str, Any], seconds: float) -> requests.Response:
    """POST ``body``, given ``seconds`` in all (TimeoutError past them). requests' timeout bounds each
    socket operation, so an endpoint answering a byte at a time could hold the run, and the period it
    holds, for as long as it liked; the post runs in a thread that is left behind when time is up (a
    daemon: it never keeps the process alive). Not redirected: requests would follow a 301 or 302 with a
    GET and no body, and the summary would be lost while the endpoint answered 200."""
    answer: list[requests.Response | Exception] = []

    def send() -> None:
        try:
            answer.append(requests.post(url, json=body, timeout=seconds, allow_redirects=False))
        except Exception as exc:  # given to the caller below
            answer.append(exc)

    thread = threading.Thread(target=send, name="cosell-webhook", daemon=True)
    thread.start()
    thread.join(seconds)
    if not answer:
        raise TimeoutError(url)
    if isinstance(answer[0], Exception):
        raise answer[0]
    return answer[0]
