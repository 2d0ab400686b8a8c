"""Small request/response types shared by the Salesforce and HubSpot handlers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Request:
    method: str
    path: str  # without the query string
    query_string: str
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.query_string, keep_blank_values=True)

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8") or "null")


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    h = {"Content-Type": "application/json;charset=UTF-8"}
    h.update(headers or {})
    return Response(status, body, h)


def text_response(status: int, text: str, content_type: str = "text/csv") -> Response:
    return Response(status, text.encode("utf-8"), {"Content-Type": f"{content_type};charset=UTF-8"})
