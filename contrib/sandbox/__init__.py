"""The cosell CRM sandbox: a loopback HTTPS server speaking the Salesforce REST subset and the
HubSpot CRM v3/v4 subset that cosell uses, for the unmodified client libraries.

>>> from cosell.contrib.sandbox import serve
>>> with serve(seed=1, partners=10, deals=200) as sb:        # doctest: +SKIP
...     sb.salesforce_instance_url, sb.token, sb.ca_bundle

See docs/sandbox.md for the endpoints, the seeded data and the fault syntax.
"""

from __future__ import annotations

import json
import secrets
import shutil
import ssl
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from .faults import Faults, FaultSpecError, parse_faults
from .hubspot import MergeRefused
from .limits import HUBSPOT_BURST, RATE_LIMITS, RateLimits, RateLimitsError
from .salesforce import QUERY_CHUNK
from .server import SandboxHTTPServer, SandboxState

__all__ = [
    "RATE_LIMITS",
    "FaultSpecError",
    "Faults",
    "MergeRefused",
    "RateLimitsError",
    "Sandbox",
    "SandboxUnavailable",
    "parse_faults",
    "serve",
    "serve_forever",
]

FaultsArg = str | Mapping[str, Any] | Faults | None


class SandboxUnavailable(ImportError):
    """The sandbox cannot start: its TLS library (the ``sandbox`` extra) is not installed."""


class Sandbox:
    """A running sandbox (what :func:`serve` yields)."""

    def __init__(self, server: SandboxHTTPServer) -> None:
        self._server = server

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self._server.port}"

    @property
    def salesforce_instance_url(self) -> str:
        return self.base_url

    @property
    def hubspot_base_url(self) -> str:
        return self.base_url

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def token(self) -> str:
        return self._server.state.token

    @property
    def ca_bundle(self) -> str:
        return self._server.ca_bundle

    @property
    def org_id(self) -> str:
        """The Salesforce organization id (``SELECT Id FROM Organization``)."""
        return self._server.state.org_id

    @property
    def portal_id(self) -> int:
        """The HubSpot portal id (``GET /account-info/v3/details``)."""
        return self._server.state.portal_id

    @property
    def seed(self) -> int:
        return self._server.state.seed

    def info(self) -> dict[str, Any]:
        """The JSON object printed as the first stdout line by ``serve_forever``."""
        return self._server.info()

    def stats(self) -> dict[str, Any]:
        """``{"requests": {"METHOD /path": n}, "records_written": {...}}`` (as ``GET /_sandbox/stats``)."""
        return self._server.state.stats()

    def reset(self) -> None:
        """Reseed the data, drop runtime custom fields and jobs, zero the counters (faults stay)."""
        self._server.state.reset()

    def purge(self) -> dict[str, int]:
        """Empty both recycle bins, as the retention windows would (as ``POST /_sandbox/purge``):
        records deleted (Salesforce) or archived (HubSpot) are gone for good. Counts per CRM."""
        return self._server.state.purge()

    def merge_hubspot(self, object_type: str, primary_id: str, id_to_merge: str) -> str:
        """Merge HubSpot record ``id_to_merge`` into ``primary_id`` as a user merging them in the portal
        would: what ``POST /crm/v3/objects/{type}/merge`` does (a new record with a new id, the old ids
        leading to it), without counting as an API request, against the rate limits or as a record
        written. Returns the new record's id. Raises :class:`MergeRefused` (a ``ValueError`` carrying the
        API's status and category) where the API would refuse the merge, ``ValueError`` for an unknown
        object type."""
        return self._server.state.merge_hubspot(object_type, primary_id, id_to_merge)

    def merge_salesforce_accounts(self, master_id: str, victim_id: str, *more_victims: str) -> dict[str, Any]:
        """Merge Salesforce Account ``victim_id`` (and at most one more) into ``master_id`` as an admin
        merging them in the org would (or Apex ``Database.merge``, the SOAP ``merge()`` call; the REST API
        has none): the master keeps its id and values, each victim goes to the recycle bin with
        ``MasterRecordId`` the master's id, and every record whose lookup pointed to a victim points to
        the master; all of them stamped one tick of the clock later. Not counted as an API request,
        against the daily limit or as a record written. Returns the SOAP MergeResult's
        ``{"id", "mergedRecordIds", "updatedRelatedIds"}``. Raises
        :class:`~cosell.contrib.sandbox.salesforce.SalesforceMergeRefused` (a ``ValueError`` carrying
        Salesforce's ``code``) where Salesforce would refuse the merge, ids of other sObjects included."""
        return self._server.state.merge_salesforce(master_id, [victim_id, *more_victims])

    def undelete_salesforce(self, record_id: str, *more_ids: str) -> list[str]:
        """Undelete Salesforce records from the recycle bin as an admin would (the UI, the SOAP
        ``undelete()`` call or Apex ``undelete``; the REST API has none): each is live again with what its
        delete took along; an account a merge deleted comes back without what the merge moved to the
        master. Not counted as an API request or a record written. Returns the ids restored. Raises
        :class:`~cosell.contrib.sandbox.salesforce.SalesforceUndeleteRefused` (a ``ValueError`` carrying
        Salesforce's ``code``) for an id not in the recycle bin, changing nothing."""
        return self._server.state.undelete_salesforce([record_id, *more_ids])

    def set_query_chunk(self, records: int) -> int:
        """Split the Salesforce Bulk API 2.0 query jobs created from now on into chunks of ``records``
        record ids (deleted ones counted), as Salesforce splits large jobs; returns the previous size
        (default 100,000; a reset keeps it). The first chunk is evaluated when the job is created, each
        later one when the job's state is next asked for, so a job's result is no snapshot of one moment."""
        return self._server.state.set_query_chunk(records)

    def set_faults(self, faults: FaultsArg) -> Faults:
        """Replace the faults in force (``None`` clears them); returns the parsed faults."""
        return self._server.state.set_faults(faults)

    @property
    def faults(self) -> Faults:
        return self._server.state.faults


@contextmanager
def serve(
    *,
    port: int = 0,
    seed: int = 0,
    partners: int = 50,
    deals: int = 500,
    faults: FaultsArg = None,
    token: str | None = None,
    org_id: str | None = None,
    portal_id: int | None = None,
    rate_limits: str | None = None,
    hubspot_burst: int = HUBSPOT_BURST,
    query_chunk: int = QUERY_CHUNK,
) -> Iterator[Sandbox]:
    """Start a sandbox on 127.0.0.1 (``port=0``: any free port) in a background thread.

    Each start is a new org: a new Salesforce organization id and HubSpot portal id (the records and
    their ids still follow ``seed``), unless ``org_id``/``portal_id`` are given; :meth:`Sandbox.reset`
    keeps them. ``rate_limits="real"`` holds requests to the CRMs' documented limits
    (:mod:`cosell.contrib.sandbox.limits`); ``hubspot_burst`` sets HubSpot's requests per rolling 10 seconds
    (default its real 190); ``query_chunk`` the records per chunk of a Salesforce Bulk query job
    (:meth:`Sandbox.set_query_chunk`)."""
    parsed = parse_faults(faults)
    limits = RateLimits.parse(rate_limits, burst=hubspot_burst)
    folder = Path(tempfile.mkdtemp(prefix="cosell-sandbox-"))
    try:
        context, ca_bundle = _tls(folder)
        state = SandboxState(
            seed=seed,
            partners=partners,
            deals=deals,
            faults=parsed,
            token=token or f"00DSANDBOX!{secrets.token_urlsafe(24)}",
            org_id=org_id,
            portal_id=portal_id,
            limits=limits,
            query_chunk=query_chunk,
        )
        server = SandboxHTTPServer(port, state, context, str(ca_bundle))
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="cosell-sandbox", daemon=True
        )
        thread.start()
        try:
            yield Sandbox(server)
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _tls(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A throwaway CA (written to ``folder/ca.pem``, the bundle clients trust) and a server context for
    127.0.0.1 and localhost signed by it: clients verify the connection the normal way (``verify=`` for
    requests, ``ssl_ca_cert`` for urllib3) and TLS verification never has to be turned off."""
    try:
        import trustme  # the `sandbox` extra; imported here so that `cosell` starts without it
    except ImportError as exc:
        raise SandboxUnavailable(f"the sandbox needs trustme ({exc})") from None

    ca = trustme.CA(organization_name="cosell sandbox")
    ca_bundle = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_bundle))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context, ca_bundle


def serve_forever(
    port: int = 0,
    seed: int = 0,
    partners: int = 50,
    deals: int = 500,
    faults: FaultsArg = None,
    rate_limits: str | None = None,
) -> None:
    """Serve until interrupted; the first stdout line is the JSON of :meth:`Sandbox.info`."""
    with serve(
        port=port, seed=seed, partners=partners, deals=deals, faults=faults, rate_limits=rate_limits
    ) as sandbox:
        sys.stdout.write(json.dumps(sandbox.info()) + "\n")
        sys.stdout.flush()
        with suppress(KeyboardInterrupt):
            threading.Event().wait()
