"""No query string reaches a 5xx on a list page, and none widens a partner's scope.

Every page of ours that answers GET without path parameters is found by walking the
URLconf (tests/urlwalk.py). The ones that read the query string are named in READS_QUERY
with the parameters they read, and get the full number of examples; the others, a new page
included until it is named there, get a few examples with every known name. Each example is
one query string, built from raw percent-encoded pieces so that it can carry what no form
would send: NUL (%00), bytes that are not UTF-8 (%FF), truncated or
malformed escapes, huge and non-finite numbers, unicode digits, repeated and unknown
names. It is sent as plain GET and as htmx requests, by every role the page allows,
in a database where partner A (alice) and partner B (bob) both have a row on every list
(tests/access_objects.py). Each answer must be below 500; a 4xx must say something a
person can read; a partner user must see none of the other partner's rows, whatever the
filters name; and a GET must write nothing.

The table's own parameters (``sort``, ``page``, ``format``; common/tables.py) and the
page filters (their forms) share one convention: a value that does not parse is ignored
(filters are shown with their error) and the page falls back to its default. So the
answer to every example is a 200, which the property checks for those pages.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import quote, unquote

import pytest
from django.db import connection as db
from django.test import Client
from django.urls import reverse
from django.utils.html import escape
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.models import User
from accounts.roles import Role
from billing.selectors import AGING_BUCKETS
from billing.views import OPEN_INVOICES, PAYMENTS, RECEIVABLES
from inventory.push.views import JOBS
from inventory.reports.selectors import STATUSES, WINDOW_CHOICES
from inventory.reports.views import DEPLETION, DISCREPANCIES, REGION
from tests.access_objects import Side, World, world_build
from tests.conftest import signed_in
from tests.urlwalk import WalkedURL, walk

pytestmark = pytest.mark.django_db

# --- Which pages ---------------------------------------------------------------------------

# Pages that read the query string, and the names they read: their filters' forms, and
# the shared table's sort, page and format. Each is fuzzed with every example as every
# role it allows.
TABLE = ("sort", "page", "format")
READS_QUERY: dict[str, tuple[str, ...]] = {
    "billing:invoices": ("partner", "customer", "bucket", "due_from", "due_to", *TABLE),
    "billing:payments": (
        "partner",
        "date_from",
        "date_to",
        "customer",
        "reference",
        "amount",
        *TABLE,
    ),
    "billing:receivables": ("partner", "customer", "overdue", "bucket", *TABLE),
    # No filters and no export: sort and page only.
    "billing:deleted_invoices": ("sort", "page"),
    "billing:receivables_csv": ("partner", "customer", "overdue", "bucket", *TABLE),
    "inventory:discrepancies": ("partner", "status", "sku", *TABLE),
    "inventory:depletion": ("partner", "sku", "window", "threshold", *TABLE),
    "inventory:stock_ledger": ("partner", "sku", "start", "end", "unit", *TABLE),
    "inventory:sell_through": ("partner", "sku", "start", "end", "group", "unit", *TABLE),
    "inventory:placements": (
        "partner",
        "sku",
        "channel",
        "month",
        "new_months",
        "lost_days",
        *TABLE,
    ),
    "inventory:channels": ("partner", "channel", "source", "q", *TABLE),
    "inventory:push_jobs": ("partner", "status", "kind", *TABLE),
    "inventory:catalog": ("q", "active"),
    "inventory:catalog_export": ("q", "active"),
    "inventory:conflicts": ("partner", "kind"),
    "inventory:push_stock_new": ("partner", "sku"),
    "inventory:push_items_new": ("partner", "sku", "conflict"),
    "history:trends": ("partner",),
    "allowances:programs": TABLE,
    "allowances:claims": ("partner", "status", "program", *TABLE),
    "allowances:payments": ("claim", *TABLE),
    "allowances:claim_new": ("program",),
}
# Pages whose GET reads the query string and has its own property module.
FUZZED_ELSEWHERE = {
    "sync:callback": "tests/sync/test_callback_properties.py",
    "sync:disconnected": "tests/sync/test_callback_properties.py",
}
# Public endpoints: POST-only (webhooks, the warehouse API) or a health probe that pings
# the Celery workers for a second, none of them a page that reads a query string.
NOT_PAGES = {"sync:webhooks", "inventory:warehouse_api_snapshots", "healthz"}

ROLE_USERS = {Role.PARTNER: ("alice", "bob"), Role.STAFF: ("sam",), Role.ADMIN: ("ada",)}


def _own_get_pages() -> list[WalkedURL]:
    return [u for u in walk() if u.is_ours and not u.params and u.name not in NOT_PAGES]


PAGES = [u for u in _own_get_pages() if u.name in READS_QUERY]
OTHER_PAGES = [
    u for u in _own_get_pages() if u.name not in READS_QUERY and u.name not in FUZZED_ELSEWHERE
]


def _people(url: WalkedURL) -> list[str]:
    """The cast members the page allows: both partner users when partners may use it."""
    roles: frozenset[Role] = getattr(url.view, "allowed_roles", frozenset())
    return [who for role in Role if role in roles for who in ROLE_USERS[role]]


# --- What a query string is made of ----------------------------------------------------------

KNOWN_NAMES = sorted({name for names in READS_QUERY.values() for name in names})

# Valid values, so that examples also reach the code behind a filter that parsed.
SORT_KEYS = sorted(
    {c.key for table in (OPEN_INVOICES, PAYMENTS, RECEIVABLES, DISCREPANCIES, DEPLETION, JOBS)
     for c in table.columns}
)  # fmt: skip
PLAUSIBLE: dict[str, list[str]] = {
    "customer": ["Customer of partner", "Château"],
    "bucket": [b.key for b in AGING_BUCKETS],
    "overdue": ["on", "true", "1"],
    "reference": ["CHK-", "INV"],
    # Amounts as people type them, the world's payment of 20.00 among them.
    "amount": ["20", "20.00", "$20", "1,200.00", "$1,200", "0.5"],
    "due_from": ["2025-01-01"],
    "due_to": ["2030-12-31"],
    "date_from": ["2025-01-01"],
    "date_to": ["2030-12-31"],
    # The accounts page's month (earlier ones, one still to come; none is this month) and
    # its settings, each bound just inside and just outside its range.
    "month": ["2025-01", "2024-12", "1999-12", "2999-01", "0001-01", "0001-06"],
    "new_months": ["1", "6", "60", "61"],
    "lost_days": ["1", "90", "730", "731"],
    "status": [key for key, _ in STATUSES] + ["draft", "done", "failed"],
    "window": [str(days) for days in WINDOW_CHOICES],
    "threshold": ["1", "14", "365", "366"],
    "q": ["UF", "Wine", "Customer of partner"],
    "channel": ["on_premise", "off_premise", "other", "ON_PREMISE"],
    "source": ["override", "rule", "customer_type", "none"],
    "active": ["yes", "no"],
    "kind": ["stock", "items", "unmapped", "ambiguous"],
    "conflict": ["1"],
    "format": ["csv", "CSV", "json", "csv "],
    "page": ["1", "2"],
    "sort": [*SORT_KEYS, *(f"-{key}" for key in SORT_KEYS), "--due_date", "-", " -balance"],
}

# Numbers that have broken parsers before: out of every integer range, non-finite, or
# written in unicode digits (which str.isdigit() accepts and int() may not).
NUMBERISH = [
    "0", "-1", "+1", "-0", "1.5", "1_000", "0x1F", "1e3", "1e999", "-1e999", "1e-999", "NaN",
    "inf", "-Infinity", "9" * 19, "9" * 40, "9" * 5000, "-9223372036854775809", "²", "١٢",
    "𝟙𝟚", "Ⅻ", " 7 ", "³", "1²", "①", "₂", "٣٤",
]  # fmt: skip
# Other text that has: impossible dates, control and invisible characters, markup, SQL.
NASTY = [
    "", " ", "nan", "0000-00-00", "2025-02-30", "9999-12-31", "10000-01-01", "0001-01-01",
    "-2025-01-01", "2025-W10", "2025-13-01", "\x00", "a\x00b", "\t", "\r\n", "\u202e",
    "\ufeff", "\u200b", "null", "None", "[]", "{}", "' OR 1=1 --",
    "<script>alert(1)</script>", "../../etc/passwd", "%", "€" * 300,
]  # fmt: skip
# Query-string fragments taken as they are: escapes no browser would send.
RAW = [
    "%00", "%FF", "%C0%80", "%ED%A0%80", "%F4%90%80%80", "%E2%82", "%", "%G1", "%2", "%%",
    "%u0041", "+", "++", "%2B", "%26", "%3D", "=", "==",
]  # fmt: skip


def encoded(text: str) -> str:
    return quote(text, safe="")


def escaped_bytes(data: bytes) -> str:
    return "".join(f"%{byte:02X}" for byte in data)


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, each as likely as its weight says. (``one_of`` weighs its
    branches about evenly whatever they are, and repeating a branch there does not make
    it likelier.)"""
    return st.sampled_from([s for weight, s in choices for _ in range(weight)]).flatmap(
        lambda strategy: strategy
    )


def values(plausible: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(plausible).map(encoded) if plausible else st.nothing(),
        st.sampled_from(NUMBERISH).map(encoded),
        # Digits of other scripts, superscripts, fractions, numerals: str.isdigit() is
        # true for some, int() reads some, and the two sets differ.
        st.text(st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=4).map(encoded),
        st.sampled_from(NASTY).map(encoded),
        st.sampled_from(RAW),
        st.text(max_size=40).map(encoded),
        st.binary(max_size=24).map(escaped_bytes),
        st.integers().map(str),
        st.floats().map(lambda f: encoded(repr(f))),
        st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat),
    )


def valid_pairs(
    names: tuple[str, ...], extra: dict[str, list[str]]
) -> st.SearchStrategy[list[str]]:
    """A query a person could have made with the page's own form and links: each of its
    names at most once, with a value that parses."""
    choices = {name: PLAUSIBLE.get(name, []) + extra.get(name, []) for name in names}
    return st.fixed_dictionaries(
        {},
        optional={
            name: st.sampled_from(options).map(encoded)
            for name, options in choices.items()
            if options
        },
    ).map(lambda chosen: [f"{name}={value}" for name, value in chosen.items()])


def wild_pair(names: tuple[str, ...], extra: dict[str, list[str]]) -> st.SearchStrategy[str]:
    """One piece no form sends: one of the page's names with any value (so names repeat;
    the last one wins), another page's name, an unknown name, a bare name, or an empty
    piece."""

    def pair(pick: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return pick.flatmap(
            lambda name: values(PLAUSIBLE.get(name, []) + extra.get(name, [])).map(
                lambda value: f"{name}={value}"
            )
        )

    unknown = st.tuples(
        st.one_of(st.text(max_size=12).map(encoded), st.sampled_from(RAW)), values([])
    ).map(lambda pair: f"{pair[0]}={pair[1]}")
    bare = st.sampled_from([*names, "", "=", "&"])
    return weighted(
        (3, pair(st.sampled_from(names))),
        (1, pair(st.sampled_from(KNOWN_NAMES))),
        (1, unknown),
        (1, bare),
    )


def query_strings(names: tuple[str, ...], extra: dict[str, list[str]]) -> st.SearchStrategy[str]:
    """Mostly a valid query with a few wild pieces in it, in any order: a bug behind one
    bad parameter often needs the others to be good (a partner picked, say) to show."""
    return (
        st.tuples(valid_pairs(names, extra), st.lists(wild_pair(names, extra), max_size=4))
        .map(lambda parts: parts[0] + parts[1])
        .flatmap(st.permutations)
        .map("&".join)
    )


def htmx_headers() -> st.SearchStrategy[dict[str, str]]:
    targets = st.sampled_from(["", REGION, "depletion-table", "invoice-table", "#x", "\u00e9"])
    return st.one_of(
        st.just({}),
        st.fixed_dictionaries(
            {"HX-Request": st.just("true")},
            optional={
                "HX-Target": targets,
                "HX-Boosted": st.sampled_from(["true", "false", ""]),
                "HX-Trigger-Name": st.sampled_from(["page", "sort", "\u00e9"]),
                "HX-Current-URL": st.sampled_from(["http://testserver/x?y=1", "::", ""]),
            },
        ),
    )


# --- What every answer must hold ------------------------------------------------------------


@pytest.fixture
def world(cast: dict[str, User]) -> World:
    return world_build(alice=cast["alice"], bob=cast["bob"], admin=cast["ada"])


@pytest.fixture
def clients(cast: dict[str, User]) -> dict[str, Client]:
    return {who: signed_in(user) for who, user in cast.items()}


def partner_values(world: World) -> dict[str, list[str]]:
    """Filter values naming each partner in every spelling a filter might take: the other
    partner's among them is how a partner user would try to widen their scope."""
    ids = [str(side.partner.pk) for side in world.sides]
    slugs = [side.partner.slug for side in world.sides]
    return {
        "partner": [*ids, *slugs, f"{ids[0]},{ids[1]}", f" {ids[1]} ", f"{ids[1]}.0"],
        "sku": [side.sku_code for side in world.sides],
        "customer": ["Customer of partner", "%"],
    }


def body_of(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8-sig", errors="replace")
    return str(response.content.decode("utf-8", errors="replace"))


_TAG = re.compile(r"<[^>]*>")


def assert_readable_refusal(response: Any, body: str, context: str) -> None:
    """A 4xx answer says, in words, what went wrong."""
    if 400 <= response.status_code < 500:
        words = re.findall(r"[A-Za-z]{3,}", _TAG.sub(" ", body))
        assert len(words) >= 2, f"{context}: {response.status_code} without a message: {body!r}"


def assert_nothing_of(other: Side, body: str, query: str, context: str) -> None:
    """None of the other partner's rows shows. A marker the query itself spells is left
    out: the page may echo a filter value back (in its form, in its links)."""
    sent = unquote(query, errors="replace")
    leaked = [m for m in other.markers if m not in sent and (m in body or escape(m) in body)]
    assert not leaked, f"{context} shows partner {other.tag}'s {leaked}"


def writes() -> int:
    """Rows inserted, updated or deleted by this test's transaction so far, sessions
    aside (the test client's sign-in keeps one). PostgreSQL counts them per transaction
    in pg_stat_xact_user_tables, whatever model or raw SQL did the writing."""
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)"
            " FROM pg_stat_xact_user_tables WHERE relname <> 'django_session'"
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def get(client: Client, url: WalkedURL, query: str, headers: dict[str, str]) -> tuple[Any, str]:
    path = f"{url.path}?{query}" if query else url.path
    response = client.get(path, headers=headers)
    return response, body_of(response)


def check_page(
    url: WalkedURL,
    query: str,
    headers: dict[str, str],
    *,
    clients: dict[str, Client],
    cast: dict[str, User],
    world: World,
    expect: Callable[[WalkedURL, Any], None] | None = None,
) -> None:
    for who in _people(url):
        context = f"GET {url.path}?{query} as {who} with {headers}"
        before = writes()
        response, body = get(clients[who], url, query, headers)
        assert response.status_code < 500, f"{context}: {response.status_code}"
        assert_readable_refusal(response, body, context)
        assert writes() == before, f"{context} wrote to the database"
        own = world.side_of(cast[who])
        if own is not None:
            assert_nothing_of(world.other(own), body, query, context)
        if expect is not None:
            expect(url, response)


def _list_answer(url: WalkedURL, response: Any) -> None:
    # Bad parameters are ignored or shown next to their field: the page still renders.
    # (The drafting pages too: a partner they cannot draft for leaves their form empty.)
    assert response.status_code == 200, (url, response.status_code)


# --- The properties --------------------------------------------------------------------------


@pytest.mark.parametrize("url", PAGES, ids=str)
@given(data=st.data())
def test_no_query_string_breaks_a_list_page_or_widens_a_partners_scope(
    url: WalkedURL,
    data: st.DataObject,
    world: World,
    clients: dict[str, Client],
    cast: dict[str, User],
) -> None:
    names = READS_QUERY[url.name or ""]
    query = data.draw(query_strings(names, partner_values(world)), label="query")
    headers = data.draw(htmx_headers(), label="headers")
    check_page(url, query, headers, clients=clients, cast=cast, world=world, expect=_list_answer)


@pytest.mark.parametrize("url", OTHER_PAGES, ids=str)
@settings(max_examples=10)
@given(data=st.data())
def test_pages_that_read_no_query_string_ignore_any(
    url: WalkedURL,
    data: st.DataObject,
    world: World,
    clients: dict[str, Client],
    cast: dict[str, User],
) -> None:
    # Fewer examples: these views never look at the query, so what is being tested is
    # the middleware and templates around them (and htmx headers), not a parser.
    names = tuple(KNOWN_NAMES)
    query = data.draw(query_strings(names, partner_values(world)), label="query")
    headers = data.draw(htmx_headers(), label="headers")
    check_page(url, query, headers, clients=clients, cast=cast, world=world)


def test_every_page_of_ours_is_fuzzed_somewhere() -> None:
    names = {u.name for u in _own_get_pages()}
    assert {"billing:invoices", "inventory:depletion"} <= {u.name for u in PAGES}
    gone = set(READS_QUERY) - names
    assert not gone, f"READS_QUERY names pages that are gone: {gone}"
    assert set(FUZZED_ELSEWHERE) <= names
    assert reverse("billing:invoices") in {u.path for u in PAGES}


# --- Examples --------------------------------------------------------------------------------

# A row each list page shows of its partner's, to tell "scoped" from "empty".
OWN_ROW: dict[str, Callable[[Side], str]] = {
    "billing:invoices": lambda side: side.invoice_number,
    "billing:payments": lambda side: side.payment_reference,
    "billing:receivables": lambda side: side.customer,
    "inventory:discrepancies": lambda side: side.sku_code,
    "inventory:depletion": lambda side: side.sku_code,
    "inventory:placements": lambda side: side.sku_code,
    "inventory:push_jobs": lambda side: side.partner_name,
    "history:trends": lambda side: side.partner_name,
    "allowances:claims": lambda side: side.program_name,
}


@pytest.mark.parametrize("name", sorted(OWN_ROW))
@pytest.mark.parametrize("spelling", ["pk", "slug", "both"])
@pytest.mark.parametrize("export", [False, True], ids=["page", "csv"])
def test_a_partner_filter_naming_the_other_partner_never_widens_a_partner_users_scope(
    name: str, spelling: str, export: bool, world: World, alice: User
) -> None:
    other = world.b.partner
    named = {
        "pk": [str(other.pk)],
        "slug": [other.slug],
        "both": [str(world.a.partner.pk), str(other.pk)],
    }
    query: dict[str, list[str]] = {"partner": named[spelling]}
    if export:
        query["format"] = ["csv"]
    response = signed_in(alice).get(reverse(name), query)
    assert response.status_code == 200
    body = body_of(response)
    assert_nothing_of(world.b, body, "", f"{name} as alice with {query}")
    # Still her own rows: the filter was ignored, not turned into an empty page.
    own = OWN_ROW[name](world.a)
    assert own in body or escape(own) in body, f"{name} lost alice's own {own!r}"
