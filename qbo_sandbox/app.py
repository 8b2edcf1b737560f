"""The WSGI application: routing, intuit_tid, fault injection, throttles, webhooks.

Order of work for an API request (/v3/...): the request's fault draws (faults.py), injected
429/5xx faults and the injected drop before any work, bearer token, throttle slot, injected
delay (inside the slot), the request in one transaction, webhook events (after COMMIT
only), injected connection drop after COMMIT (so a retried `requestid` finds the stored
answer). Both drops close the connection without a byte of answer: the client cannot tell
whether the work was done.
"""

from __future__ import annotations

import logging
import math
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from qbo_sandbox import api, control, html
from qbo_sandbox.cdc import CAP_ORDERS
from qbo_sandbox.clock import Clock
from qbo_sandbox.common import (
    COMPANY_TZ,
    DEFAULT_NAIVE_TIME_ZONE,
    load_zone,
    new_intuit_tid,
    system_fault,
)
from qbo_sandbox.faults import Faults
from qbo_sandbox.oauth import OAuth
from qbo_sandbox.operations import ApiOptions
from qbo_sandbox.store import Event, Store
from qbo_sandbox.throttle import Throttle, Throttled, throttle_fault_json, throttle_fault_xml
from qbo_sandbox.web import Request, Response, dump_json, json_response, status_line
from qbo_sandbox.webhooks import ChangeEvent, WebhookDispatcher

logger = logging.getLogger("qbo_sandbox")

StartResponse = Callable[..., Any]


class DropConnection(Exception):
    """Raised for a request whose answer must never reach the client (before or after its
    work is committed: the client sees the same closed connection)."""


@dataclass
class Config:
    """Run-time knobs, changed with POST /_sandbox/config."""

    # Fault injection (faults.py; README, "Fault injection"). Probabilities 0..1, off.
    fault_5xx: float = 0.0  # 500, 502 or 503 in equal shares, before any work
    fault_429: float = 0.0  # 429 ThrottleExceeded with Retry-After, before any work
    fault_slow: float = 0.0  # the answer delayed by slow_seconds (inside the throttle slot)
    fault_drop: float = 0.0  # the connection closed after COMMIT
    fault_drop_before: float = 0.0  # the connection closed before any work
    # The same as fault_drop, for POST /batch only: a batch written whose answer is lost,
    # with the queries around it answered (how a retry with the same requestid is tested).
    fault_drop_batch: float = 0.0
    slow_seconds: float = 5.0  # Intuit seconds, scaled by --time-scale
    # Webhook deliveries (one POST body each): sent twice, delayed by up to
    # webhook_delay_max_seconds (Intuit seconds), or held and sent after the realm's next.
    webhook_duplicate: float = 0.0
    webhook_delay: float = 0.0
    webhook_delay_max_seconds: float = 10.0
    webhook_reorder: float = 0.0
    # The seed of every fault draw; None picks one at start (GET /_sandbox/config shows it).
    fault_seed: int | None = None
    limit_per_minute: int = 500
    limit_concurrent: int = 10
    limit_batch_per_minute_app: int = 40
    limit_batch_per_minute_realm: int = 120
    # Whether 429 bodies are XML, as QBO historically sent even to JSON clients
    # (still true today is [unconfirmed]); JSON is the default.
    throttle_xml: bool = False
    sku_in_select_star: bool = False
    # The batch size above which a batch is refused whole (fault 1040); Intuit's is 30.
    batch_max_items: int = 30
    # Three switches for what Intuit's CDC documentation leaves open (README, "Switches"):
    # which 1000 changes CDC keeps when more match (cdc.CAP_ORDERS); the probability that
    # CDC reports a live object version as Deleted (Intuit's .NET SDK issue #189); and the
    # IANA zone a timestamp without an offset is read in (changedSince, query literals).
    cdc_cap_order: str = "oldest"
    cdc_spurious_deleted: float = 0.0
    naive_time_zone: str = DEFAULT_NAIVE_TIME_ZONE

    def update(self, changes: dict[str, Any]) -> None:
        """Validate every change first, then apply them all (or none)."""
        types = {f.name: f.type for f in fields(self)}
        checked: dict[str, Any] = {}
        for key, value in changes.items():
            kind = types.get(key)
            if kind is None:
                raise ValueError(f"unknown setting {key!r}")
            if key == "fault_seed":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValueError(f"{key} must be an integer")
                checked[key] = value
            elif kind == "bool":
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be true or false")
                checked[key] = value
            elif kind == "str":
                checked[key] = _checked_text(key, value)
            elif isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{key} must be a number")
            elif not _finite(value):
                raise ValueError(f"{key} must be a finite number")
            elif (key.startswith("fault_") or key in PROBABILITIES) and not 0 <= value <= 1:
                raise ValueError(f"{key} is a probability between 0 and 1")
            elif value < 0 and not key.startswith("limit_"):
                raise ValueError(f"{key} cannot be negative")
            else:
                checked[key] = int(value) if kind == "int" else float(value)
        for key, value in checked.items():
            setattr(self, key, value)


# Config's numbers that are probabilities 0..1, besides every fault_* (but fault_seed).
PROBABILITIES = frozenset(
    {"cdc_spurious_deleted", "webhook_duplicate", "webhook_delay", "webhook_reorder"}
)


def _finite(value: int | float) -> bool:
    """Whether a JSON number is usable as a float (json reads 1e999 as inf, and a
    400-digit integer converts to no float at all)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _checked_text(key: str, value: Any) -> str:
    """A text setting's value, or ValueError saying what it may be."""
    if key == "cdc_cap_order":
        if not isinstance(value, str) or value not in CAP_ORDERS:
            raise ValueError(f"{key} must be one of {', '.join(CAP_ORDERS)}")
        return value
    if key == "naive_time_zone":
        if not isinstance(value, str):
            raise ValueError(f'{key} must be an IANA time zone name such as "UTC"')
        try:
            load_zone(value)
        except ValueError:
            raise ValueError(
                f"{key}: no time zone named {value!r} (an IANA name such as "
                '"America/Los_Angeles", "UTC" or "Etc/GMT+12")'
            ) from None
        return value
    raise ValueError(f"{key} cannot be set")  # a text setting nobody taught update about


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self.token_requests: Counter[str] = Counter({"authorization_code": 0, "refresh_token": 0})

    def count(self, counter: Counter[str], key: str) -> None:
        with self._lock:
            counter[key] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {
                "requests": dict(self.requests),
                "throttled": dict(self.throttled),
                "token_requests": dict(self.token_requests),
            }


# What Intuit's edge answers when the API behind it fails: nginx's page for 502 (minimul/qbo_api
# PR #102, "straight from NGINX") and the load balancer's for 503, text/html without
# Retry-After (the headers quoted in minimul/qbo_api #81; node-quickbooks #127). A 500 is the
# API's own SystemFault 10000 in JSON (docs/qbo-api.md §7).
_GATEWAY_PAGES = {
    502: (
        b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
        b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
        b"</body>\r\n</html>\r\n"
    ),
    503: (
        b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n"
        b"<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n"
        b"</body>\r\n</html>\r\n"
    ),
}


def server_error(status: int) -> Response:
    """An injected 500, 502 or 503, shaped as Intuit's API or edge sends it."""
    page = _GATEWAY_PAGES.get(status)
    if page is not None:
        return Response(status, page, "text/html")
    return json_response(status, system_fault("injected fault").body())


class SandboxApp:
    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        oauth: OAuth,
        config: Config,
        dispatcher: WebhookDispatcher | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.oauth = oauth
        self.config = config
        self.dispatcher = dispatcher
        self.stats = Stats()
        self.base_url = ""
        if config.fault_seed is None:
            config.fault_seed = random.SystemRandom().randrange(2**32)
        self.faults = Faults(config, config.fault_seed)
        if dispatcher is not None:
            dispatcher.faults = self.faults
        self._config_lock = threading.Lock()
        self.throttle = self._new_throttle()

    def _new_throttle(self) -> Throttle:
        c = self.config
        return Throttle(
            clock=self.clock,
            per_minute=c.limit_per_minute,
            concurrent=c.limit_concurrent,
            batch_per_minute_app=c.limit_batch_per_minute_app,
            batch_per_minute_realm=c.limit_batch_per_minute_realm,
        )

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        with self._config_lock:
            limits_before = self._limits()
            self.config.update(changes)
            if self._limits() != limits_before:
                # Throttle has no setters: a fresh one takes the new limits (and starts
                # its windows afresh). Requests in flight release slots on the old one.
                self.throttle = self._new_throttle()
            # Every setting of the config restarts the fault streams and their counters,
            # so that a test's sequence of requests meets the same faults every run.
            assert self.config.fault_seed is not None
            self.faults.reset(self.config.fault_seed)
            return asdict(self.config)

    def _limits(self) -> tuple[int, ...]:
        c = self.config
        return (
            c.limit_per_minute,
            c.limit_concurrent,
            c.limit_batch_per_minute_app,
            c.limit_batch_per_minute_realm,
        )

    # ------------------------------------------------------------ WSGI

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        tid = new_intuit_tid()
        try:
            req = Request.from_environ(environ)
            response = self.route(req)
        except Exception:
            logger.exception("unhandled error (intuit_tid %s)", tid)
            response = json_response(500, system_fault(f"intuit_tid {tid}").body())
        if response.drop:
            raise DropConnection()
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
            ("intuit_tid", tid),
            *response.headers,
        ]
        start_response(status_line(response.status), headers)
        return [response.body]

    def route(self, req: Request) -> Response:
        parts = [p for p in req.path.split("/") if p]
        if len(parts) >= 3 and parts[0] == "v3" and parts[1] == "company":
            return self.api_request(req, parts[2], parts[3:])
        if parts[:1] == ["_sandbox"]:
            return control.handle(self, req, parts[1:])
        if (
            parts[:1] == [".well-known"]
            and len(parts) == 2
            and parts[1]
            in (
                "openid_configuration",
                "openid_sandbox_configuration",
            )
        ):
            return json_response(200, dict(self.oauth.discovery(self.base_url)), stamp=False)
        if parts == ["op", "v1", "jwks"]:
            return json_response(200, {"keys": []}, stamp=False)
        if parts == ["connect", "oauth2"]:
            return self.oauth.authorize(req)
        if parts == ["oauth2", "v1", "tokens", "bearer"] and req.method == "POST":
            response, grant_type = self.oauth.token(req)
            if grant_type is not None:
                self.stats.count(self.stats.token_requests, grant_type)
            return response
        if parts == ["v2", "oauth2", "tokens", "revoke"] and req.method == "POST":
            return self.oauth.revoke(req)
        if parts == ["v1", "openid_connect", "userinfo"]:
            return self.oauth.userinfo(req)
        return html.handle(self.store, req, parts)

    def api_request(self, req: Request, realm_id: str, rest: list[str]) -> Response:
        self.stats.count(self.stats.requests, realm_id)
        config = self.config
        faults = self.faults
        planned = faults.for_request(realm_id, batch=rest == ["batch"])
        if planned.throttled:
            faults.count("429")
            return self._throttled(realm_id, max(1, math.ceil(self.clock.scaled(60))))
        if planned.status is not None:
            faults.count(f"5xx_{planned.status}")
            return server_error(planned.status)
        if planned.drop_before:
            faults.count("drop_before")
            return Response(0, b"", "text/plain", drop=True)
        check = self.oauth.check_bearer(req, realm_id)
        if check.response is not None:
            return check.response
        assert check.client_id is not None
        throttle = self.throttle
        try:
            with throttle.admit(realm_id, check.client_id, batch=rest == ["batch"]):
                if planned.slow:
                    faults.count("slow")
                    self.clock.sleep(config.slow_seconds)
                options = ApiOptions(
                    sku_in_select_star=config.sku_in_select_star,
                    batch_max_items=config.batch_max_items,
                    cdc_cap_order=config.cdc_cap_order,
                    cdc_spurious_deleted=config.cdc_spurious_deleted,
                    naive_time_zone=config.naive_time_zone,
                )
                response, events = api.handle(self.store, options, realm_id, rest, req)
        except Throttled as refused:
            return self._throttled(realm_id, refused.retry_after)
        self._publish(events)
        if planned.drop_after:
            faults.count("drop_after")
            response.drop = True
        elif planned.drop_after_batch:
            faults.count("drop_after_batch")
            response.drop = True
        return response

    def _throttled(self, realm_id: str, retry_after: int) -> Response:
        self.stats.count(self.stats.throttled, realm_id)
        if self.config.throttle_xml:
            response = Response(429, throttle_fault_xml(), "application/xml")
        else:
            response = Response(429, dump_json(throttle_fault_json()), "application/json")
        response.headers.append(("Retry-After", str(retry_after)))
        return response

    def _publish(self, events: list[Event]) -> None:
        if self.dispatcher is None or not events:
            return
        self.dispatcher.publish(
            [
                ChangeEvent(
                    realm_id=e.realm_id,
                    entity=e.entity,
                    entity_id=e.entity_id,
                    operation=e.operation,
                    occurred_at=datetime.fromtimestamp(e.ms / 1000, COMPANY_TZ),
                )
                for e in events
            ]
        )
