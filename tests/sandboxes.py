"""The CRM sandbox for tests: one server per test module, reset (faults cleared) for each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cosell.contrib.sandbox import Sandbox, serve

CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
"""Set on many machines; requests lets them override a session's verify=."""


def module_sandbox(
    *, seed: int, partners: int, deals: int, drop_ca_variables: bool = True, fresh_name: str = "sb"
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Fixtures ``sandbox`` (the module's server) and ``sb`` (the same, reset for the test; named
    ``fresh_name`` when a module wraps it in a ``sb`` of its own).

    ``drop_ca_variables`` removes REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE while the server runs, for tests
    that drive the raw clients; connector tests keep them, since the connector's own CA setting must win.
    """

    @pytest.fixture(scope="module", name="sandbox")
    def sandbox() -> Iterator[Sandbox]:
        with pytest.MonkeyPatch.context() as mp:
            if drop_ca_variables:
                for name in CA_VARIABLES:
                    mp.delenv(name, raising=False)
            with serve(seed=seed, partners=partners, deals=deals) as running:
                yield running

    @pytest.fixture(name=fresh_name)
    def sb(sandbox: Sandbox) -> Iterator[Sandbox]:
        sandbox.set_faults(None)
        sandbox.reset()
        yield sandbox
        sandbox.set_faults(None)

    return sandbox, sb
