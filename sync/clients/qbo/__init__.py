"""QuickBooks Online: the only code in unefemme that talks to Intuit.

It wraps the two clients Intuit documents, python-quickbooks (``QuickBooks``) for the
Accounting API and intuit-oauth (``AuthClient``) for OAuth, and adds what neither does
(docs/qbo-api.md; docs/reliability.md 8, 11, 24): timeouts, retries with backoff and the
per-realm rate limiter (§5), token refresh on 401 (§10), ``intuit_tid`` on every fault
(§7), and escaped query text (§2).

Import it from here (``from sync.clients import qbo``); what this module exports is the
package's interface, and the submodules are its parts, each with one role:

- ``errors``: ``QBOError`` and its subclasses, whose text is ours, never a response body.
- ``records``: the typed records calls take and return (``TokenSet``, ``QueryPage``,
  ``CDCBatch``, ``CustomerType``, ``Meter``, ``BatchOperation``, ``BatchOutcome``, ``TokenSource``).
- ``query``: query text (``quote``, ``statement``), the one way a value enters a query.
- ``http``: the HTTP seam: the two sessions every request goes through, timeouts, what is
  kept of an answer, and the discovery document, fetched once per process.
- ``retry``: backoff and the retry loop, for the Accounting API and OAuth alike.
- ``accounting``: ``QBOClient``, the Accounting API for one realm.
- ``oauth``: the consent URL, the code exchange, token refresh and revocation.

QBO's numbers and timestamps (``json_number``, ``parse_time``) are read the same way by the
mirror, so they live in ``common.qbo_json`` and are re-exported here.
"""

from __future__ import annotations

from common.qbo_json import json_number, parse_time

from .accounting import (
    BATCH_ID_MAX,
    BATCH_LIMIT,
    BATCH_REQUEST_ID_MAX,
    CDC_LIMIT,
    MINOR_VERSION,
    PAGE_SIZE,
    QBOClient,
    StaticToken,
    fetch_company_name,
)
from .errors import CDCTooOld, OAuthCallbackError, QBOError, ReconnectRequired
from .http import discovery_url, forget_discovery
from .oauth import ACCOUNTING_SCOPE, authorization_url, exchange_code, refresh_tokens, revoke
from .query import EXTRA_FIELDS, HAS_ACTIVE, QueryValue, quote, statement
from .records import (
    BatchOperation,
    BatchOutcome,
    CDCBatch,
    CustomerType,
    Meter,
    QueryPage,
    Report,
    ReportRow,
    TokenSet,
    TokenSource,
)

__all__ = [
    "ACCOUNTING_SCOPE",
    "BATCH_ID_MAX",
    "BATCH_LIMIT",
    "BATCH_REQUEST_ID_MAX",
    "CDC_LIMIT",
    "EXTRA_FIELDS",
    "HAS_ACTIVE",
    "MINOR_VERSION",
    "PAGE_SIZE",
    "BatchOperation",
    "BatchOutcome",
    "CDCBatch",
    "CDCTooOld",
    "CustomerType",
    "Meter",
    "OAuthCallbackError",
    "QBOClient",
    "QBOError",
    "QueryPage",
    "QueryValue",
    "Report",
    "ReportRow",
    "ReconnectRequired",
    "StaticToken",
    "TokenSet",
    "TokenSource",
    "authorization_url",
    "discovery_url",
    "exchange_code",
    "fetch_company_name",
    "forget_discovery",
    "json_number",
    "parse_time",
    "quote",
    "refresh_tokens",
    "revoke",
    "statement",
]
