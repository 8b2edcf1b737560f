"""The HTTP seam: every request to Intuit passes through one of the two sessions here.

Both libraries send every request through a ``requests.Session``. python-quickbooks calls
``self.session.request(...)`` on whatever session its ``QuickBooks`` instance holds, and
``AuthClient`` *is* a ``requests.Session`` and passes itself to every call it makes
(discovery included). So each gets a session subclass whose ``request()`` adds the timeout
and, for the Accounting API, takes a rate-limiter slot, counts the request and keeps the
response's status, ``intuit_tid``, ``Retry-After`` and fault code. Nothing is
monkeypatched and no library code is copied; every HTTP call to Intuit passes through one
of these two methods.

Our ``ApiSession`` is a plain ``requests.Session`` carrying the bearer token in an
``access_token`` attribute, which is all python-quickbooks reads from its session (it sets
the ``Authorization`` header itself). Its own ``OAuth2Session`` would add nothing we use,
and it refuses plain http without ``OAUTHLIB_INSECURE_TRANSPORT``, so this package works
against qbo_sandbox over http with no environment switch.

The discovery documents are cached here, once per process (``forget_discovery`` drops
them).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings
from intuitlib.client import AuthClient
from intuitlib.config import DISCOVERY_URL
from intuitlib.exceptions import AuthClientError

from sync import conf
from sync.ratelimit import RealmLimiter

from .errors import QBOError
from .records import Meter


def timeout() -> tuple[float, float]:
    """The (connect, read) timeout every request to Intuit carries."""
    return (conf.seconds("QBO_CONNECT_TIMEOUT"), conf.seconds("QBO_READ_TIMEOUT"))


@dataclass(frozen=True)
class Answer:
    """What we keep of a response: never its body, except the fault's code."""

    status: int
    intuit_tid: str | None
    retry_after: float | None
    fault_code: str | None
    fault_type: str | None


_XML_CODE = re.compile(rb'<Error[^>]*\scode="([^"]+)"')
_FAULT_TYPE = re.compile(rb'<Fault[^>]*\stype="([^"]+)"')


def answer(response: requests.Response) -> Answer:
    code = kind = None
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            # Intuit's gateway has sent 429s as XML even to JSON clients.
            content = response.content or b""
            match = _XML_CODE.search(content)
            code = match.group(1).decode("ascii", "replace") if match else None
            match = _FAULT_TYPE.search(content)
            kind = match.group(1).decode("ascii", "replace") if match else None
        else:
            if isinstance(body, dict):
                fault = body.get("Fault") or body.get("fault") or {}
                fault = fault if isinstance(fault, dict) else {}
                errors = fault.get("Error") or fault.get("error") or [{}]
                first = errors[0] if isinstance(errors, list) and errors else {}
                first = first if isinstance(first, dict) else {}
                code = str(first.get("code")) if first.get("code") is not None else None
                kind = fault.get("type")
                if code is None and isinstance(body.get("error"), str):
                    code = body["error"]  # OAuth endpoints: {"error": "invalid_grant"}
    retry_after = None
    raw = response.headers.get("Retry-After")
    if raw:
        try:
            retry_after = max(0.0, float(raw))
        except ValueError:
            retry_after = None  # an HTTP date; Intuit documents seconds
    return Answer(
        status=response.status_code,
        intuit_tid=response.headers.get("intuit_tid"),
        retry_after=retry_after,
        fault_code=code,
        fault_type=kind,
    )


class ApiSession(requests.Session):
    """The session python-quickbooks sends every Accounting API request through."""

    def __init__(
        self,
        *,
        realm_id: str,
        meter: Meter,
        heartbeat: Callable[[], None] | None,
    ) -> None:
        super().__init__()
        self.realm_id = realm_id
        self.meter = meter
        self.heartbeat = heartbeat
        self.limiter = RealmLimiter(realm_id)
        self.access_token = ""  # read by python-quickbooks for its Authorization header
        self.last: Answer | None = None
        # The last answer's body, for a caller that wants the objects as they were sent
        # (QBOClient.query_page); python-quickbooks decodes it too.
        self.last_content = b""
        # When the last answer arrived (time.monotonic): what follows is our own work.
        self.answered_at = 0.0

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", timeout())
        self.last = None
        self.last_content = b""
        batch = str(url).split("?", 1)[0].endswith("/batch")
        with self.limiter.slot(batch=batch, heartbeat=self.heartbeat):
            self.meter.count_request()
            response = super().request(method, url, *args, **kwargs)
        self.last = answer(response)
        self.last_content = response.content
        self.answered_at = time.monotonic()
        if self.last.intuit_tid:
            self.meter.last_intuit_tid = self.last.intuit_tid
        return response


_REQUIRED_DISCOVERY_KEYS = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "revocation_endpoint",
    "jwks_uri",
    "userinfo_endpoint",
)
_discovery_lock = threading.Lock()
_discovery_responses: dict[str, requests.Response] = {}


def discovery_url() -> str:
    # intuit-oauth's own reading of ``environment``: a name, or else the document's URL.
    environment = settings.QBO_ENVIRONMENT
    named = {"production": "production", "prod": "production", "sandbox": "sandbox"}
    key = named.get(environment.lower()) or ("sandbox" if environment.lower() == "sand" else "")
    return str(DISCOVERY_URL[key]) if key else environment


def forget_discovery() -> None:
    """Drop the cached discovery documents (for tests that switch environments)."""
    with _discovery_lock:
        _discovery_responses.clear()


class OAuthClient(AuthClient):  # type: ignore[misc]
    """intuit-oauth's client with timeouts and a discovery document fetched once.

    ``AuthClient.__init__`` downloads the discovery document on every construction, through
    ``self.get``; the first answer per URL is kept for the life of the process and handed
    back to later constructions, so only one process-wide fetch ever happens.
    """

    def __init__(self) -> None:
        self.last: Answer | None = None
        super().__init__(
            client_id=settings.QBO_CLIENT_ID,
            client_secret=settings.QBO_CLIENT_SECRET,
            redirect_uri=settings.QBO_REDIRECT_URI,
            environment=settings.QBO_ENVIRONMENT,
        )

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", timeout())
        if method.upper() == "GET" and url == discovery_url():
            with _discovery_lock:
                cached = _discovery_responses.get(url)
                if cached is None:
                    cached = super().request(method, url, *args, **kwargs)
                    if cached.status_code == 200:
                        document = cached.json()
                        missing = [k for k in _REQUIRED_DISCOVERY_KEYS if k not in document]
                        if missing:
                            raise QBOError(
                                f"the OpenID discovery document lacks {', '.join(missing)}",
                                intuit_tid=cached.headers.get("intuit_tid"),
                            )
                        _discovery_responses[url] = cached
                return cached
        response: requests.Response = super().request(method, url, *args, **kwargs)
        self.last = answer(response)
        return response


def oauth_client() -> OAuthClient:
    """A new OAuth client; a discovery document that cannot be had is a ``QBOError``."""
    try:
        return OAuthClient()
    except requests.RequestException as exc:
        raise QBOError(
            f"could not load Intuit's OpenID discovery document ({type(exc).__name__})",
            transient=True,
        ) from None
    except AuthClientError as exc:
        raise QBOError(
            "Intuit's OpenID discovery document could not be fetched",
            intuit_tid=exc.intuit_tid,
            status=exc.status_code,
            transient=exc.status_code >= 500,
        ) from None
