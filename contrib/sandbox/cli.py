"""``cosell sandbox``: the CRM sandbox as a command of the cosell command line (a built-in plugin)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from cosell.errors import ConfigError
from cosell.hookspecs import hookimpl

INSTALL_HINT = "pip install 'cosell[sandbox]'"


@hookimpl
def cosell_cli_commands(register: Callable[..., None]) -> None:
    register(sandbox, "sandbox")


def sandbox(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0 picks a free one).")] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same records and ids.")] = 0,
    partners: Annotated[int, typer.Option("--partners", help="Partner accounts to seed.")] = 50,
    deals: Annotated[int, typer.Option("--deals", help="Deals to seed.")] = 500,
    faults: Annotated[
        str | None,
        typer.Option("--faults", help="e.g. 429=0.3,503=0.1,latency=50ms,stop_after=500,invalid=ID1;ID2"),
    ] = None,
    rate_limits: Annotated[
        str,
        typer.Option(
            "--rate-limits",
            help="none, or real: HubSpot's burst (190/10 s) and search (4/s) limits answered 429, "
            "Salesforce's daily count answered 403 once spent.",
        ),
    ] = "none",
) -> None:
    """Serve the CRM sandbox (Salesforce REST and HubSpot CRM APIs on loopback, over TLS) until stopped.

    The first line on stdout is a JSON object with the URLs, the token and the CA bundle to trust."""
    from . import FaultSpecError, RateLimitsError, SandboxUnavailable, serve_forever

    try:
        serve_forever(
            port=port, seed=seed, partners=partners, deals=deals, faults=faults, rate_limits=rate_limits
        )
    except SandboxUnavailable as exc:
        raise ConfigError(f"the sandbox cannot start: {exc}", hint=INSTALL_HINT) from None
    except FaultSpecError as exc:
        raise ConfigError(f"--faults: {exc}") from None
    except RateLimitsError as exc:
        raise ConfigError(f"--rate-limits: {exc}") from None
