"""A thin layer over hubspot-api-client: credentials from the environment, one retry layer, and answers
as plain dicts.

Retries live in one place, tenacity (``RetryPolicy``): the client gets a urllib3 ``Retry`` of 0, so a
refused call is never retried twice over (urllib3 would otherwise retry GETs itself and skip POSTs).
Every call is classified here: 429 (burst: wait Retry-After; DAILY: give up, exit 4), 5xx and connection
errors are transient; 401/403 mean the token was refused (exit 4); other 4xx come back as
:class:`HubSpotRefused` for the caller to judge (a bad record, a missing property).

The token lives only inside the hubspot-api-client configuration: it is never part of a message, a log
line or a repr.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from cosell.connectors.common import (
    RetryPolicy,
    TransientError,
    checked_ca_bundle,
    parse_retry_after,
    tls_not_trusted,
)
from cosell.errors import ConfigError, UnreachableError

DEFAULT_BASE_URL = "https://api.hubapi.com"
INSTALL_HINT = "pip install 'cosell[hubspot]'"
T = TypeVar("T")
BURST_WINDOW_SECONDS = 10.0
BURST_MARGIN_SECONDS = 0.2
"""Kept on top of the window: HubSpot times a call when it arrives, and arrivals jitter."""
LIST_PAGE_SIZE = 100
"""The most records one list page holds (the search endpoint: 200)."""
SEARCH_MARGIN_SECONDS = 0.01
"""Kept between two searches on top of the pacing, for the same reason (a 429 costs a backoff)."""
MEANWHILE_GUESS_SECONDS = 0.1
"""How long a call made while a search waits is taken to last until one has been timed."""


class HubSpotRefused(Exception):
    """HubSpot answered a 4xx other than 401/403/429: the request (or a record in it) was refused."""

    def __init__(self, status: int, category: str, message: str, context: Mapping[str, Any] | None) -> None:
        super().__init__(f"{status} {category}: {message}")
        self.status = status
        self.category = category
        self.message = message
        self.context = dict(context or {})


@dataclass(frozen=True, slots=True)
class Credentials:
    """Where and as whom to call HubSpot. ``repr`` never shows the token."""

    token: str
    base_url: str
    ca_bundle: str | None
    ca_variable: str = "HUBSPOT_CA_BUNDLE"
    """The environment variable ``ca_bundle`` came from, named when the file cannot be used."""

    def __repr__(self) -> str:
        return f"Credentials(token=***, base_url={self.base_url!r}, ca_bundle={self.ca_bundle!r})"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Credentials:
        token = (env.get("HUBSPOT_ACCESS_TOKEN") or "").strip()
        if not token:
            raise ConfigError(
                "HUBSPOT_ACCESS_TOKEN is not set",
                hint="set it to a private-app token (or an OAuth access token) with the crm.objects and "
                "crm.schemas scopes; HUBSPOT_BASE_URL points cosell at a sandbox",
            )
        base = (env.get("HUBSPOT_BASE_URL") or DEFAULT_BASE_URL).strip().rstrip("/")
        if not base.startswith("https://"):
            raise ConfigError(f"HUBSPOT_BASE_URL must be an https:// URL, got {base!r}")
        # HUBSPOT_CA_BUNDLE wins; urllib3 does not read REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE, but a user who
        # set only those for a TLS-inspecting proxy expects them to count.
        for variable in ("HUBSPOT_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            if env.get(variable):
                return cls(token, base, env[variable], variable)
        return cls(token, base, None)


def _body(exc: Any) -> dict[str, Any]:
    raw = getattr(exc, "body", None)
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        return {"message": str(raw)[:300]}
    return parsed if isinstance(parsed, dict) else {}


def _header(exc: Any, name: str) -> str | None:
    return _find(getattr(exc, "headers", None), name)


def _find(headers: Any, name: str) -> str | None:
    """A header's value (any letter case), or None."""
    for key, value in dict(headers or {}).items():
        if str(key).lower() == name.lower():
            return str(value)
    return None


def _int_header(headers: Any, name: str) -> int | None:
    """A whole-number header of an answer, or None when absent or not a number."""
    value = _find(headers, name)
    return int(value) if value is not None and value.strip().isdigit() else None


def classify(what: str, exc: BaseException) -> BaseException:
    """The exception a failed call becomes: TransientError, UnreachableError, HubSpotRefused or ``exc``."""
    import urllib3

    if isinstance(exc, urllib3.exceptions.HTTPError):
        reason = getattr(exc, "reason", None)
        if isinstance(exc, urllib3.exceptions.SSLError) or isinstance(reason, urllib3.exceptions.SSLError):
            return _tls_refused(what)
        return TransientError(f"connection problem: {type(reason or exc).__name__}")
    status = getattr(exc, "status", None)
    if not isinstance(status, int) or not hasattr(exc, "reason"):
        return exc
    body = _body(exc)
    message = str(body.get("message") or getattr(exc, "reason", "") or "").strip()
    category = str(body.get("category") or body.get("errorType") or "")
    if status == 0:
        if "SSL" in str(getattr(exc, "reason", "")):
            return _tls_refused(what)
        return TransientError("connection problem")
    if status == 401:
        return UnreachableError(
            f"{what}: HubSpot refused the access token (401 {category or 'INVALID_AUTHENTICATION'})",
            hint="check HUBSPOT_ACCESS_TOKEN (a private-app token, or an unexpired OAuth access token)",
        )
    if status == 403:
        return UnreachableError(
            f"{what}: HubSpot refused the call (403 {category}): {message}",
            hint="give the private app the scopes docs/hubspot.md lists",
        )
    if status == 429:
        policy = str(body.get("policyName") or "")
        if policy.upper() == "DAILY":
            return UnreachableError(
                f"{what}: the portal's daily API limit is spent (429 policyName DAILY)",
                hint="the limit resets at midnight in the portal's time zone; the next run resumes",
            )
        return TransientError(
            f"429 rate limited ({policy or 'burst'})",
            retry_after=parse_retry_after(_header(exc, "Retry-After")),
            status=429,
        )
    if status >= 500 or status in (408, 423):
        return TransientError(
            f"HubSpot answered {status}",
            retry_after=parse_retry_after(_header(exc, "Retry-After")),
            status=status,
        )
    return HubSpotRefused(status, category, message, body.get("context"))


def _tls_refused(what: str) -> UnreachableError:
    return tls_not_trusted(what, "HubSpot", "HUBSPOT_CA_BUNDLE")


def _json(response: Any) -> dict[str, Any]:
    """The JSON object of a raw answer (a call made with ``_preload_content=False``: no generated model
    object per record, which cost most of the client's CPU on large reads); the connection goes back to
    its pool for the next call."""
    try:
        answer = json.loads(response.data or b"{}")
    finally:
        response.release_conn()
    if not isinstance(answer, dict):
        raise TransientError("HubSpot answered something other than a JSON object")
    return answer


def _dated_json(response: Any) -> tuple[dict[str, Any], datetime | None]:
    """``_json`` and the answer's ``Date`` header (HubSpot's clock when it answered; None without one)."""
    date = None
    with contextlib.suppress(TypeError, ValueError, IndexError):
        date = parsedate_to_datetime(response.headers.get("Date") or "")
    return _json(response), date if date is None or date.tzinfo is not None else date.replace(tzinfo=UTC)


def _records(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``[{"id", "properties"}]`` of a page or batch answer's ``results``, property values as sent."""
    return [
        {"id": str(r["id"]), "properties": dict(r.get("properties") or {})}
        for r in answer.get("results") or ()
    ]


class Paging:
    """The ``paging.next.after`` cursors of one paged read. A page that gives no next is the last; a
    page short of the limit, or empty, that gives one is not (HubSpot answers such pages). A next the
    read already asked with would ask for the same pages again, for ever: the read stops with
    :class:`UnreachableError` instead."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.asked: set[str] = set()

    def next(self, after: str | None, page: Mapping[str, Any]) -> str | None:
        """The cursor of the page after ``page`` (asked with ``after``), or None when it was the last."""
        nxt = page.get("next")
        if nxt is None or nxt == "":
            return None
        text = str(nxt)
        if text == after or text in self.asked:
            asked = f"after {after}" if after is not None else "without after"
            raise UnreachableError(
                f"{self.what}: HubSpot answered the page asked {asked} with paging.next.after {text}, "
                "a page already asked for",
                hint="the read's cursor stays where it was: the next run reads these records again",
            )
        self.asked.add(text)
        return text


class HubSpotClient:
    """Calls to the CRM API, each retried by one :class:`RetryPolicy`, searches paced to the search limit
    and every call to the burst limit (``per_ten_seconds`` in any rolling 10 seconds), held to what
    HubSpot's rate-limit headers say is left of its window when they say less (another process's calls).

    ``calls`` counts calls made (attempts included) by kind, for ``notes`` and the benchmark."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        policy: RetryPolicy | None = None,
        search_per_second: float = 4.0,
        per_ten_seconds: int = 190,
        api: Any = None,
    ) -> None:
        self.credentials = credentials
        self.policy = policy or RetryPolicy()
        self._search_interval = 1.0 / search_per_second if search_per_second > 0 else 0.0
        self._last_search = 0.0
        self._per_ten_seconds = max(1, per_ten_seconds)
        self._window = BURST_WINDOW_SECONDS
        self._recent: deque[float] = deque()
        """When the calls of the current window were sent, oldest first; calls HubSpot counted that
        this client did not make (another process on the portal) are entered when their count is seen."""
        self.calls: Counter[str] = Counter()
        self._meanwhile: deque[Iterator[Callable[[], object]]] = deque()
        self._task_seconds = MEANWHILE_GUESS_SECONDS
        """How long the last call made meanwhile took: the next one is made only in a wait that long."""
        if api is None and credentials.ca_bundle is not None:
            checked_ca_bundle(credentials.ca_variable, credentials.ca_bundle)
        self._api = api if api is not None else _build(credentials)
        self._endpoints: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"HubSpotClient(base_url={self.credentials.base_url!r})"

    # -- the one door every call goes through ---------------------------------------------------------

    def call(self, what: str, kind: str, fn: Callable[[], T], *, search: bool = False) -> T:
        def attempt() -> T:
            if search:
                self._pace()
            self._pace_burst()
            self.calls[kind] += 1
            try:
                return fn()
            except Exception as exc:
                mapped = classify(what, exc)
                if mapped is exc:
                    raise
                raise mapped from None

        return self.policy.call(what, attempt)

    def _endpoint(self, name: str) -> Any:
        # hubspot-api-client builds a new ApiClient (a new connection pool, so a new TLS handshake) on
        # every `hs.crm.objects.search_api` access: build each once and keep it.
        api = self._endpoints.get(name)
        if api is None:
            crm = self._api.crm
            api = self._endpoints[name] = {
                "search": lambda: crm.objects.search_api,
                "basic": lambda: crm.objects.basic_api,
                "batch": lambda: crm.objects.batch_api,
                "associations": lambda: crm.associations.v4.batch_api,
                "pipelines": lambda: crm.pipelines.pipelines_api,
                "properties": lambda: crm.properties.core_api,
                "groups": lambda: crm.properties.groups_api,
            }[name]()
            self._watch(api.api_client.rest_client)
        return api

    def _watch(self, rest: Any) -> None:
        """Read HubSpot's rate-limit headers off every answer (refusals included) of one REST client."""
        send = rest.request

        def request(*args: Any, **kwargs: Any) -> Any:
            try:
                response = send(*args, **kwargs)
            except Exception as exc:
                self._observe(getattr(exc, "headers", None))
                raise
            raw = getattr(response, "urllib3_response", response)  # preloaded answers wrap urllib3's
            self._observe(getattr(raw, "headers", None))
            return response

        rest.request = request

    def _observe(self, headers: Any) -> None:
        # HubSpot counts the portal's calls, other processes' too, and says what is left of the window
        # (search answers say nothing). Calls it counted that this client did not make are entered as
        # made now, the latest they can have been: they then leave the window no earlier than HubSpot's.
        remaining = _int_header(headers, "X-HubSpot-RateLimit-Remaining")
        most = _int_header(headers, "X-HubSpot-RateLimit-Max")
        if remaining is None or most is None or most <= 0:
            return
        self._per_ten_seconds = min(self._per_ten_seconds, most)
        interval = _int_header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
        if interval is not None and interval > 0:
            self._window = interval / 1000
        now = time.monotonic()
        recent = self._recent
        while recent and recent[0] <= now - self._window:
            recent.popleft()
        unseen = most - remaining - len(recent)
        recent.extend([now] * max(0, unseen))

    def meanwhile(self, tasks: Iterable[Callable[[], object]]) -> None:
        """Work to do while a search waits for its turn, one task a wait, when the last task took no
        longer than the wait left (HubSpot answers a few searches a second; the time between two is
        otherwise idle). ``tasks`` is taken one at a time, when the first wait comes. Neither it nor a
        task may raise: each keeps what went wrong for its owner to raise. Tasks not done by the time
        :meth:`stop_meanwhile` is called are dropped."""
        self._meanwhile.append(iter(tasks))

    def stop_meanwhile(self) -> None:
        self._meanwhile.clear()

    def _pace(self) -> None:
        # HubSpot limits search to a few requests a second per portal: spread them out rather than
        # collect 429s (which would count against the burst limit too).
        while True:
            wait = self._last_search + self._search_interval + SEARCH_MARGIN_SECONDS - time.monotonic()
            if wait <= 0:
                break
            if self._meanwhile and wait >= self._task_seconds:
                task = next(self._meanwhile[0], None)
                if task is None:
                    self._meanwhile.popleft()
                    continue
                started = time.monotonic()  # the task alone: listing the tasks may take longer, once
                task()
                self._task_seconds = time.monotonic() - started
                continue
            time.sleep(wait)
            break
        self._last_search = time.monotonic()

    def _pace_burst(self) -> None:
        # HubSpot refuses (429) a call over its burst limit, and the refused call still counts in the
        # window: waiting for the oldest call to leave the window is faster than collecting 429s.
        recent = self._recent
        now = time.monotonic()
        while True:
            while recent and recent[0] <= now - self._window:
                recent.popleft()
            if len(recent) < self._per_ten_seconds:
                break
            time.sleep(max(0.0, recent[0] + self._window + BURST_MARGIN_SECONDS - now))
            now = time.monotonic()
        recent.append(now)

    # -- objects ----------------------------------------------------------------------------------------

    def search(self, object_type: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """One search page: ``{"results": [{"id", "properties"}], "next": after or None, "total", "date"}``
        (``date``: HubSpot's clock when it answered, from the ``Date`` header; None without one)."""
        from hubspot.crm.objects import PublicObjectSearchRequest

        request = PublicObjectSearchRequest(**body)
        page, date = self.call(
            f"searching HubSpot {object_type}",
            "search",
            lambda: _dated_json(
                self._endpoint("search").do_search(
                    object_type, public_object_search_request=request, _preload_content=False
                )
            ),
            search=True,
        )
        nxt = ((page.get("paging") or {}).get("next") or {}).get("after")
        return {"results": _records(page), "next": nxt, "total": page.get("total"), "date": date}

    def list_page(
        self, object_type: str, properties: Sequence[str], after: str | None, *, archived: bool = False
    ) -> dict[str, Any]:
        """One page of the list endpoint (``GET /crm/v3/objects/{type}``, 100 a page, HubSpot's most):
        ``{"results": [{"id", "properties"}], "next": after or None}``. It counts against the burst
        limit only, not the search limit, so a full read goes this way. ``date``: HubSpot's clock when
        it answered (the ``Date`` header), or None."""
        page, date = self.call(
            f"listing {'archived ' if archived else ''}HubSpot {object_type}",
            "list",
            lambda: _dated_json(
                self._endpoint("basic").get_page(
                    object_type,
                    limit=LIST_PAGE_SIZE,
                    after=after,
                    properties=list(properties),
                    archived=archived or None,  # the default (false) unsaid
                    _preload_content=False,
                )
            ),
        )
        nxt = ((page.get("paging") or {}).get("next") or {}).get("after")
        return {"results": _records(page), "next": nxt, "date": date}

    def archived_ids(self, object_type: str) -> list[str]:
        """Ids of the archived (deleted) records HubSpot still keeps (90 days)."""
        ids: list[str] = []
        after: str | None = None
        paging = Paging(f"listing archived HubSpot {object_type}")
        while True:
            page = self.list_page(object_type, ["hs_object_id"], after, archived=True)
            ids += [r["id"] for r in page["results"]]
            after = paging.next(after, page)
            if after is None:
                return ids

    def batch_read(
        self, object_type: str, ids: Sequence[str], properties: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Records by id (≤ 100); ids HubSpot does not find are left out."""
        # Request bodies as plain JSON (the generated client serialises a dict as it is): a generated
        # model object per record cost more CPU than the call itself.
        request = {
            "inputs": [{"id": i} for i in ids],
            "properties": list(properties),
            "propertiesWithHistory": [],
        }
        answer = self.call(
            f"reading HubSpot {object_type}",
            "batch_read",
            lambda: _json(
                self._endpoint("batch").read(
                    object_type, batch_read_input_simple_public_object_id=request, _preload_content=False
                )
            ),
        )
        for error in answer.get("errors") or ():
            if error.get("category", "") != "OBJECT_NOT_FOUND":
                raise UnreachableError(
                    f"reading HubSpot {object_type}: {error.get('category')}: {error.get('message')}"
                )
        return _records(answer)

    def batch_update(self, object_type: str, items: Sequence[tuple[str, Mapping[str, str]]]) -> BatchAnswer:
        """Update ≤ 100 records; a 207 answer's per-record errors are returned, never dropped."""
        request = {"inputs": [{"id": rid, "properties": dict(props)} for rid, props in items]}
        answer = self.call(
            f"updating HubSpot {object_type}",
            "batch_update",
            lambda: _json(
                self._endpoint("batch").update(
                    object_type, batch_input_simple_public_object_batch_input=request, _preload_content=False
                )
            ),
        )
        written = {str(r["id"]) for r in answer.get("results") or ()}
        failed: dict[str, str] = {}
        # a 207 answer lists the records it refused under "errors": read it, never drop it.
        for error in answer.get("errors") or ():
            text = f"{error.get('category')}: {error.get('message')}"
            for rid in (error.get("context") or {}).get("ids", ()) or ():
                failed[str(rid)] = text
        return BatchAnswer(written, failed)

    # -- associations, pipelines, properties ------------------------------------------------------------

    def associations(
        self, from_type: str, to_type: str, ids: Sequence[str]
    ) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
        """``from id → [(to id, labels)]`` for ≤ 1,000 ids (HubSpot's limit since 2025-02); ids without
        associations are left out. More than one page of associations per record is followed; a
        record's next already asked with stops the read (:class:`Paging`) instead of looping."""
        found: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        todo: list[tuple[str, str | None]] = [(i, None) for i in ids]
        paging: dict[str, Paging] = {}
        """A record's association pages: the cursors asked with so far."""
        while todo:
            request = {"inputs": [{"id": i} if a is None else {"id": i, "after": a} for i, a in todo]}
            answer = self.call(
                f"reading HubSpot {from_type}→{to_type} associations",
                "associations",
                lambda r=request: _json(  # type: ignore[misc]
                    self._endpoint("associations").get_page(
                        from_type,
                        to_type,
                        batch_input_public_fetch_associations_batch_request=r,
                        _preload_content=False,
                    )
                ),
            )
            for error in answer.get("errors") or ():
                sub = str(error.get("subCategory") or "") + str(error.get("category") or "")
                text = str(error.get("message") or "")
                if "NO_ASSOCIATIONS_FOUND" not in sub + text:
                    raise UnreachableError(
                        f"reading HubSpot {from_type}→{to_type} associations: {error.get('category')}: {text}"
                    )
            asked = dict(todo)
            todo = []
            for result in answer.get("results") or ():
                rid = str(result["from"]["id"])
                rows = found.setdefault(rid, [])
                for to in result.get("to") or ():
                    labels = tuple(t["label"] for t in to.get("associationTypes") or () if t.get("label"))
                    rows.append((str(to["toObjectId"]), labels))
                pages = paging.get(rid)
                if pages is None:
                    what = f"reading HubSpot {from_type}→{to_type} associations of {from_type} {rid}"
                    pages = paging[rid] = Paging(what)
                nxt = ((result.get("paging") or {}).get("next") or {}).get("after")
                after = pages.next(asked.get(rid), {"next": nxt})
                if after is not None:
                    todo.append((rid, after))
        return found

    def deal_stages(self) -> list[dict[str, Any]]:
        """Every deal stage of every pipeline: ``{"id", "label", "closed", "won"}``."""
        answer = self.call(
            "reading HubSpot deal pipelines",
            "pipelines",
            lambda: self._endpoint("pipelines").get_all("deals"),
        )
        stages = []
        for pipeline in answer.results or ():
            for stage in pipeline.stages or ():
                meta = dict(stage.metadata or {})
                closed = str(meta.get("isClosed", "false")).lower() == "true"
                try:
                    won = closed and float(meta.get("probability", "0")) >= 1.0
                except ValueError:
                    won = False
                stages.append({"id": str(stage.id), "label": str(stage.label), "closed": closed, "won": won})
        return stages

    def portal_id(self) -> str:
        """The portal's id (``GET /account-info/v3/details``, which any token may call).
        hubspot-api-client has no model for it: the call goes through a generated API client, so the
        configured host, CA file and no-retry policy apply."""

        def details() -> Any:
            api_client = self._endpoint("basic").api_client
            return api_client.call_api(
                "/account-info/v3/details",
                "GET",
                header_params={"Accept": "application/json"},
                auth_settings=["oauth2"],
                _return_http_data_only=True,
                _preload_content=False,
            )

        answer = self.call("reading the HubSpot account details", "account", details)
        portal = json.loads(answer.data or b"{}").get("portalId")
        if portal in (None, ""):
            raise ConfigError("HubSpot gave no portalId (GET /account-info/v3/details)")
        return str(portal)

    def properties(self, object_type: str) -> dict[str, dict[str, Any]]:
        answer = self.call(
            f"reading HubSpot {object_type} properties",
            "properties",
            lambda: self._endpoint("properties").get_all(object_type),
        )
        return {
            p.name: {"type": p.type, "fieldType": p.field_type, "groupName": p.group_name}
            for p in answer.results or ()
        }

    def property_groups(self, object_type: str) -> set[str]:
        answer = self.call(
            f"reading HubSpot {object_type} property groups",
            "properties",
            lambda: self._endpoint("groups").get_all(object_type),
        )
        return {g.name for g in answer.results or ()}

    def create_group(self, object_type: str, name: str, label: str) -> None:
        from hubspot.crm.properties import PropertyGroupCreate

        group = PropertyGroupCreate(name=name, label=label, display_order=-1)
        self.call(
            f"creating HubSpot {object_type} property group {name}",
            "properties",
            lambda: self._endpoint("groups").create(object_type, property_group_create=group),
        )

    def create_property(self, object_type: str, definition: Mapping[str, Any]) -> None:
        from hubspot.crm.properties import Option, PropertyCreate

        spec = dict(definition)
        options = [
            Option(label=o, value=o, display_order=i, hidden=False)
            for i, o in enumerate(spec.pop("options", ()))
        ]
        prop = PropertyCreate(**spec, options=options or None)
        self.call(
            f"creating HubSpot {object_type} property {definition['name']}",
            "properties",
            lambda: self._endpoint("properties").create(object_type, property_create=prop),
        )


@dataclass(frozen=True, slots=True)
class BatchAnswer:
    written: set[str]
    failed: dict[str, str]


def _build(credentials: Credentials) -> Any:
    try:
        from urllib3.util.retry import Retry

        from hubspot import HubSpot
    except ImportError:
        raise ConfigError("the hubspot connector needs hubspot-api-client", hint=INSTALL_HINT) from None
    # Retry(0): tenacity is the only retry layer (see the module docstring).
    no_retry = Retry(total=0, connect=0, read=0, status=0, redirect=0, raise_on_status=False)
    return HubSpot(
        access_token=credentials.token,
        host=credentials.base_url,
        ssl_ca_cert=credentials.ca_bundle,
        retry=no_retry,
    )
