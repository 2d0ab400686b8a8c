"""The connection to a Salesforce org: authentication from the environment, TLS trust, retries that
honour Retry-After, API usage, and simple-salesforce's errors turned into cosell's.

Retries live in the requests session under simple-salesforce, where the response headers still are:
simple-salesforce's exceptions carry no headers, so a Retry-After could not be read above it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests

from cosell.connectors.common import (
    RetryPolicy,
    TransientError,
    checked_ca_bundle,
    parse_retry_after,
    tls_not_trusted,
)
from cosell.errors import ConfigError, CosellError, UnreachableError

log = logging.getLogger("cosell.connectors.salesforce")
T = TypeVar("T")

INSTALL_HINT = "pip install 'cosell[salesforce]'"
_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


@dataclass(frozen=True, slots=True)
class Credentials:
    """Which login flow the environment asks for. Secret values are kept out of ``repr``."""

    flow: str  # "session", "password" or "jwt"
    instance_url: str | None = None
    username: str | None = None
    domain: str | None = None
    consumer_key: str | None = field(default=None, repr=False)
    private_key_file: str | None = None
    access_token: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Credentials:
        def get(key: str) -> str | None:
            value = env.get(key)
            return value.strip() if value and value.strip() else None

        ca = get("SF_CA_BUNDLE")
        domain = get("SF_DOMAIN")
        if get("SF_INSTANCE_URL") and get("SF_ACCESS_TOKEN"):
            url = str(get("SF_INSTANCE_URL")).rstrip("/")
            if urlsplit(url).scheme != "https":
                raise ConfigError("SF_INSTANCE_URL must be an https:// URL (TLS is never turned off)")
            return cls("session", instance_url=url, access_token=get("SF_ACCESS_TOKEN"), ca_bundle=ca)
        if get("SF_CONSUMER_KEY") and get("SF_USERNAME") and get("SF_PRIVATE_KEY_FILE"):
            return cls(
                "jwt",
                username=get("SF_USERNAME"),
                consumer_key=get("SF_CONSUMER_KEY"),
                private_key_file=get("SF_PRIVATE_KEY_FILE"),
                domain=domain,
                ca_bundle=ca,
            )
        if get("SF_USERNAME") and get("SF_PASSWORD") and get("SF_SECURITY_TOKEN"):
            return cls(
                "password",
                username=get("SF_USERNAME"),
                password=get("SF_PASSWORD"),
                security_token=get("SF_SECURITY_TOKEN"),
                domain=domain,
                ca_bundle=ca,
            )
        raise ConfigError(
            "no Salesforce credentials in the environment",
            hint="set SF_INSTANCE_URL and SF_ACCESS_TOKEN; or SF_USERNAME, SF_PASSWORD and SF_SECURITY_TOKEN "
            "(and SF_DOMAIN, e.g. test); or SF_CONSUMER_KEY, SF_USERNAME and SF_PRIVATE_KEY_FILE (JWT)",
        )

    def secrets(self) -> tuple[str, ...]:
        values = (self.access_token, self.password, self.security_token, self.consumer_key)
        return tuple(v for v in values if v)


class Redactor:
    """Removes secret values from any text before it is shown, logged or raised."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        # longest first, so a secret containing another is removed whole
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


class SalesforceSession(requests.Session):
    """A requests session that trusts ``SF_CA_BUNDLE`` over ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``,
    retries transient failures within a time budget (honouring Retry-After), and keeps the last
    ``Sforce-Limit-Info`` and ``Date``."""

    def __init__(
        self, *, ca_bundle: str | None, retry: RetryPolicy, timeout: float, redact: Redactor
    ) -> None:
        super().__init__()
        self.ca_bundle = ca_bundle
        self.retry = retry
        self.timeout = timeout
        self.redact = redact
        self.calls = 0
        self.api_usage: tuple[int, int] | None = None
        self.answered_at: datetime | None = None
        """Salesforce's clock when it sent the latest answer (its ``Date`` header; None without one)."""

    def __repr__(self) -> str:
        return f"<SalesforceSession calls={self.calls}>"

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if self.ca_bundle:
            settings["verify"] = self.ca_bundle  # win over REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE
        elif settings.get("verify") is False:
            settings["verify"] = True  # TLS verification is never turned off
        return settings

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        verb = method.decode() if isinstance(method, bytes) else method
        text_url = url.decode() if isinstance(url, bytes) else url
        what = f"Salesforce {verb.upper()} {urlsplit(text_url).path}"

        def attempt() -> requests.Response:
            self.calls += 1
            try:
                response = super(SalesforceSession, self).request(method, url, *args, **kwargs)
            except requests.exceptions.SSLError:
                raise tls_not_trusted(what, "Salesforce", "SF_CA_BUNDLE") from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise TransientError(f"{type(exc).__name__} (no answer)") from None
            except (
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ) as exc:
                # the answer broke off mid-body (a dropped connection on a large page): asked again
                raise TransientError(f"{type(exc).__name__} (answer cut off)") from None
            self._note_usage(response)
            self.answered_at = answer_date(response)
            if _is_transient(response):
                raise TransientError(
                    f"HTTP {response.status_code} {error_code(response) or ''}".strip(),
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                    status=response.status_code,
                )
            return response

        return self.retry.call(what, attempt)

    def _note_usage(self, response: requests.Response) -> None:
        found = _USAGE.search(response.headers.get("Sforce-Limit-Info", ""))
        if found:
            self.api_usage = (int(found.group(1)), int(found.group(2)))

    def usage_note(self) -> str | None:
        if self.api_usage is None:
            return None
        used, total = self.api_usage
        return f"Salesforce API calls: {used:,} of {total:,} used today"


def answer_date(response: requests.Response) -> datetime | None:
    """An answer's ``Date`` header: the server's clock when it answered (None without one)."""
    date = None
    with contextlib.suppress(TypeError, ValueError, IndexError):
        date = parsedate_to_datetime(response.headers.get("Date") or "")
    return date if date is None or date.tzinfo is not None else date.replace(tzinfo=UTC)


def _is_transient(response: requests.Response) -> bool:
    status = response.status_code
    if status >= 500 or status == 429:
        return True
    return status == 403 and error_code(response) == "REQUEST_LIMIT_EXCEEDED"


def error_code(response: requests.Response) -> str | None:
    """The ``errorCode`` of a Salesforce error list answer, if it is one."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, list) and body and isinstance(body[0], Mapping):
        code = body[0].get("errorCode")
        return str(code) if code else None
    return None


def describe_error(content: Any) -> str:
    """``CODE: message`` of a Salesforce error answer (a list of ``{errorCode, message}``)."""
    if isinstance(content, list) and content and isinstance(content[0], Mapping):
        first = content[0]
        code = first.get("errorCode") or first.get("statusCode") or "ERROR"
        return f"{code}: {str(first.get('message', '')).strip()}"
    if isinstance(content, Mapping):
        return ": ".join(str(content.get(k, "")) for k in ("error", "error_description") if content.get(k))
    return str(content)[:300]


class SalesforceClient:
    """simple-salesforce behind cosell's errors: every call goes through :meth:`call`."""

    def __init__(self, sf: Any, session: SalesforceSession, redact: Redactor) -> None:
        self.sf = sf
        self.session = session
        self.redact = redact

    def __repr__(self) -> str:
        return f"<SalesforceClient {urlsplit(self.instance_url).netloc}>"

    @property
    def instance_url(self) -> str:
        return f"https://{self.sf.sf_instance}"

    def call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except CosellError as exc:
            exc.message = self.redact(exc.message)
            raise
        except Exception as exc:
            raise translate_error(what, exc, self.redact) from None

    def query(self, soql: str, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        """Every record of a SOQL query, page by page (``query_all_iter``)."""
        pages = self.sf.query_all_iter(soql, include_deleted=include_deleted)
        while True:
            row = self.call("query " + soql.split(" WHERE ")[0], lambda: next(pages, None))
            if row is None:
                return
            yield row

    def restful(self, path: str, *, method: str = "GET", body: str | None = None, **kwargs: Any) -> Any:
        if body is not None:
            kwargs["data"] = body.encode("utf-8")
        return self.call(
            f"{method} {path.split('?')[0]}", lambda: self.sf.restful(path, method=method, **kwargs)
        )

    def first_page(self, soql: str, *, include_deleted: bool = False) -> dict[str, Any]:
        """The first page of a REST query (``totalSize``, ``done``, ``records``, ``nextRecordsUrl``)."""
        what = "query " + soql.split(" WHERE ")[0]
        return dict(self.call(what, lambda: self.sf.query(soql, include_deleted=include_deleted)))

    def next_page(self, next_url: str, *, what: str = "query") -> dict[str, Any]:
        return dict(self.call(what, lambda: self.sf.query_more(next_url, identifier_is_url=True)))

    def raw(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """A REST call whose answer is not JSON (Bulk API 2.0 CSV) or whose headers matter
        (``Sforce-Locator``); errors are cosell's, as for every other call."""
        headers = {"Content-Type": content_type} if content_type else {}
        if method.upper() == "GET":
            headers["Accept"] = "text/csv"
        response: requests.Response = self.call(
            f"{method} {path}",
            lambda: self.sf._call_salesforce(
                method, self.sf.base_url + path, name=path, data=body, headers=headers, params=params
            ),
        )
        return response

    def answered_at(self) -> datetime | None:
        """Salesforce's clock when it sent the latest answer (its ``Date`` header; None without one)."""
        return self.session.answered_at

    def describe(self, sobject: str) -> dict[str, Any]:
        result = self.restful(f"sobjects/{sobject}/describe")
        return dict(result or {})

    def notes(self) -> list[str]:
        note = self.session.usage_note()
        return [note] if note else []


def translate_error(what: str, exc: Exception, redact: Redactor) -> CosellError:
    """simple-salesforce's exceptions as cosell's: refused credentials exit 4, a refused query exit 2."""
    try:
        from simple_salesforce.exceptions import (
            SalesforceAuthenticationFailed,
            SalesforceError,
            SalesforceExpiredSession,
            SalesforceMalformedRequest,
            SalesforceRefusedRequest,
            SalesforceResourceNotFound,
        )
    except ImportError:  # pragma: no cover - the factory checked already
        return ConfigError("simple-salesforce is not installed", hint=INSTALL_HINT)
    if isinstance(exc, SalesforceAuthenticationFailed):
        return UnreachableError(
            redact(f"Salesforce refused the login: {exc.code}: {exc.message}"),
            hint="check SF_USERNAME, SF_PASSWORD, SF_SECURITY_TOKEN / the JWT settings and SF_DOMAIN",
        )
    if isinstance(exc, SalesforceExpiredSession):
        return UnreachableError(
            redact(f"Salesforce refused the credentials ({describe_error(exc.content)})"),
            hint="SF_ACCESS_TOKEN is expired or invalid: get a new session token, or use another login flow",
        )
    if isinstance(exc, SalesforceRefusedRequest):
        return UnreachableError(
            redact(f"{what}: Salesforce refused the request ({describe_error(exc.content)})"),
            hint="the integration user lacks a permission (API Enabled, object or field access)",
        )
    if isinstance(exc, SalesforceMalformedRequest | SalesforceResourceNotFound):
        return ConfigError(
            redact(f"{what}: Salesforce answered {exc.status}: {describe_error(exc.content)}"),
            hint="check the plugins.salesforce settings against the org (cosell setup salesforce checks them)",
        )
    if isinstance(exc, SalesforceError):
        return UnreachableError(
            redact(f"{what}: Salesforce answered {exc.status}: {describe_error(exc.content)}")
        )
    if isinstance(exc, requests.RequestException):
        return UnreachableError(redact(f"{what}: {type(exc).__name__}"))
    if isinstance(exc, json.JSONDecodeError):
        return UnreachableError(f"{what}: Salesforce's answer is not JSON")
    raise exc


def connect(
    env: Mapping[str, str], *, api_version: str, retry: RetryPolicy, timeout: float
) -> SalesforceClient:
    """Log in with what the environment gives (SPEC "CLI": credentials come from the environment only)."""
    try:
        from simple_salesforce.api import Salesforce
    except ImportError:
        raise ConfigError("the Salesforce connector needs simple-salesforce", hint=INSTALL_HINT) from None
    creds = Credentials.from_env(env)
    redact = Redactor(creds.secrets())
    # The CA file requests will use: SF_CA_BUNDLE, else the variables requests itself reads.
    for variable in ("SF_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        if env.get(variable):
            checked_ca_bundle(variable, env[variable])
            break
    session = SalesforceSession(ca_bundle=creds.ca_bundle, retry=retry, timeout=timeout, redact=redact)
    common: dict[str, Any] = {"session": session, "version": api_version, "parse_float": Decimal}
    client = SalesforceClient(None, session, redact)

    def login() -> Any:
        if creds.flow == "session":
            return Salesforce(instance_url=creds.instance_url, session_id=creds.access_token, **common)
        if creds.flow == "jwt":
            return Salesforce(
                username=creds.username,
                consumer_key=creds.consumer_key,
                privatekey_file=creds.private_key_file,
                domain=creds.domain,
                **common,
            )
        return Salesforce(
            username=creds.username,
            password=creds.password,
            security_token=creds.security_token,
            domain=creds.domain,
            **common,
        )

    client.sf = client.call("login", login)
    return client
