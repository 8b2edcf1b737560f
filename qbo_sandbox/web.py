"""Minimal request/response types for the WSGI application (standard library only)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from qbo_sandbox.common import JSON, body_time


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""

    @classmethod
    def from_environ(cls, environ: dict[str, Any]) -> Request:
        headers = {
            key[5:].replace("_", "-").lower(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = str(environ["CONTENT_TYPE"])
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        # PATH_INFO arrives decoded as latin-1 per PEP 3333; re-read it as UTF-8.
        path = str(environ.get("PATH_INFO", "/")).encode("latin-1").decode("utf-8", "replace")
        return cls(
            method=str(environ.get("REQUEST_METHOD", "GET")).upper(),
            path=path,
            query=dict(parse_qsl(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)),
            headers=headers,
            body=body,
        )

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    # fault_drop, fault_drop_before: the connection closes without an answer.
    drop: bool = False


def dump_json(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(status: int, payload: JSON, *, stamp: bool = True) -> Response:
    """A JSON body; Intuit puts a `time` member on every API body."""
    if stamp and "time" not in payload:
        payload = {**payload, "time": body_time()}
    return Response(status, dump_json(payload), "application/json;charset=UTF-8")


def text_json_response(status: int, body: str) -> Response:
    """A JSON body already encoded (a query page spliced from stored objects)."""
    return Response(status, body.encode("utf-8"), "application/json;charset=UTF-8")


def html_response(status: int, markup: str) -> Response:
    return Response(status, markup.encode("utf-8"), "text/html; charset=utf-8")


def redirect(location: str) -> Response:
    return Response(302, b"", "text/plain", [("Location", location)])


_REASONS = {
    200: "OK",
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def status_line(status: int) -> str:
    return f"{status} {_REASONS.get(status, 'Unknown')}"
