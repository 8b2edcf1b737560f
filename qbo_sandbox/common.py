"""Shared helpers: the company clock and zone, money arithmetic, and Intuit's fault shapes."""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

# Every sandbox company lives in Intuit's home zone; QBO stamps MetaData and `time`
# in the company's zone with its offset, e.g. 2025-01-01T10:00:00-08:00.
COMPANY_TZ = ZoneInfo("America/Los_Angeles")
# The zone a timestamp WITHOUT an offset is read in (CDC's `changedSince`, query date-time
# literals). Which zone Intuit uses is [unconfirmed]; the switch `naive_time_zone`
# (`--naive-time-zone`, /_sandbox/config) picks it, company time by default. It is set
# per request (api.handle), so a ContextVar: the server is threaded, and one request
# must never change the zone under another.
DEFAULT_NAIVE_TIME_ZONE = "America/Los_Angeles"
_NAIVE_ZONE: ContextVar[ZoneInfo] = ContextVar("qbo_sandbox_naive_zone", default=COMPANY_TZ)
CENT = Decimal("0.01")

JSON = dict[str, Any]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@functools.lru_cache(maxsize=8192)
def _zone_offset(hour: int) -> tuple[int, str]:
    """The company zone's UTC offset during one UTC hour, in seconds and as "-08:00".

    US daylight-saving changes happen on whole UTC hours, so one lookup per hour is
    exact; the bulk seed stamps hundreds of thousands of objects through here.
    """
    offset = datetime.fromtimestamp(hour * 3600, COMPANY_TZ).utcoffset()
    seconds = int(offset.total_seconds()) if offset else 0
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return seconds, f"{'-' if seconds < 0 else '+'}{hours:02d}:{minutes:02d}"


def qbo_time(ms: int) -> str:
    """An entity timestamp as QBO prints it: seconds precision, company offset."""
    seconds = ms // 1000
    offset, suffix = _zone_offset(seconds // 3600)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds + offset)) + suffix


def body_time() -> str:
    """The `time` member of a JSON body: milliseconds, company offset."""
    return datetime.now(COMPANY_TZ).isoformat(timespec="milliseconds")


def company_today() -> date:
    return datetime.now(COMPANY_TZ).date()


def new_intuit_tid() -> str:
    # Intuit's transaction ids look like 1-628f0be4-19ed5ea63980105102b16b1e.
    return f"1-{secrets.token_hex(4)}-{secrets.token_hex(12)}"


def load_zone(name: str) -> ZoneInfo:
    """An IANA zone by name ("UTC", "Etc/GMT+12"); ValueError when none loads by that name."""
    try:
        return ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError (a KeyError), ValueError, OSError...
        raise ValueError(f"no time zone named {name!r}") from None


def naive_zone() -> ZoneInfo:
    """The zone this request reads timestamps without an offset in."""
    return _NAIVE_ZONE.get()


@contextmanager
def naive_time_zone(zone: ZoneInfo) -> Iterator[None]:
    """Read timestamps without an offset in `zone` for the block (this request only)."""
    token = _NAIVE_ZONE.set(zone)
    try:
        yield
    finally:
        _NAIVE_ZONE.reset(token)


def parse_timestamp(text: str) -> datetime:
    """An ISO date or datetime; one without an offset is read in ``naive_zone()``.

    pyqb sends `changedSince` without a zone. Which zone QBO reads it in is [unconfirmed];
    the switch `naive_time_zone` (default America/Los_Angeles, the company's zone, since
    QBO documents its times in it) decides. A bare date is midnight in that zone. A
    value carrying an offset (or Z) means what it says whatever the switch.
    """
    value = text.strip()
    zone = naive_zone()
    if len(value) == 10:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), zone)
    # Python 3.11 accepts "Z" and "+hh:mm"; Intuit's own examples also use "-0700".
    if len(value) > 5 and value[-5] in "+-" and value[-4:].isdigit() and ":" not in value[-5:]:
        value = f"{value[:-2]}:{value[-2:]}"
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


# ---------------------------------------------------------------- numbers


def dec(value: Any, element: str) -> Decimal:
    """A JSON number (or numeric string, as pyqb sends Decimals) as a Decimal."""
    if isinstance(value, bool):
        raise invalid_value(element, value)
    if isinstance(value, int):
        return Decimal(value)
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise invalid_value(element, value) from None
    if not result.is_finite():
        raise invalid_value(element, value)
    return result


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def num(value: Decimal) -> int | float:
    """A Decimal as the JSON number QBO prints: 10 for whole values, 337.5 otherwise."""
    whole = int(value)
    return whole if whole == value else float(value)


# ---------------------------------------------------------------- faults


class Fault(Exception):
    """An Intuit fault: raised anywhere in request handling, rendered as the Fault body."""

    def __init__(
        self,
        code: str,
        message: str,
        detail: str,
        *,
        element: str = "",
        status: int = 400,
        fault_type: str = "ValidationFault",
    ) -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.code = code
        self.message = message
        self.detail = detail
        self.element = element
        self.status = status
        self.fault_type = fault_type

    def fault(self) -> JSON:
        error = {
            "Message": self.message,
            "Detail": self.detail,
            "code": self.code,
            "element": self.element,
        }
        return {"Error": [error], "type": self.fault_type}

    def body(self) -> JSON:
        return {"Fault": self.fault()}


def required_missing(element: str) -> Fault:
    return Fault(
        "2020",
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {element} is missing in the request",
        element=element,
    )


def invalid_value(element: str, value: Any) -> Fault:
    return Fault(
        "2010",
        "Request has invalid or unsupported property",
        f"Property Name:{element} specified has an invalid value: {value!r}",
        element=element,
    )


def invalid_enum(element: str, value: Any) -> Fault:
    return Fault("2170", "Invalid Enumeration", f"Invalid Enumeration : {value}", element=element)


def invalid_reference(element: str, entity: str, ref_id: Any) -> Fault:
    return Fault(
        "2500",
        "Invalid Reference Id",
        f"Invalid Reference Id : {entity} element id {ref_id} not found",
        element=element,
    )


def object_not_found(detail: str = "") -> Fault:
    return Fault(
        "610",
        "Object Not Found",
        "Object Not Found : Something you're trying to use has been made inactive. "
        "Check the fields with accounts, customers, items, vendors or employees."
        + (f" ({detail})" if detail else ""),
    )


def stale_object(entity: str, entity_id: str) -> Fault:
    return Fault(
        "5010",
        "Stale Object Error",
        "Stale Object Error : You and API API were working on this at the same time. "
        f"API API finished before you did, so your work was not saved. ({entity} Id={entity_id})",
    )


def business_error(detail: str, *, code: str = "6000") -> Fault:
    return Fault(
        code,
        "A business validation error has occurred while processing your request",
        f"Business Validation Error: {detail}",
    )


def unsupported_operation(detail: str) -> Fault:
    return Fault("500", "Unsupported Operation", f"Operation {detail} is not supported.")


def system_fault(detail: str) -> Fault:
    return Fault(
        "10000",
        "An application error has occurred while processing your request",
        f"System Failure Error: {detail}",
        status=500,
        fault_type="SystemFault",
    )


def gateway_fault(status: int, code: str, name: str, detail: str, fault_type: str) -> JSON:
    """The API gateway's lower-case fault (401, 403) with `time` in epoch ms
    (docs/qbo-api.md §7)."""
    message = f"message={name}; errorCode={int(code):06d}; statusCode={status}"
    return {
        "fault": {
            "error": [{"message": message, "detail": detail, "code": code, "element": None}],
            "type": fault_type,
        },
        "time": now_ms(),
    }
