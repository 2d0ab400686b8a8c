"""The HTTPS server: routing between the two APIs, authentication, faults, counters."""

from __future__ import annotations

import contextlib
import email.utils
import gc
import json
import re
import secrets
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from functools import cache, partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cosell.gc_pause import gc_paused

from . import seed as seedmod
from .faults import Faults, FaultSpecError, parse_faults
from .hubspot import HubSpotAPI
from .limits import RateLimits
from .messages import Request, Response, json_response
from .salesforce import API_MAX, QUERY_CHUNK, SalesforceAPI, sf_error
from .store import HubSpotStore, SalesforceStore, sf_id

_SF_PREFIX = re.compile(r"^/services/data/v(\d+\.\d)(/.*)?$")
_ID_SEGMENT = re.compile(r"^(?=[A-Za-z0-9-]*\d)(?:\d+|[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?(?:-\d+)?)$")
_HS_AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more "
    "details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
WRITTEN_KEYS = ("Opportunity", "Account", "deals", "companies")


def normalise_path(path: str) -> str:
    """Turn a request path into its counter key.

    ``/services/data/v59.0/sobjects/Opportunity/006...`` becomes
    ``/services/data/vXX.X/sobjects/Opportunity/{id}``.

    The API version is replaced by ``vXX.X`` so counts do not depend on the client's version; every
    path segment that is a record id (a 15/18-character Salesforce id, a query locator, a job id, or
    a numeric HubSpot id) becomes ``{id}``.
    """
    m = _SF_PREFIX.match(path)
    if m:
        path = "/services/data/vXX.X" + (m.group(2) or "")
    segments = path.rstrip("/").split("/") or [""]
    return "/".join("{id}" if _ID_SEGMENT.match(s) and s not in ("v3", "v4") else s for s in segments) or "/"


class SandboxState:
    """Everything one sandbox holds; shared by the handler threads under ``lock``."""

    def __init__(
        self,
        *,
        seed: int,
        partners: int,
        deals: int,
        faults: Faults,
        token: str,
        org_id: str | None = None,
        portal_id: int | None = None,
        limits: RateLimits | None = None,
        query_chunk: int = QUERY_CHUNK,
    ) -> None:
        self.seed, self.partners, self.deals, self.token = seed, partners, deals, token
        self.query_chunk = query_chunk
        self.limits = limits or RateLimits()
        # Each sandbox is a new org unless told otherwise (a refreshed Salesforce sandbox gets a new org
        # id while its records keep theirs); a reset keeps them, like an org restored from a backup.
        self.org_id = org_id or sf_id("00D", secrets.randbelow(62**9))
        self.portal_id = portal_id if portal_id is not None else 10_000_000 + secrets.randbelow(89_000_000)
        self.faults = faults
        self.lock = threading.RLock()
        self._counter_lock = threading.Lock()
        self.base_url = ""
        self._load()

    def _load(self) -> None:
        # Building 100k-deal stores makes millions of small objects: the cyclic GC would rescan
        # them over and over (10x slower), so it is paused during the build and the result frozen.
        with gc_paused():
            data = seedmod.generate(self.seed, self.partners, self.deals)
            self.sf_store = SalesforceStore(data)
            self.sf_store.set_organization(self.org_id)
            self.hs_store = HubSpotStore(data)
            del data
        gc.freeze()
        self.sf = SalesforceAPI(self.sf_store, self.faults.invalid, self.faults.locked)
        self.sf.query_chunk = self.query_chunk
        self.hs = HubSpotAPI(self.hs_store, self._correlation, self.faults.invalid, self.portal_id)
        self.hs.gaps = self._gaps(self.faults)
        self.counter = 0
        self.sf_calls = 0
        self.requests: dict[str, int] = {}
        self.rate_limited: dict[str, int] = {}

    def _correlation(self) -> str:
        return str(uuid.UUID(int=(self.seed << 64) | self.counter, version=4))

    def reset(self) -> None:
        with self.lock, self._counter_lock:
            # drop the old stores first so two full datasets never live at once
            del self.sf, self.hs, self.sf_store, self.hs_store
            self._load()

    def purge(self) -> dict[str, int]:
        """Empty both recycle bins, as the CRMs do after their retention (Salesforce 15 days, HubSpot
        90): deleted and archived records are gone for good. Counts per CRM."""
        with self.lock:
            return {"salesforce": self.sf_store.purge(), "hubspot": self.hs.purge()}

    def merge_hubspot(self, object_type: str, primary_id: str, id_to_merge: str) -> str:
        """Merge two HubSpot records as a user does in the portal (as ``POST …/merge``, not counted as an
        API request or a record written); returns the new record's id."""
        with self.lock:
            type_name = self.hs_store.resolve_type(object_type)
            if type_name is None:
                raise ValueError(f"Unable to infer object type from: {object_type}")
            return self.hs.merge_records(type_name, primary_id, id_to_merge).id

    def merge_salesforce(self, master_id: str, victim_ids: list[str]) -> dict[str, Any]:
        """Merge Salesforce records as an admin does in the org (no API request: the REST API has no merge
        and SOAP is not served; not counted as one or as a record written); the MergeResult."""
        with self.lock:
            return self.sf.merge_records(master_id, victim_ids)

    def undelete_salesforce(self, record_ids: list[str]) -> list[str]:
        """Undelete Salesforce records as an admin does in the org (no API request: the REST API has no
        undelete and SOAP is not served; not counted as one or as a record written); the ids restored."""
        with self.lock:
            return self.sf.undelete_records(record_ids)

    def set_faults(self, faults: str | Mapping[str, Any] | Faults | None) -> Faults:
        parsed = parse_faults(faults)
        with self.lock:
            self.faults = parsed
            self.sf.invalid, self.sf.locked = parsed.invalid, parsed.locked
            self.hs.invalid = parsed.invalid
            self.hs.gaps = self._gaps(parsed)
        return parsed

    def set_query_chunk(self, records: int) -> int:
        """Records per chunk of the Bulk query jobs created from now on (kept by a reset); the previous."""
        if records < 1:
            raise ValueError("a Bulk query chunk holds at least one record")
        with self.lock:
            before, self.query_chunk = self.query_chunk, records
            self.sf.query_chunk = records
        return before

    def _gaps(self, faults: Faults) -> Callable[[str], int] | None:
        return cache(partial(faults.gaps_before, self.seed)) if faults.gaps > 0 else None

    def next_request(self, key: str) -> int:
        with self._counter_lock:
            self.counter += 1
            self.requests[key] = self.requests.get(key, 0) + 1
            return self.counter

    def stats(self) -> dict[str, Any]:
        with self.lock, self._counter_lock:
            written = {k: 0 for k in WRITTEN_KEYS}
            for src in (self.sf.written, self.hs.written):
                for k, v in src.items():
                    written[k] = written.get(k, 0) + v
            return {
                "requests": dict(sorted(self.requests.items())),
                "records_written": written,
                "rate_limited": dict(sorted(self.rate_limited.items())),
                "hubspot_records": {
                    t: len(self.hs_store.ids(t, archived=False)) for t in self.hs_store.OBJECT_TYPES
                },
                "cpu_seconds": time.process_time(),
            }

    def refused(self, policy: str) -> None:
        """Count a request the rate limits refused, by policy."""
        with self._counter_lock:
            self.rate_limited[policy] = self.rate_limited.get(policy, 0) + 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SandboxHTTPServer
    server_version = "cosell-sandbox"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        return

    _clock: str | None = None
    """The ``Date`` of the answer being sent: the CRM's own (logical) clock, which stamps its records,
    as a real CRM's Date header and its modification stamps come from one clock."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        return (
            self._clock
            if self._clock is not None and timestamp is None
            else super().date_time_string(timestamp)
        )

    def _read(self) -> Request:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        return Request(self.command, path, query, headers, body)

    def _send(self, resp: Response) -> None:
        self.send_response(resp.status)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if resp.body and self.command != "HEAD":
            self.wfile.write(resp.body)

    def _dispatch(self) -> None:
        state = self.server.state
        try:
            req = self._read()
        except (ValueError, OSError):
            self.close_connection = True
            return
        if req.path.startswith("/_sandbox"):
            self._send(self._admin(req))
            return
        n = state.next_request(f"{req.method} {normalise_path(req.path)}")
        faults = state.faults
        if faults.stop_after is not None and n > faults.stop_after:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if faults.latency_s:
            time.sleep(faults.latency_s)
        is_sf = req.path.startswith("/services/")
        resp = self._api(req, n, is_sf)
        if is_sf:
            with state._counter_lock:
                state.sf_calls += 1
                used = state.sf_calls
            resp.headers["Sforce-Limit-Info"] = f"api-usage={used}/{API_MAX}"
        store = state.sf_store if is_sf else state.hs_store
        self._clock = email.utils.format_datetime(store.clock.now, usegmt=True)
        try:
            self._send(resp)
        finally:
            self._clock = None

    def _api(self, req: Request, n: int, is_sf: bool) -> Response:
        state = self.server.state
        faults = state.faults
        status = faults.decide(state.seed, n)
        retry = {"Retry-After": str(faults.retry_after)}
        if is_sf:
            if status == 429:
                resp = sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
                resp.headers.update(retry)
                return resp
            if status == 503:
                resp = sf_error(
                    503, "SERVER_UNAVAILABLE", "Service temporarily unavailable. Please try again later."
                )
                resp.headers.update(retry)
                return resp
            if req.path.rstrip("/") == "/services/data":
                # the Versions resource answers without a session, as in a real org
                return json_response(
                    200,
                    [
                        {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"},
                        {"label": "Spring '25", "url": "/services/data/v63.0", "version": "63.0"},
                    ],
                )
            if req.headers.get("authorization") != f"Bearer {state.token}":
                return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
            if state.limits.real and state.sf_calls >= API_MAX:
                state.refused("REQUEST_LIMIT_EXCEEDED")
                return sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            m = _SF_PREFIX.match(req.path)
            if not m:
                return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
            with state.lock:
                return state.sf.handle(req, m.group(1), m.group(2) or "")
        hs_correlation = state._correlation()
        if status == 429:
            return json_response(
                429,
                {
                    "status": "error",
                    "message": "You have reached your secondly limit.",
                    "errorType": "RATE_LIMIT",
                    "correlationId": hs_correlation,
                    "policyName": "SECONDLY",
                    "groupName": "publicapi:private-app-id:sandbox",
                },
                retry,
            )
        if status == 503:
            return json_response(
                503,
                {
                    "status": "error",
                    "message": "Service Unavailable",
                    "correlationId": hs_correlation,
                    "category": "SERVICE_UNAVAILABLE",
                },
                retry,
            )
        if req.headers.get("authorization") != f"Bearer {state.token}":
            return json_response(
                401,
                {
                    "status": "error",
                    "message": _HS_AUTH_MESSAGE,
                    "correlationId": hs_correlation,
                    "category": "INVALID_AUTHENTICATION",
                },
            )
        search = req.method == "POST" and req.path.endswith("/search")
        policy = state.limits.hubspot_refusal(search=search)
        # HubSpot's CRM answers carry its rate-limit headers, except the search endpoints'.
        limit_headers = {} if search else state.limits.hubspot_headers()
        if policy is not None:
            state.refused(policy)
            return json_response(
                429,
                {
                    "status": "error",
                    "message": f"You have reached your {policy.lower()} limit.",
                    "errorType": "RATE_LIMIT",
                    "correlationId": hs_correlation,
                    "policyName": policy,
                    "groupName": "publicapi:private-app-id:sandbox",
                },
                limit_headers,
            )
        parts = [p for p in req.path.split("/") if p]
        if req.method == "GET" and parts == ["account-info", "v3", "details"]:
            return state.hs.account_details()
        if not parts or parts[0] != "crm":
            return json_response(
                404,
                {
                    "status": "error",
                    "message": f"No route for {req.path}",
                    "correlationId": hs_correlation,
                    "category": "OBJECT_NOT_FOUND",
                },
            )
        with state.lock:
            resp = state.hs.handle(req, parts[1:])
        resp.headers.update(limit_headers)
        return resp

    def _admin(self, req: Request) -> Response:
        state = self.server.state
        route = (req.method, req.path.rstrip("/"))
        if route == ("GET", "/_sandbox/stats"):
            return json_response(200, state.stats())
        if route == ("POST", "/_sandbox/reset"):
            state.reset()
            return json_response(200, {"reset": True, "seed": state.seed})
        if route == ("POST", "/_sandbox/purge"):
            return json_response(200, state.purge())
        if route == ("GET", "/_sandbox/info"):
            return json_response(200, self.server.info())
        if route == ("GET", "/_sandbox/faults"):
            return json_response(200, state.faults.as_dict())
        if route == ("POST", "/_sandbox/faults"):
            try:
                body = req.json()
                spec = body.get("spec") if isinstance(body, dict) and "spec" in body else body
                return json_response(200, state.set_faults(spec).as_dict())
            except (FaultSpecError, ValueError) as exc:
                return json_response(400, {"error": str(exc)})
        return json_response(404, {"error": f"no sandbox route {req.method} {req.path}"})

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _dispatch


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, state: SandboxState, context: ssl.SSLContext, ca_bundle: str) -> None:
        self.state = state
        self.context = context
        self.ca_bundle = ca_bundle
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            request = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            with contextlib.suppress(OSError):
                request.close()
            return
        super().process_request_thread(request, client_address)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def info(self) -> dict[str, Any]:
        base = f"https://127.0.0.1:{self.port}"
        return {
            "salesforce_instance_url": base,
            "hubspot_base_url": base,
            "token": self.state.token,
            "ca_bundle": self.ca_bundle,
            "base_url": base,
            "seed": self.state.seed,
            "org_id": self.state.org_id,
            "portal_id": self.state.portal_id,
            "partners": self.state.partners,
            "deals": self.state.deals,
        }


def dumps(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"))
