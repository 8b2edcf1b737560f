"""Deny by default, proven for every URL the project serves.

One walk of the URLconf (tests/urlwalk.py) drives these tests, so a new URL cannot skip
them: every URL is opened by a stranger, by partner A's user (alice), partner B's user
(bob), staff (sam) and an admin (ada). Our URLs with parameters are opened with real
objects of partner A and of partner B (tests/access_objects.py), in a database where both
partners have rows on every list page, and partner users' answers are searched for the
other partner's rows.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from accounts.middleware import OWN_VIEW_MODULES
from accounts.models import User
from accounts.roles import Role
from tests.access_objects import OBJECT_URLS, OK, Answer, Kwargs, Side, World, world_build
from tests.conftest import signed_in
from tests.urlwalk import WalkedURL, walk

# The only views an anonymous visitor may reach: signing in and its recovery steps,
# the two-factor step of signing in, and the health probe.
PUBLIC_URL_NAMES = {
    "healthz",
    "account_login",
    "account_signup",  # answers "sign-up is closed"
    "account_reset_password",
    "account_reset_password_done",
    "account_reset_password_from_key",
    "account_reset_password_from_key_done",
    "account_confirm_email",
    "account_email_verification_sent",
    "account_inactive",
    "account_login_code_confirm",
    "account_request_login_code",
    "mfa_authenticate",
    "mfa_login_webauthn",
    "mfa_signup_webauthn",
    "admin:login",  # redirects to account_login (see unefemme/urls.py)
    "sync:webhooks",  # Intuit's POSTs, authenticated by their intuit-signature (401 without)
    "inventory:warehouse_api_snapshots",  # warehouse pushes, by API token (401 without)
    # An invitee has no account yet: the signed token in the link (checked against the
    # invitation row, single-use) is the credential; tests/onboarding covers it.
    "onboarding:accept",
}

# What our public views answer a signed-in person's GET: the same as anyone's, since they
# read no session. /healthz is left out of the walk for signed-in people: it pings the
# Celery workers for a second, and tests/dashboard/test_healthz.py covers it.
PUBLIC_GET_ANSWERS = {
    "sync:webhooks": 405,
    "inventory:warehouse_api_snapshots": 405,
    # "You are signed in: sign out to accept", naming nothing of the invitation.
    "onboarding:accept": 200,
}

# Our pages without parameters answer a GET from the roles they allow with 200, except:
PAGE_ANSWERS = {
    # The OAuth callback without a state from this session is a bad request by design.
    "sync:callback": Answer(400),
}

ALL_URLS = list(walk())
OWN_URLS = [u for u in ALL_URLS if u.is_ours]
# Our pages behind a role (tests/test_mfa.py walks them for the second factor).
OWN_PAGES = [u for u in OWN_URLS if getattr(u.view, "allowed_roles", None)]
WHO = ("anonymous", "alice", "bob", "sam", "ada")
ROLE_OF = {"alice": Role.PARTNER, "bob": Role.PARTNER, "sam": Role.STAFF, "ada": Role.ADMIN}


def _is_public(url: WalkedURL) -> bool:
    return getattr(url.view, "login_required", True) is False


def _allows(url: WalkedURL, who: str) -> bool:
    return who in ROLE_OF and ROLE_OF[who] in getattr(url.view, "allowed_roles", ())


def _family(url: WalkedURL) -> str:
    if url.is_ours:
        return "ours"
    if url.route.startswith("/admin/"):
        return "admin"  # the Django admin site, its redirects and its view-on-site
    if url.module.startswith("allauth."):
        return "allauth"
    return "unknown"


@pytest.fixture
def world(cast: dict[str, User]) -> World:
    return world_build(alice=cast["alice"], bob=cast["bob"], admin=cast["ada"])


def _client(who: str, cast: dict[str, User]) -> Client:
    return Client() if who == "anonymous" else signed_in(cast[who])


def _body(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8-sig")
    return str(response.content.decode("utf-8", errors="replace"))


def _mentions(text: str, marker: str) -> bool:
    return marker in text or escape(marker) in text


def _assert_nothing_of(other: Side, text: str, context: str) -> None:
    leaked = [m for m in other.markers if _mentions(text, m)]
    assert not leaked, f"{context} shows partner {other.tag}'s {leaked}"


def _targets(url: WalkedURL, world: World) -> list[tuple[Side | None, Kwargs, str]]:
    """What to open for one of our URLs: its path, or for a URL with parameters a real
    object of each partner, as (side, kwargs, path)."""
    if not url.params:
        return [(None, {}, url.path)]
    entry = OBJECT_URLS.get(url.name or "")
    if entry is None:
        pytest.fail(
            f"{url} takes parameters but has no entry in OBJECT_URLS (tests/access_objects.py). "
            "Add a function that makes a real object for a partner and returns the kwargs "
            "for reverse(), and the answer its view gives on GET (see that module's docstring)."
        )
    targets: list[tuple[Side | None, Kwargs, str]] = []
    for side in world.sides:
        kwargs = entry.make(side)
        targets.append((side, kwargs, reverse(url.name or "", kwargs=kwargs)))
    return targets


def _database() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of our apps, to prove a refused request changed nothing."""
    rows = {}
    for label in ("accounts", "sync", "inventory", "billing", "reconciliation"):
        for model in apps.get_app_config(label).get_models():
            values = model._base_manager.order_by("pk").values_list()
            rows[model._meta.label] = [
                tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in values
            ]
    return rows


def _assert_sent_to_sign_in(response: Any, context: str) -> None:
    # The admin hops through its own login URL first, which hands over to allauth's.
    assert response.redirect_chain, f"{context} answered {response.status_code} to a stranger"
    assert response.redirect_chain[-1][0].startswith(reverse("account_login")), context
    assert response.status_code == 200


def test_the_walk_finds_our_pages() -> None:
    names = {u.name for u in ALL_URLS}
    assert {"dashboard", "healthz", "billing:invoices", "inventory:conflicts"} <= names
    # The pages that look across every app are the dashboard app's, and ours to check.
    across = {u.name: u for u in ALL_URLS if u.name in ("dashboard", "healthz")}
    assert {name: u.module for name, u in across.items()} == {
        "dashboard": "dashboard.views",
        "healthz": "dashboard.views",
    }
    assert all(u.is_ours for u in across.values())


def test_every_url_belongs_to_a_family_this_module_checks() -> None:
    unknown = [str(u) for u in ALL_URLS if _family(u) == "unknown"]
    assert not unknown, f"say how tests/test_access_by_url.py should check {unknown}"


def test_every_url_of_ours_with_parameters_has_real_objects() -> None:
    # Sample ids that do not exist would answer 404 to everyone and prove nothing about
    # who may see which partner's object.
    missing = [str(u) for u in OWN_URLS if u.params and u.name not in OBJECT_URLS]
    assert not missing, (
        f"no real objects for {missing}: add each to OBJECT_URLS in tests/access_objects.py "
        "(its docstring says how)"
    )
    stale = set(OBJECT_URLS) - {u.name for u in OWN_URLS if u.params}
    assert not stale, f"OBJECT_URLS names URLs the URLconf no longer has: {sorted(stale)}"


@pytest.mark.parametrize(
    "url", [u for u in ALL_URLS if u.module.startswith(OWN_VIEW_MODULES)], ids=str
)
def test_every_view_of_ours_declares_who_may_use_it(url: WalkedURL) -> None:
    view = url.view
    public = getattr(view, "login_required", True) is False
    assert public or getattr(view, "allowed_roles", None), (
        f"{url} has neither @role_required nor @login_not_required"
    )


@pytest.mark.django_db
def test_public_urls_answer_without_signing_in(client: Client) -> None:
    assert client.get(reverse("account_login")).status_code == 200
    assert client.get(reverse("account_reset_password")).status_code == 200
    # The admin's login is not a second way in: it hands over to allauth's sign-in.
    admin_login = client.get(reverse("admin:login"))
    assert admin_login.status_code == 302
    assert admin_login["Location"].startswith(reverse("account_login"))
    # The webhook endpoint is public but takes only signed POSTs.
    assert client.get(reverse("sync:webhooks")).status_code == 405
    unsigned = client.post(reverse("sync:webhooks"), b"[]", content_type="application/json")
    assert unsigned.status_code == 401


# --- GET: every URL, every person ----------------------------------------------------------

GET_CASES = [
    pytest.param(url, who, id=f"{url.route}-{who}")
    for url in ALL_URLS
    for who in WHO
    if not (who == "anonymous" and url.name in PUBLIC_URL_NAMES)
    and not (who != "anonymous" and url.name == "healthz")
]


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "who"), GET_CASES)
def test_every_url_answers_each_person_as_their_role_allows(
    url: WalkedURL, who: str, cast: dict[str, User], request: pytest.FixtureRequest
) -> None:
    client = _client(who, cast)
    family = _family(url)
    if family == "ours":
        _check_own_get(url, who, client, cast, request.getfixturevalue("world"))
    elif who == "anonymous":
        _assert_sent_to_sign_in(client.get(url.path, follow=True), str(url))
    elif family == "admin":
        _check_admin_get(url, who, client)
    else:
        _check_account_get(url, who, client)


def _check_own_get(
    url: WalkedURL, who: str, client: Client, cast: dict[str, User], world: World
) -> None:
    targets = _targets(url, world)
    user = cast.get(who)
    own_side = world.side_of(user) if user else None
    for side, kwargs, path in targets:
        context = f"GET {path} ({url.name}) as {who}"
        if who == "anonymous":
            _assert_sent_to_sign_in(client.get(path, follow=True), context)
            continue
        response = client.get(path)
        if _is_public(url):
            if url.name not in PUBLIC_GET_ANSWERS:
                pytest.fail(f"say in PUBLIC_GET_ANSWERS what {url} answers a signed-in GET")
            expected = Answer(PUBLIC_GET_ANSWERS[url.name or ""])
        elif not _allows(url, who):
            expected = Answer(403)
        elif side is None:
            expected = PAGE_ANSWERS.get(url.name or "", OK)
        else:
            entry = OBJECT_URLS[url.name or ""]
            others = own_side is not None and side is not own_side and entry.partner_scoped
            # Another partner's object is indistinguishable from a missing one (a view that
            # takes no GET says so before it loads anything).
            expected = Answer(404) if others and entry.answer.status != 405 else entry.answer
        assert response.status_code == expected.status, (
            f"{context}: {response.status_code}, expected {expected.status}"
        )
        if expected.location is not None:
            assert response["Location"] == expected.location(kwargs), context
        if own_side is not None:
            _assert_nothing_of(world.other(own_side), _body(response), context)


def _check_admin_get(url: WalkedURL, who: str, client: Client) -> None:
    # The admin's own URLs keep their sample ids: its object pages answer a missing id
    # with a redirect to the index, and its checks are Django's.
    response = client.get(url.path, follow=True)
    hops = [where for where, _ in response.redirect_chain]
    sign_ins = (reverse("admin:login"), reverse("account_login"))
    if ROLE_OF[who] == Role.ADMIN:
        assert not any(h.startswith(sign_ins) for h in hops), (url, who, hops)
        assert response.status_code < 500, (url, who, response.status_code)
    else:
        # Sent to the admin's login, which refuses anyone signed in who is not an admin.
        assert response.status_code == 403, (url, who, response.status_code, hops)
        assert url.name == "admin:login" or any(h.startswith(reverse("admin:login")) for h in hops)


def _check_account_get(url: WalkedURL, who: str, client: Client) -> None:
    # allauth's pages are about the signed-in person's own account, whatever their role:
    # nobody is refused or sent back to sign in. Their ids are samples (there is nothing
    # of another partner's behind a password-reset key).
    response = client.get(url.path)
    assert response.status_code not in (401, 403), (url, who, response.status_code)
    assert response.status_code < 500, (url, who, response.status_code)
    if response.status_code in (301, 302):
        assert not response["Location"].startswith(reverse("account_login")), (url, who)


# --- POST: refused before anything else happens --------------------------------------------


def _post_cases() -> list[Any]:
    cases = []
    for url in OWN_URLS:
        if _is_public(url):
            continue  # they authenticate their callers themselves (signature, API token)
        entry = OBJECT_URLS.get(url.name or "")
        for who in WHO:
            refused = who == "anonymous" or not _allows(url, who)
            # A partner user whom the view allows, posting to the other partner's object.
            crossing = (
                not refused
                and ROLE_OF[who] == Role.PARTNER
                and bool(url.params)
                and (entry is None or entry.partner_scoped)
            )
            if refused or crossing:
                cases.append(pytest.param(url, who, id=f"{url.route}-{who}"))
    return cases


def _accepts_post(client: Client, path: str) -> bool:
    """Whether the view at ``path`` takes POSTs. A view that restricts its methods
    (``require_http_methods``) answers any other one, OPTIONS included, with 405 and an
    Allow header before it runs; one that does not answers OPTIONS like a GET."""
    response = client.options(path)
    if response.status_code == 405:
        return "POST" in response["Allow"].replace(" ", "").split(",")
    assert response.status_code in (200, 302), (path, response.status_code)
    return True


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "who"), _post_cases())
def test_a_post_nobody_may_make_is_refused_and_changes_nothing(
    url: WalkedURL, who: str, cast: dict[str, User], world: World
) -> None:
    """A stranger is sent to sign in and a role the view does not allow gets 403, on every
    URL of ours whatever methods it takes (both are decided before the method is). A
    partner user whom the view allows gets 404 for the other partner's object if the view
    takes POSTs, 405 if it does not. Each with an empty body, and nothing written."""
    client = _client(who, cast)
    targets = _targets(url, world)
    expected = 403
    if who != "anonymous" and _allows(url, who):
        own = world.side_of(cast[who])
        [mine] = [path for side, _, path in targets if side is own]
        targets = [t for t in targets if t[0] is not own]
        # Another partner's object is a 404 before the body is read: an empty body
        # against their object must not reach "this field is required".
        expected = 404 if _accepts_post(client, mine) else 405
    for _side, _kwargs, path in targets:
        context = f"POST {path} ({url.name}) as {who}"
        before = _database()
        response = client.post(path, {})
        if who == "anonymous":
            assert response.status_code == 302, context
            assert response["Location"].startswith(reverse("account_login")), context
        else:
            assert response.status_code == expected, (
                f"{context}: {response.status_code}, expected {expected}"
            )
        assert _database() == before, f"{context} changed the database"


# --- List pages and exports: each partner's rows stay with it --------------------------------

# List pages whose rows belong to partners, with the ``Side`` attribute that shows a
# side's row is on the page (so "none of B's rows" is not true of an empty page).
ROW_PAGES = {
    "billing:invoices": "invoice_number",
    "billing:payments": "payment_reference",
    "billing:deleted_invoices": "deleted_invoice_number",
    "billing:receivables": "customer",
    # The same rows as receivables' ?format=csv, at a URL of its own.
    "billing:receivables_csv": "customer",
    "inventory:discrepancies": "sku_code",
    "inventory:depletion": "sku_code",
    "inventory:sell_through": "sku_code",
    "inventory:placements": "sku_code",
    "inventory:stock_ledger": "sku_code",
    "inventory:channels": "customer",
    "sync:connections": "company_name",
    "inventory:push_jobs": "partner_name",
    "inventory:suppliers": "company_name",
    "reconciliation:index": "company_name",
    "partners": "partner_name",
    "history:trends": "partner_name",
    "allowances:programs": "program_name",
    "allowances:claims": "program_name",
    "allowances:payments": "program_name",
}
# The ones that export their rows with ?format=csv.
EXPORTS = {
    "billing:invoices",
    "billing:payments",
    "billing:receivables",
    "billing:receivables_csv",
    "inventory:discrepancies",
    "inventory:depletion",
    "inventory:sell_through",
    "inventory:placements",
    "inventory:stock_ledger",
    "inventory:push_jobs",
    "inventory:channels",
    "allowances:programs",
    "allowances:claims",
    "allowances:payments",
}
# Exports that hold no partner's rows.
UNSCOPED_EXPORTS = {"inventory:catalog_export": "Une Femme's own catalog, for staff only"}
# Pages partner users open that list no partner's rows. The walk above still searches
# them for the other partner's text.
PAGES_WITHOUT_ROWS = {
    "dashboard": (
        "figures only; tests/dashboard/test_dashboard_page.py proves they are the reader's own"
    ),
    "sync:connect": "explains connecting the reader's own company",
    "sync:callback": "where Intuit returns the reader",
    "sync:disconnected": "where Intuit sends the reader after disconnecting",
    "notifications:preferences": "the reader's own e-mail choices, no partner's rows",
    "allowances:claim_new": "a form; its programs are those naming the reader's partner",
    "onboarding:welcome": (
        "the reader's own first steps, done or not; tests/onboarding proves they are its own"
    ),
}


def _pages() -> list[WalkedURL]:
    return [u for u in OWN_URLS if not u.params and not _is_public(u)]


def test_every_page_partner_users_open_is_known_to_hold_rows_or_not() -> None:
    partner_pages = {u.name for u in _pages() if Role.PARTNER in u.view.allowed_roles}  # type: ignore[attr-defined]
    unknown = partner_pages - set(ROW_PAGES) - set(PAGES_WITHOUT_ROWS)
    assert not unknown, (
        f"{sorted(str(n) for n in unknown)}: add to ROW_PAGES (and give both sides a row in "
        "tests/access_objects.py world_build) or to PAGES_WITHOUT_ROWS"
    )


@pytest.mark.django_db
def test_every_csv_export_is_known(cast: dict[str, User], world: World) -> None:
    # Found by asking every page for ?format=csv as someone it allows, so an export added
    # to a new page is found too.
    found = set()
    for url in _pages():
        who = next(w for w in ("ada", "sam", "alice") if _allows(url, w))
        response = signed_in(cast[who]).get(url.path, {"format": "csv"})
        if response.get("Content-Type", "").startswith("text/csv"):
            found.add(url.name)
    assert found == EXPORTS | set(UNSCOPED_EXPORTS), (
        "a new export of partner rows goes in EXPORTS and ROW_PAGES, with a row for each "
        "side in tests/access_objects.py world_build"
    )


ROW_CASES = [
    pytest.param(name, fmt, who, id=f"{name}-{fmt}-{who}")
    for name in ROW_PAGES
    for fmt in ("page", "csv")
    if fmt == "page" or name in EXPORTS
    for who in ("alice", "bob", "sam", "ada")
]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "fmt", "who"), ROW_CASES)
def test_list_pages_and_exports_hold_exactly_the_partners_the_reader_may_see(
    name: str, fmt: str, who: str, cast: dict[str, User], world: World
) -> None:
    user = cast[who]
    own = world.side_of(user)
    params = {"format": "csv"} if fmt == "csv" else {}
    if own is not None:
        # A partner user asking for the other partner is not offered the filter, and
        # sending it anyway must not widen what they see.
        params["partner"] = str(world.other(own).partner.pk)
    response = signed_in(user).get(reverse(name), params)
    assert response.status_code == 200
    text = _body(response)
    readable = [own] if own is not None else list(world.sides)
    context = f"{name} ({fmt}) for {who}"
    for side in readable:
        assert _mentions(text, getattr(side, ROW_PAGES[name])), (
            f"{context} lacks partner {side.tag}'s row"
        )
    if own is not None:
        _assert_nothing_of(world.other(own), text, context)
    if fmt == "csv":
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert {row["Partner"] for row in rows} == {s.partner.name for s in readable}, context
