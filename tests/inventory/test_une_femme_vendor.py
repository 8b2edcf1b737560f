"""Which vendor is Une Femme in each partner's QuickBooks: found by name, by e-mail domain
or from bills for mapped wines, audited when it changes, set by an admin, shown on the
suppliers page; and, against qbo_sandbox over HTTP, found in a seeded company after its
import."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse

from accounts.models import Partner, User
from accounts.roles import Role
from common import mirror
from inventory.catalog.models import CatalogSKU
from inventory.catalog.services import catalog_demo_load
from inventory.mapping.models import SKUMapping
from inventory.purchasing import selectors
from inventory.purchasing import services as purchasing
from inventory.purchasing.models import (
    QBOBill,
    QBOBillLine,
    QBOVendor,
    UneFemmeVendor,
    UneFemmeVendorChange,
)
from sync import services as sync
from sync.models import QBOConnection, SyncRun
from tests.billing.factories import ConnectionFactory
from tests.conftest import signed_in
from tests.factories import UserFactory
from tests.sync.books import Books, connection_for
from tests.sync.conftest import (  # noqa: F401 (a fixture, found by pytest by name)
    pointed_at,
    sandbox_server,
)

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

Source = UneFemmeVendor.Source
PAGE = reverse("inventory:suppliers")


# --- Rows ------------------------------------------------------------------------------------


@pytest.fixture
def books_a(partner_a: Partner) -> QBOConnection:
    connection: QBOConnection = ConnectionFactory(
        partner=partner_a, realm_id="4620000000000001", company_name="Bubbles Books"
    )
    return connection


@pytest.fixture
def books_b(partner_b: Partner) -> QBOConnection:
    connection: QBOConnection = ConnectionFactory(
        partner=partner_b, realm_id="4620000000000002", company_name="Côte Ouest Books"
    )
    return connection


@pytest.fixture
def ana(db: None) -> User:
    user: User = UserFactory(email="ana@unefemme.test", full_name="Ana", role=Role.ADMIN)
    return user


def vendor(
    connection: QBOConnection,
    qbo_id: str,
    name: str,
    *,
    company: str = "",
    email: str = "",
    active: bool = True,
) -> QBOVendor:
    made: QBOVendor = QBOVendor.objects.create(
        connection=connection, qbo_id=qbo_id, display_name=name, company_name=company,
        email=email, active=active,
    )  # fmt: skip
    return made


_bills = iter(range(1, 1_000_000))


def bill(connection: QBOConnection, vendor_qbo_id: str, *item_ids: str) -> QBOBill:
    """A bill from the vendor with one item line per id, and a freight line."""
    made: QBOBill = QBOBill.objects.create(
        connection=connection, qbo_id=f"b{next(_bills)}", vendor_qbo_id=vendor_qbo_id
    )
    for position, item_id in enumerate(item_ids):
        QBOBillLine.objects.create(
            bill=made, position=position, detail_type=QBOBillLine.ITEM_BASED, item_qbo_id=item_id
        )
    QBOBillLine.objects.create(
        bill=made, position=len(item_ids), detail_type=QBOBillLine.ACCOUNT_BASED,
        account_qbo_id="60",
    )  # fmt: skip
    return made


def mapped(connection: QBOConnection, *item_ids: str) -> None:
    """The items stand for Une Femme's Callie, mapped to the catalog."""
    sku, _ = CatalogSKU.objects.get_or_create(
        code="UF-CAL-NV-750",
        defaults={"wine": "The Callie Sparkling Rosé", "format_ml": 750, "bottles_per_case": 12},
    )
    for item_id in item_ids:
        SKUMapping.objects.create(
            connection=connection, catalog_sku=sku, item_qbo_id=item_id,
            method=SKUMapping.Method.SKU, item_name=f"Item {item_id}",
        )  # fmt: skip


def detect(connection: QBOConnection) -> UneFemmeVendor:
    return purchasing.une_femme_vendor_detect(connection_id=connection.pk)


def changes(connection: QBOConnection) -> list[UneFemmeVendorChange]:
    return list(UneFemmeVendorChange.objects.filter(connection=connection).order_by("pk"))


# --- Detection ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "company"),
    [
        ("Une Femme Wines", ""),
        ("UNE FÉMME", ""),
        ("une-femme, inc.", ""),
        ("Une Femme's", ""),
        ("UFW Distribution", "Une Femme Wines LLC"),  # the company name counts too
    ],
)
def test_a_vendor_named_une_femme_is_found_whatever_its_case_and_accents(
    books_a: QBOConnection, name: str, company: str
) -> None:
    vendor(books_a, "7", "Pacific Freight Lines")
    vendor(books_a, "8", name, company=company)

    chosen = detect(books_a)

    assert (chosen.vendor_qbo_id, chosen.source) == ("8", Source.NAME)
    assert chosen.vendor_name == name and chosen.set_by is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", ["Prune Femmes", "Unefemmes Cellars", "Femme Une", "Une", "Lune Femmes"]
)
def test_a_name_that_merely_holds_the_letters_is_not_une_femme(
    books_a: QBOConnection, name: str
) -> None:
    vendor(books_a, "8", name)

    chosen = detect(books_a)

    assert (chosen.vendor_qbo_id, chosen.source) == ("", Source.NOT_FOUND)


@pytest.mark.django_db
def test_an_inactive_vendor_is_not_found(books_a: QBOConnection) -> None:
    vendor(books_a, "8", "Une Femme Wines", active=False)

    assert detect(books_a).source == Source.NOT_FOUND


@pytest.mark.django_db
@override_settings(UNE_FEMME_VENDOR_NAMES=("Une Femme", "Maison Callie"))
def test_the_names_are_a_setting(books_a: QBOConnection) -> None:
    vendor(books_a, "8", "MAISON CALLIE (NAPA)")

    assert detect(books_a).vendor_qbo_id == "8"


@pytest.mark.django_db
def test_a_partner_s_hint_names_us_for_its_companies_only(
    books_a: QBOConnection, books_b: QBOConnection
) -> None:
    vendor(books_a, "8", "UF Imports, LLC")
    vendor(books_b, "8", "UF Imports, LLC")
    assert detect(books_a).source == Source.NOT_FOUND
    books_a.partner.une_femme_vendor_hint = "UF Imports"
    books_a.partner.save()
    books_a.refresh_from_db()
    found = detect(books_a)
    assert (found.vendor_qbo_id, found.source) == ("8", Source.NAME)
    books_b.refresh_from_db()
    assert detect(books_b).source == Source.NOT_FOUND


@pytest.mark.django_db
@override_settings(UNE_FEMME_EMAIL_DOMAINS=("unefemme.example",))
@pytest.mark.parametrize(
    ("email", "found"),
    [
        ("ar@unefemme.example", True),
        ("AR@UneFemme.Example", True),
        ("billing@eu.unefemme.example", True),  # a subdomain of ours
        ("ar@notunefemme.example", False),
        ("unefemme.example@gmail.example", False),
        ("", False),
    ],
)
def test_the_e_mail_domain_finds_it_when_no_name_does(
    books_a: QBOConnection, email: str, found: bool
) -> None:
    vendor(books_a, "7", "Pacific Freight Lines", email="ap@pacific.example")
    vendor(books_a, "8", "UFW", email=email)

    chosen = detect(books_a)

    if found:
        assert (chosen.vendor_qbo_id, chosen.source) == ("8", Source.EMAIL)
    else:
        assert (chosen.vendor_qbo_id, chosen.source) == ("", Source.NOT_FOUND)


@pytest.mark.django_db
@override_settings(UNE_FEMME_EMAIL_DOMAINS=("unefemme.example",))
def test_a_name_outranks_an_e_mail_domain_and_bills(books_a: QBOConnection) -> None:
    vendor(books_a, "7", "Une Femme Wines")
    vendor(books_a, "8", "UFW", email="ar@unefemme.example")
    mapped(books_a, "11")
    bill(books_a, "8", "11", "11", "11")

    chosen = detect(books_a)

    assert (chosen.vendor_qbo_id, chosen.source) == ("7", Source.NAME)


@pytest.mark.django_db
def test_bills_for_mapped_wines_find_it_when_neither_name_nor_e_mail_does(
    books_a: QBOConnection,
) -> None:
    vendor(books_a, "7", "Pacific Freight Lines")
    vendor(books_a, "8", "Napa Négociants")
    vendor(books_a, "9", "Golden State Glass")
    mapped(books_a, "11", "12")
    # The freight company bills more lines, but none for a mapped wine.
    bill(books_a, "7", "90", "91", "92", "93")
    bill(books_a, "8", "11", "12")
    bill(books_a, "9", "12", "99")

    chosen = detect(books_a)

    assert (chosen.vendor_qbo_id, chosen.source) == ("8", Source.BILLS)
    assert chosen.vendor_name == "Napa Négociants"


@pytest.mark.django_db
def test_several_at_one_rank_are_told_apart_by_their_bills_for_mapped_wines(
    books_a: QBOConnection,
) -> None:
    vendor(books_a, "7", "Une Femme Wines")
    vendor(books_a, "8", "Une Femme Wines (old)")
    mapped(books_a, "11")
    bill(books_a, "7", "11")
    bill(books_a, "8", "11", "11")

    chosen = detect(books_a)

    assert (chosen.vendor_qbo_id, chosen.source) == ("8", Source.NAME)


@pytest.mark.django_db
def test_a_tie_chooses_no_vendor_and_records_it_as_ambiguous(books_a: QBOConnection) -> None:
    vendor(books_a, "7", "Une Femme Wines")
    vendor(books_a, "8", "Une Femme Imports")
    vendor(books_a, "9", "Une Femme (unused)")  # fewer lines than the two leaders: not tied
    mapped(books_a, "11")
    bill(books_a, "7", "11")
    bill(books_a, "8", "11")

    chosen = detect(books_a)

    assert (chosen.vendor_qbo_id, chosen.source) == ("", Source.AMBIGUOUS)
    assert chosen.candidates == ["Une Femme Imports", "Une Femme Wines"]
    # Sell-in counts nothing for it rather than the wrong vendor's bills.
    assert selectors.une_femme_vendor_ids([books_a.pk]) == {}


@pytest.mark.django_db
def test_detection_is_idempotent(books_a: QBOConnection) -> None:
    vendor(books_a, "8", "Une Femme Wines")
    detect(books_a)

    again = detect(books_a)

    assert again.source == Source.NAME
    [first] = changes(books_a)
    assert first.actor is None
    assert first.before == {}
    assert first.after == {"vendor_qbo_id": "8", "vendor_name": "Une Femme Wines", "source": "name"}
    # A rename in QuickBooks that still matches is no change of who Une Femme is.
    QBOVendor.objects.filter(connection=books_a, qbo_id="8").update(display_name="Une Femme")
    assert detect(books_a).vendor_name == "Une Femme"
    assert len(changes(books_a)) == 1


@pytest.mark.django_db
def test_a_change_found_by_a_sync_is_audited_with_before_and_after(
    books_a: QBOConnection,
) -> None:
    detect(books_a)
    vendor(books_a, "8", "Une Femme Wines")
    detect(books_a)
    QBOVendor.objects.filter(connection=books_a, qbo_id="8").update(active=False)
    detect(books_a)

    assert [(c.actor, c.before.get("source"), c.after) for c in changes(books_a)] == [
        (None, None, {"vendor_qbo_id": "", "vendor_name": "", "source": "not_found"}),
        (None, "not_found", {"vendor_qbo_id": "8", "vendor_name": "Une Femme Wines",
                             "source": "name"}),
        (None, "name", {"vendor_qbo_id": "", "vendor_name": "", "source": "not_found"}),
    ]  # fmt: skip
    assert changes(books_a)[2].before["vendor_name"] == "Une Femme Wines"


@pytest.mark.django_db
def test_an_admins_choice_sticks_across_syncs_and_is_audited(
    books_a: QBOConnection, ada: User
) -> None:
    vendor(books_a, "7", "Une Femme Wines")
    vendor(books_a, "8", "UF Négoce")
    detect(books_a)

    chosen, changed = purchasing.une_femme_vendor_set(
        connection_id=books_a.pk, user=ada, vendor_qbo_id="8"
    )
    for _ in range(2):
        detect(books_a)  # later syncs

    assert changed
    chosen.refresh_from_db()
    assert (chosen.vendor_qbo_id, chosen.source, chosen.set_by) == ("8", Source.ADMIN, ada)
    last = changes(books_a)[-1]
    assert len(changes(books_a)) == 2
    assert last.actor == ada
    assert last.before == {"vendor_qbo_id": "7", "vendor_name": "Une Femme Wines", "source": "name"}
    assert last.after == {"vendor_qbo_id": "8", "vendor_name": "UF Négoce", "source": "admin"}
    assert selectors.une_femme_vendor_ids([books_a.pk]) == {books_a.pk: "8"}
    # The same choice again is no change.
    _, changed = purchasing.une_femme_vendor_set(
        connection_id=books_a.pk, user=ada, vendor_qbo_id="8"
    )
    assert not changed and len(changes(books_a)) == 2


@pytest.mark.django_db
def test_an_admin_may_choose_only_one_of_the_connections_vendors(
    books_a: QBOConnection, books_b: QBOConnection, ada: User
) -> None:
    vendor(books_a, "7", "Une Femme Wines")
    vendor(books_b, "8", "Une Femme Wines")
    detect(books_a)

    with pytest.raises(ValidationError, match="not one of this partner's QuickBooks vendors"):
        purchasing.une_femme_vendor_set(connection_id=books_a.pk, user=ada, vendor_qbo_id="8")

    assert UneFemmeVendor.objects.get(connection=books_a).vendor_qbo_id == "7"
    assert len(changes(books_a)) == 1


@pytest.mark.django_db
def test_returning_to_automatic_finds_it_again_and_is_audited(
    books_a: QBOConnection, ada: User
) -> None:
    vendor(books_a, "7", "Une Femme Wines")
    vendor(books_a, "8", "UF Négoce")
    purchasing.une_femme_vendor_set(connection_id=books_a.pk, user=ada, vendor_qbo_id="8")

    chosen, changed = purchasing.une_femme_vendor_reset(connection_id=books_a.pk, user=ada)

    assert changed
    assert (chosen.vendor_qbo_id, chosen.source, chosen.set_by) == ("7", Source.NAME, None)
    last = changes(books_a)[-1]
    assert last.actor == ada
    assert last.before["source"] == "admin" and last.after["source"] == "name"
    # Automatic again: the next sync follows QuickBooks, and a second reset changes nothing.
    _, changed = purchasing.une_femme_vendor_reset(connection_id=books_a.pk, user=ada)
    assert not changed
    QBOVendor.objects.filter(connection=books_a, qbo_id="7").update(active=False)
    assert detect(books_a).source == Source.NOT_FOUND


@pytest.mark.django_db
def test_changes_are_append_only(books_a: QBOConnection) -> None:
    detect(books_a)
    [change] = changes(books_a)

    with pytest.raises(ValueError, match="append-only"):
        change.save()
    with pytest.raises(ValueError, match="append-only"):
        change.delete()


@pytest.mark.django_db
def test_sell_in_reads_the_chosen_vendor_per_connection(
    books_a: QBOConnection, books_b: QBOConnection, partner_a: Partner
) -> None:
    vendor(books_a, "7", "Une Femme Wines")
    vendor(books_b, "3", "Pacific Freight Lines")
    detect(books_a)
    detect(books_b)

    assert selectors.une_femme_vendor_ids([books_a.pk, books_b.pk, 999999]) == {books_a.pk: "7"}


def test_detection_runs_after_every_sync_after_the_sku_mapping() -> None:
    names = [hook.name for hook in mirror.after_sync_hooks()]
    assert names.index("SKU mapping") < names.index("Une Femme vendor")


# --- The page -------------------------------------------------------------------------------


@pytest.fixture
def world(books_a: QBOConnection, books_b: QBOConnection, ana: User) -> None:
    vendor(books_a, "7", "Une Femme Wines")
    vendor(books_a, "6", "Pacific Freight Lines")
    vendor(books_a, "5", "Old Supplier", active=False)
    bill(books_a, "7")
    detect(books_a)
    vendor(books_b, "8", "Côte Ouest Freight")
    detect(books_b)


def page(user: User) -> str:
    response = signed_in(user).get(PAGE)
    assert response.status_code == 200
    return str(response.content.decode())


@pytest.mark.django_db
def test_a_partner_user_sees_only_its_own_connection(alice: User, world: None) -> None:
    body = page(alice)

    assert "Bubbles Books" in body and "Une Femme Wines" in body and "Found by name" in body
    assert "Côte Ouest" not in body and "Côte Ouest Freight" not in body
    assert 'name="vendor"' not in body
    assert "tell Une Femme: an admin can change it" in body


@pytest.mark.django_db
def test_staff_read_every_connection_without_forms(sam: User, world: None) -> None:
    body = page(sam)

    assert "Bubbles Books" in body and "Côte Ouest Books" in body
    assert "Found by name" in body
    assert "Not found — an Une Femme admin will choose the vendor Une Femme bills as" in body
    assert "<form" not in body.split("<main", 1)[1]
    assert "/inventory/suppliers/" not in body and 'name="vendor"' not in body
    assert "Only an admin can change it." in body


@pytest.mark.django_db
def test_admins_get_a_form_per_connection_with_active_vendors_first(
    ada: User, world: None, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    body = page(ada)

    for connection in (books_a, books_b):
        assert reverse("inventory:supplier_vendor", args=[connection.pk]) in body
    assert "Not found — choose the vendor Une Femme bills as" in body
    row_a = body.split(f'id="connection-{books_a.pk}"', 1)[1].split("</tr>", 1)[0]
    options = row_a.split("<select", 1)[1].split("</select>", 1)[0]
    assert options.index("Find automatically") < options.index("Pacific Freight Lines")
    assert options.index("Une Femme Wines") < options.index("Old Supplier (inactive)")
    assert '<option value="auto" selected>' in options
    assert "Côte Ouest Freight" not in options  # the other connection's vendor
    assert "a sync: not looked for yet → Une Femme Wines (found by name)" in row_a


@pytest.mark.django_db
def test_an_admin_sets_the_vendor_and_the_page_says_who_and_when(
    ana: User, world: None, books_a: QBOConnection
) -> None:
    url = reverse("inventory:supplier_vendor", args=[books_a.pk])
    with time_machine.travel(datetime(2026, 12, 3, 18, 0, tzinfo=UTC), tick=False):
        client = signed_in(ana)
        response = client.post(url, {"vendor": "6"}, follow=True)

        assert response.redirect_chain == [(f"{PAGE}#connection-{books_a.pk}", 302)]
        body = response.content.decode()
        assert "Une Femme is now Pacific Freight Lines" in body
        assert "Set by Ana on 3 Dec 2026" in body
        assert '<option value="6" selected>' in body
        assert (
            "Ana: Une Femme Wines (found by name) → Pacific Freight Lines (set by an admin)" in body
        )
        chosen = UneFemmeVendor.objects.get(connection=books_a)
        assert (chosen.vendor_qbo_id, chosen.set_by) == ("6", ana)

        response = client.post(url, {"vendor": "auto"}, follow=True)

        body = response.content.decode()
        assert "back to automatic. Now Une Femme Wines (found by name)." in body
        assert UneFemmeVendor.objects.get(connection=books_a).source == Source.NAME
        assert UneFemmeVendorChange.objects.filter(connection=books_a, actor=ana).count() == 2


@pytest.mark.django_db
def test_the_page_words_a_tie_and_an_unchecked_company(
    ada: User, sam: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    vendor(books_a, "7", "Une Femme Wines")
    vendor(books_a, "8", "Une Femme Imports")
    detect(books_a)

    admin_body, staff_body = page(ada), page(sam)

    assert (
        "Several vendors fit equally (Une Femme Imports, Une Femme Wines) — choose the one Une "
        "Femme bills as" in admin_body
    )
    assert "an Une Femme admin will choose the one Une Femme bills as" in staff_body
    # books_b has never been synced since the feature came.
    assert "Not looked for yet" in admin_body


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "words"),
    [
        ("alice", "Your company has not connected its QuickBooks yet"),
        ("sam", "No partner has connected QuickBooks yet"),
        ("ada", "No partner has connected QuickBooks yet"),
    ],
)
def test_the_empty_page_says_what_to_do(who: str, words: str, cast: dict[str, User]) -> None:
    body = page(cast[who])

    assert words in body and reverse("sync:connections") in body
    assert "<table" not in body


# --- Bad requests change nothing -------------------------------------------------------------


def _state(connection: QBOConnection) -> tuple[Any, ...]:
    chosen = UneFemmeVendor.objects.filter(connection=connection).values_list(
        "vendor_qbo_id", "source", "set_by"
    )
    return (list(chosen), UneFemmeVendorChange.objects.count())


def _message(client: Client) -> str:
    return str(client.get(PAGE).content.decode())


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "words"),
    [
        (
            {"vendor": "8"},
            "not one of this partner&#x27;s QuickBooks vendors. Nothing was changed.",
        ),
        ({"vendor": "999"}, "not one of this partner&#x27;s QuickBooks vendors."),
        ({}, "nothing was changed. Choose a vendor, or Find automatically."),
        ({"vendor": "   "}, "nothing was changed. Choose a vendor, or Find automatically."),
        ({"vendor": "7\x00"}, "nothing was changed. Null characters are not allowed."),
        ({"vendor": "7\x07"}, "nothing was changed. The vendor contains a control character"),
        ({"vendor": "7" * 40}, "nothing was changed."),
    ],
    ids=["another-connections-vendor", "unknown", "missing", "blank", "nul", "bell", "too-long"],
)
def test_a_bad_choice_is_refused_with_a_message_and_changes_nothing(
    ada: User, world: None, books_a: QBOConnection, data: dict[str, str], words: str
) -> None:
    client = signed_in(ada)
    before = _state(books_a)

    response = client.post(reverse("inventory:supplier_vendor", args=[books_a.pk]), data)

    assert response.status_code == 302
    assert response["Location"] == f"{PAGE}#connection-{books_a.pk}"
    assert _state(books_a) == before
    body = _message(client)
    assert "Bubbles &amp; Brine Distributing: " in body and words in body


@pytest.mark.django_db
def test_a_connection_the_admin_cannot_see_is_a_404(
    ada: User, world: None, books_a: QBOConnection
) -> None:
    client = signed_in(ada)
    before = _state(books_a)
    QBOConnection.objects.filter(pk=books_a.pk).update(status=QBOConnection.Status.DISCONNECTED)

    for pk in (books_a.pk, 999999):
        response = client.post(reverse("inventory:supplier_vendor", args=[pk]), {"vendor": "7"})
        assert response.status_code == 404, pk
    assert _state(books_a) == before
    # Nor does the disconnected company stay on the page.
    assert "Bubbles Books" not in page(ada)


@pytest.mark.django_db
def test_a_get_on_the_choice_url_shows_the_row_and_changes_nothing(
    ada: User, world: None, books_a: QBOConnection
) -> None:
    before = _state(books_a)

    response = signed_in(ada).get(
        reverse("inventory:supplier_vendor", args=[books_a.pk]), {"vendor": "6"}
    )

    assert response.status_code == 302
    assert response["Location"] == f"{PAGE}#connection-{books_a.pk}"
    assert _state(books_a) == before


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["alice", "sam"])
def test_only_admins_may_choose(
    who: str, cast: dict[str, User], world: None, books_a: QBOConnection
) -> None:
    before = _state(books_a)

    response = signed_in(cast[who]).post(
        reverse("inventory:supplier_vendor", args=[books_a.pk]), {"vendor": "6"}
    )

    assert response.status_code == 403
    assert _state(books_a) == before


# --- Against qbo_sandbox over HTTP ----------------------------------------------------------


@pytest.fixture
def sandbox(sandbox_server: SandboxProcess) -> Iterator[SandboxProcess]:  # noqa: F811
    # As tests/sync/conftest.py points the sync tests at the sandbox, for this test only.
    with pointed_at(sandbox_server):
        yield sandbox_server


def _sync(connection: QBOConnection, kind: str) -> None:
    run = sync.connection_sync(connection_id=connection.pk, trigger="test")
    assert run is not None and run.kind == kind, run
    assert run.status == SyncRun.Status.SUCCEEDED, run.error


@pytest.mark.django_db(transaction=True)
def test_the_seeded_une_femme_wines_vendor_is_found_after_an_import(
    sandbox: SandboxProcess, partner_a: Partner
) -> None:
    catalog_demo_load()  # the sandbox's wines carry the demo catalog's codes
    realm = sandbox.new_company(seed="demo", scale=0.05)
    books = Books(sandbox, realm)
    [une_femme] = books.query("SELECT * FROM Vendor WHERE DisplayName = 'Une Femme Wines'")[
        "Vendor"
    ]
    connection = connection_for(sandbox, partner_a, realm, company_name="Seeded books")

    _sync(connection, SyncRun.Kind.IMPORT)  # its after-sync hooks run the detection

    chosen = UneFemmeVendor.objects.get(connection=connection)
    assert (chosen.vendor_qbo_id, chosen.vendor_name, chosen.source) == (
        str(une_femme["Id"]),
        "Une Femme Wines",
        Source.NAME,
    )
    assert selectors.une_femme_vendor_ids([connection.pk]) == {connection.pk: str(une_femme["Id"])}
    [change] = changes(connection)
    assert change.actor is None and change.after["source"] == "name"

    # A quiet poll finds the same vendor: no second change.
    _sync(connection, SyncRun.Kind.POLL)
    assert len(changes(connection)) == 1

    # Without the name to go by, the seeded bills for mapped wines point at the same vendor.
    assert SKUMapping.objects.filter(connection=connection).exists()
    with override_settings(UNE_FEMME_VENDOR_NAMES=(), UNE_FEMME_EMAIL_DOMAINS=()):
        by_bills = detect(connection)
    assert (by_bills.vendor_qbo_id, by_bills.source) == (str(une_femme["Id"]), Source.BILLS)


@pytest.mark.django_db
def test_a_vendor_name_ending_in_a_period_is_not_followed_by_another(
    ana: User, world: None, books_a: QBOConnection
) -> None:
    vendor(books_a, "9", "Une Femme Wines Co.")
    url = reverse("inventory:supplier_vendor", args=[books_a.pk])

    body = signed_in(ana).post(url, {"vendor": "9"}, follow=True).content.decode()

    assert "Une Femme is now Une Femme Wines Co. Syncs keep this choice" in body
    assert "Co.." not in body
