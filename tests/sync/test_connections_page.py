"""The Connections page: who sees which connection, which buttons, which words, and the
htmx fragment that follows an import."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Partner, User
from common import mirror
from sync.models import QBOConnection, SyncCursor, SyncRun
from tests.conftest import signed_in
from tests.factories import PartnerFactory
from tests.qbo_sandbox.support import parse_forms

TID = "1-6580f0e2-0123456789abcdef01234567"


def make_connection(partner: Partner, realm_id: str, **fields: Any) -> QBOConnection:
    now = timezone.now()
    defaults: dict[str, Any] = {
        "company_name": f"{partner.name} Books",
        "access_token": "access-token-for-page-tests",
        "access_token_expires_at": now + timedelta(hours=1),
        "refresh_token": "refresh-token-for-page-tests",
        "refresh_token_expires_at": now + timedelta(days=100),
        "next_sync_at": now + timedelta(minutes=4),
        "last_synced_at": now - timedelta(minutes=1),
    }
    return QBOConnection.objects.create(
        partner=partner, realm_id=realm_id, **{**defaults, **fields}
    )


def imported(connection: QBOConnection, counts: dict[str, int] | None = None) -> None:
    """Cursors of a finished import."""
    for entity in mirror.entities():
        n = (counts or {}).get(entity, 3)
        SyncCursor.objects.create(
            connection=connection, entity=entity, import_done=True, imported_count=n,
            total_count=n, changed_since=timezone.now(),
        )  # fmt: skip


def importing(connection: QBOConnection) -> SyncRun:
    """An import half-way: customers done, items under way, the rest waiting; every entity
    beyond these four counted and empty, so the figures stay 50 of 200 records."""
    SyncCursor.objects.create(connection=connection, entity="Customer", import_done=True,
                              imported_count=40, total_count=40)  # fmt: skip
    SyncCursor.objects.create(connection=connection, entity="Item", imported_count=10,
                              total_count=60)  # fmt: skip
    SyncCursor.objects.create(connection=connection, entity="Invoice", total_count=80)
    SyncCursor.objects.create(connection=connection, entity="Payment", total_count=20)
    for entity in mirror.entities():
        if entity not in ("Customer", "Item", "Invoice", "Payment"):
            SyncCursor.objects.create(connection=connection, entity=entity, total_count=0)
    return SyncRun.objects.create(connection=connection, kind="import", trigger="connect")


def finished_run(connection: QBOConnection, **fields: Any) -> SyncRun:
    started = timezone.now() - timedelta(minutes=3)
    values: dict[str, Any] = {
        "kind": "poll", "trigger": "schedule", "status": "succeeded", "started_at": started,
        "finished_at": started + timedelta(seconds=12.5), "api_requests": 7, "throttled": 2,
        "retries": 3,
    }  # fmt: skip
    return SyncRun.objects.create(connection=connection, **{**values, **fields})


def page(client: Client, url: str | None = None, **headers: str) -> str:
    response = client.get(url or reverse("sync:connections"), headers=headers)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def buttons(html: str) -> set[str]:
    """The labels of every submit button and of the Disconnect link in the page's body."""
    main = html.split('<main id="main">', 1)[-1]
    labels = {
        " ".join(c.text.split())
        for form in parse_forms(main)
        for c in form.controls
        if c.type == "submit"
    }
    if "Disconnect…</a>" in main:
        labels.add("Disconnect…")
    return labels


# --- who sees what -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_partner_user_sees_only_their_own_connection(
    alice: User, partner_a: Partner, partner_b: Partner
) -> None:
    # Realm ids as long as QuickBooks' own: "2002" alone turned up inside a timestamp's
    # microseconds (10:18:32.320029) and failed the test for nothing.
    mine = make_connection(partner_a, "4620816365001001", company_name="Bubbles Books")
    theirs = make_connection(partner_b, "4620816365002002", company_name="Côte Ouest Books")
    html = page(signed_in(alice))
    assert "Bubbles Books" in html and "4620816365001001" in html
    assert "Côte Ouest Books" not in html and "4620816365002002" not in html
    client = signed_in(alice)
    assert client.get(reverse("sync:connection", args=[mine.pk])).status_code == 200
    for name in ("sync:connection", "sync:sync_now", "sync:disconnect"):
        assert client.get(reverse(name, args=[theirs.pk])).status_code == 404, name
        assert client.post(reverse(name, args=[theirs.pk])).status_code in (404, 405), name


@pytest.mark.django_db
def test_staff_and_admins_see_every_partners_connection(
    sam: User, ada: User, partner_a: Partner, partner_b: Partner
) -> None:
    make_connection(partner_a, "1001", company_name="Bubbles Books")
    make_connection(partner_b, "2002", company_name="Côte Ouest Books")
    for user in (sam, ada):
        html = page(signed_in(user))
        assert "Bubbles Books" in html and "Côte Ouest Books" in html
        assert partner_a.name.replace("&", "&amp;") in html and partner_b.name in html


@pytest.mark.django_db
def test_a_partner_with_no_connection_is_invited_to_connect(alice: User) -> None:
    html = page(signed_in(alice))
    assert "Connect your QuickBooks Online company to start" in html
    (form,) = [f for f in parse_forms(html) if f.action == reverse("sync:connect")]
    assert form.method.lower() == "post"
    assert any(c.text.strip() == "Connect to QuickBooks" for c in form.controls)


@pytest.mark.django_db
def test_staff_with_nothing_connected_get_an_explanation(sam: User) -> None:
    html = page(signed_in(sam))
    assert "No partner has connected QuickBooks yet" in html
    assert "Connect to QuickBooks" not in html


@pytest.mark.django_db
def test_a_disconnected_company_stays_listed_with_its_history_and_connect_is_offered(
    alice: User, sam: User, partner_a: Partner
) -> None:
    gone = make_connection(partner_a, "1001", status="disconnected", access_token=None,
                           refresh_token=None, next_sync_at=None,
                           disconnected_at=timezone.now())  # fmt: skip
    finished_run(gone)
    html = page(signed_in(alice))
    assert "Connect your QuickBooks Online company to start" in html
    assert "records mirrored before stay in unefemme" in html
    assert buttons(html) == {"Connect to QuickBooks"}
    staff = page(signed_in(sam))
    assert "records mirrored before stay in unefemme" in staff and "Sync now" not in staff


# --- the actions each role is offered -------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "who, status, expected",
    [
        ("alice", "connected", {"Sync now", "Disconnect…"}),
        ("alice", "needs_reconnect", {"Reconnect to QuickBooks", "Disconnect…"}),
        ("sam", "connected", {"Sync now"}),
        ("sam", "needs_reconnect", set()),
        ("ada", "connected", {"Sync now", "Disconnect…"}),
        ("ada", "needs_reconnect", {"Disconnect…"}),
    ],
)
def test_each_role_is_offered_exactly_its_actions(
    who: str, status: str, expected: set[str], cast: dict[str, User], partner_a: Partner
) -> None:
    connection = make_connection(partner_a, "1001", status=status)
    imported(connection)
    assert buttons(page(signed_in(cast[who]))) == expected


@pytest.mark.django_db
def test_sync_now_queues_a_sync_for_whoever_may_see_the_connection(
    cast: dict[str, User], partner_a: Partner, django_capture_on_commit_callbacks: Any
) -> None:
    connection = make_connection(partner_a, "1001")
    url = reverse("sync:sync_now", args=[connection.pk])
    assert signed_in(cast["bob"]).post(url).status_code == 404
    for who in ("alice", "sam", "ada"):
        with django_capture_on_commit_callbacks() as queued:
            response = signed_in(cast[who]).post(url)
        assert response.status_code == 302 and response["Location"] == reverse("sync:connections")
        assert len(queued) == 1, who  # the sync task, sent once the request commits


@pytest.mark.django_db
def test_sync_now_is_refused_with_a_reason_when_the_company_needs_reconnecting(
    alice: User, partner_a: Partner, django_capture_on_commit_callbacks: Any
) -> None:
    connection = make_connection(partner_a, "1001", status="needs_reconnect")
    client = signed_in(alice)
    with django_capture_on_commit_callbacks() as queued:
        response = client.post(reverse("sync:sync_now", args=[connection.pk]), follow=True)
    assert not queued
    assert "needs to be reconnected first" in response.content.decode()


@pytest.mark.django_db
def test_staff_cannot_disconnect(sam: User, partner_a: Partner) -> None:
    connection = make_connection(partner_a, "1001")
    client = signed_in(sam)
    assert client.get(reverse("sync:disconnect", args=[connection.pk])).status_code == 403
    assert client.post(reverse("sync:disconnect", args=[connection.pk])).status_code == 403
    connection.refresh_from_db()
    assert connection.status == "connected" and connection.refresh_token is not None


# --- words for the person who can act --------------------------------------------------------


@pytest.mark.django_db
def test_a_connection_that_needs_reconnecting_tells_each_reader_what_to_do(
    alice: User, sam: User, partner_a: Partner
) -> None:
    make_connection(
        partner_a,
        "1001",
        status="needs_reconnect",
        last_error_tid=TID,
        last_error="Your QuickBooks connection has expired or was disconnected.",
    )
    partner_view = page(signed_in(alice))
    assert "Press <em>Reconnect to QuickBooks</em> and sign in again" in partner_view
    assert "intuit_tid" not in partner_view
    staff_view = page(signed_in(sam))
    assert "Waiting for Bubbles &amp; Brine Distributing to reconnect" in staff_view
    assert "Only one of the partner's own people can reconnect" in staff_view
    assert f"(intuit_tid): <code>{TID}</code>" in staff_view


@pytest.mark.django_db
def test_a_failed_sync_shows_its_error_and_the_intuit_tid_to_staff(
    alice: User, sam: User, partner_a: Partner
) -> None:
    connection = make_connection(
        partner_a,
        "1001",
        last_error_tid=TID,
        last_error="QuickBooks refused a request from unefemme.",
    )
    imported(connection)
    finished_run(connection, status="failed", error="QuickBooks refused a request.",
                 intuit_tid=TID)  # fmt: skip
    partner_view = page(signed_in(alice))
    assert "QuickBooks refused a request from unefemme." in partner_view
    # The partner gets a reference to quote to Une Femme, not Intuit's vocabulary.
    assert "intuit_tid" not in partner_view
    assert f"Reference, if you contact Une Femme: <code>{TID}</code>" in partner_view
    staff_view = page(signed_in(sam))
    assert f"intuit_tid <code>{TID}</code>" in staff_view  # in the runs table
    assert "Intuit reference to quote to Intuit support" in staff_view


@pytest.mark.django_db
def test_recent_runs_show_kind_trigger_duration_requests_429s_retries_and_result(
    sam: User, partner_a: Partner
) -> None:
    connection = make_connection(partner_a, "1001")
    imported(connection, {"Customer": 4, "Item": 5, "Invoice": 6, "Payment": 7})
    finished_run(connection)
    html = page(signed_in(sam))
    row = re.search(r"<tr>\s*<td><time[^>]*>.*?</tr>", html, re.S)
    assert row is not None
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>",
                                                                   row.group(0), re.S)]  # fmt: skip
    assert cells[1:] == ["Change poll", "schedule", "12.5 s", "7", "2", "3", "Succeeded"]


@pytest.mark.django_db
def test_a_runs_extra_requests_for_a_capped_answer_and_checked_tombstones_are_in_its_row(
    sam: User, partner_a: Partner
) -> None:
    connection = make_connection(partner_a, "1001")
    imported(connection, {"Customer": 4, "Item": 5, "Invoice": 6, "Payment": 7})
    finished_run(connection, api_requests=115, counts={
        "Invoice": {"upserted": 1050, "deleted": 14, "unchanged": 40, "reread_requests": 112},
        "Customer": {"upserted": 20, "deleted": 0, "unchanged": 0, "tombstones_checked": 9,
                     "tombstone_requests": 1, "tombstones_live": 9},
        "Payment": {"upserted": 0, "deleted": 1, "unchanged": 0, "tombstones_checked": 1,
                    "tombstone_requests": 1, "tombstones_live": 0},
        "Item": {"upserted": 0, "deleted": 0, "unchanged": 2},
    })  # fmt: skip
    html = page(signed_in(sam))
    row = re.search(r"<tr>\s*<td><time[^>]*>.*?</tr>", html, re.S)
    assert row is not None
    text = " ".join(re.sub(r"<[^>]+>", " ", row.group(0)).split())
    assert "Invoice: over 1,000 changes in one answer, read whole (112 requests)" in text
    assert "Customer: 9 deletions checked (1 request); 9 still existed and were kept" in text
    assert "Payment: 1 deletion checked (1 request); 0 still existed and were kept" in text
    assert "Item:" not in text  # nothing beyond the poll's own request


@pytest.mark.django_db
def test_mirrored_counts_come_from_the_mirror(sam: User, partner_a: Partner) -> None:
    from billing.models import QBOCustomer
    from inventory.mapping.models import QBOItem

    connection = make_connection(partner_a, "1001")
    imported(connection)
    for n in range(3):
        QBOCustomer.objects.create(connection=connection, qbo_id=str(n + 1), display_name=f"C{n}")
    QBOItem.objects.create(connection=connection, qbo_id="1", name="Crémant: Brut")
    html = page(signed_in(sam))
    table = re.search(r"<table class=\"counts\">.*?</table>", html, re.S)
    assert table is not None
    values = re.findall(r"<td class=\"num\">(\d+)</td>", table.group(0))
    # One count per mirrored entity, in the registry's order: customers and items as made
    # above, every other entity none.
    made = {"Customer": "3", "Item": "1"}
    assert values == [made.get(entity, "0") for entity in mirror.entities()]


@pytest.mark.django_db
def test_no_page_shows_a_token(cast: dict[str, User], partner_a: Partner) -> None:
    connection = make_connection(partner_a, "1001")
    importing(connection)
    detail = reverse("sync:connection", args=[connection.pk])
    for who in ("alice", "sam", "ada"):
        client = signed_in(cast[who])
        for html in (
            page(client),
            page(client, detail),
            client.get(detail, headers={"HX-Request": "true"}).content.decode(),
            page(client, reverse("sync:disconnect", args=[connection.pk])) if who != "sam" else "",
        ):
            assert "access-token-for-page-tests" not in html
            assert "refresh-token-for-page-tests" not in html


# --- the htmx fragment ----------------------------------------------------------------------


@pytest.mark.django_db
def test_an_import_in_progress_is_polled_every_two_seconds(alice: User, partner_a: Partner) -> None:
    connection = make_connection(partner_a, "1001", next_sync_at=None, last_synced_at=None)
    importing(connection)
    client = signed_in(alice)
    detail = reverse("sync:connection", args=[connection.pk])

    full = page(client)
    assert f'hx-get="{detail}" hx-trigger="every 2s"' in full
    assert f'href="{detail}"' in full  # the same URL works without JavaScript
    assert "Importing from QuickBooks: 25%" in full  # 40 + 10 of 200 records
    assert '<progress id="progress-' in full and '<label for="progress-' in full

    response = client.get(detail, headers={"HX-Request": "true"})
    assert response.status_code == 200
    fragment = response.content.decode()
    assert "<html" not in fragment and "<body" not in fragment
    assert fragment.strip().startswith("<section") and 'hx-trigger="every 2s"' in fragment


@pytest.mark.django_db
def test_polling_stops_with_286_once_the_import_is_done(alice: User, partner_a: Partner) -> None:
    connection = make_connection(partner_a, "1001")
    run = importing(connection)
    SyncCursor.objects.filter(connection=connection).update(
        import_done=True, imported_count=10, total_count=10
    )
    run.status, run.finished_at = "succeeded", timezone.now()
    run.save()
    client = signed_in(alice)
    response = client.get(
        reverse("sync:connection", args=[connection.pk]), headers={"HX-Request": "true"}
    )
    assert response.status_code == 286
    fragment = response.content.decode()
    assert "hx-trigger" not in fragment  # the swapped-in card does not poll again
    assert "Succeeded" in fragment and "<html" not in fragment


@pytest.mark.django_db
def test_the_detail_page_without_htmx_is_a_whole_page(alice: User, partner_a: Partner) -> None:
    connection = make_connection(partner_a, "1001")
    imported(connection)
    html = page(signed_in(alice), reverse("sync:connection", args=[connection.pk]))
    assert "<html" in html and "All connections" in html and "Bubbles &amp; Brine" in html


@pytest.mark.django_db
def test_every_hx_get_has_an_href_and_every_form_posts(sam: User, partner_a: Partner) -> None:
    connection = make_connection(partner_a, "1001")
    importing(connection)
    html = page(signed_in(sam))
    hx_gets = re.findall(r'hx-get="([^"]+)"', html)
    assert hx_gets
    for url in hx_gets:
        assert f'href="{url}"' in html
    forms = parse_forms(html)
    assert forms
    for form in forms:
        if form.action == reverse("account_logout"):
            continue
        assert form.method.lower() == "post" and form.action
        assert any(c.name == "csrfmiddlewaretoken" for c in form.controls)


# --- cost -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_page_costs_the_same_few_queries_for_many_partners(
    sam: User, django_assert_max_num_queries: Any
) -> None:
    def add(n: int) -> None:
        for i in range(n):
            partner = PartnerFactory()
            connection = make_connection(partner, f"77{QBOConnection.objects.count()}{i}")
            imported(connection)
            for _ in range(3):
                finished_run(connection)

    client = signed_in(sam)
    add(2)
    page(client)  # warm the session and the user
    with django_assert_max_num_queries(8) as few:
        page(client)
    add(10)
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = page(client)
    assert html.count('class="tile connection"') == 12


@pytest.mark.django_db
def test_cards_of_imports_in_progress_cost_no_query_each(
    sam: User, django_assert_max_num_queries: Any
) -> None:
    # Onboarding many partners at once is when every card shows progress.
    def add(n: int) -> None:
        for i in range(n):
            importing(make_connection(PartnerFactory(), f"78{QBOConnection.objects.count()}{i}"))

    client = signed_in(sam)
    add(2)
    page(client)  # warm the session and the user
    with django_assert_max_num_queries(8) as few:
        page(client)
    add(10)
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = page(client)
    assert html.count("Importing from QuickBooks: 25%") == 12


@pytest.mark.django_db
def test_after_sync_now_the_card_polls_until_a_run_started_after_it_has_finished(
    alice: User, partner_a: Partner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sync.tasks import connection_sync

    monkeypatch.setattr(connection_sync, "apply_async", lambda *args, **kwargs: None)
    made = QBOConnection.objects.create(partner=partner_a, realm_id="4620000000000888")
    for entity in mirror.entities():  # imported long ago: only the requested sync is pending
        SyncCursor.objects.create(connection=made, entity=entity, import_done=True)
    client = signed_in(alice)
    client.post(reverse("sync:sync_now", args=[made.pk]))
    card = reverse("sync:connection", args=[made.pk])
    # Queued, not started: the card keeps polling (200), instead of stopping (286).
    assert client.get(card, headers={"HX-Request": "true"}).status_code == 200
    SyncRun.objects.create(
        connection=made, kind=SyncRun.Kind.POLL, status=SyncRun.Status.SUCCEEDED,
        trigger="manual", finished_at=timezone.now(),
    )  # fmt: skip
    assert client.get(card, headers={"HX-Request": "true"}).status_code == 286


@pytest.mark.django_db
def test_a_company_name_ending_in_a_period_gets_no_second_one_in_the_messages(
    alice: User, partner_a: Partner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sync import services

    connection = make_connection(partner_a, "1001", company_name="Une Femme Wines Co.")
    monkeypatch.setattr(services, "connection_connect_from_callback", lambda **kwargs: connection)
    client = signed_in(alice)

    connected = client.get(reverse("sync:callback"), follow=True).content.decode()
    assert "Connected to Une Femme Wines Co. The first import has started" in connected

    url = reverse("sync:disconnect", args=[connection.pk])
    disconnected = client.post(url, follow=True).content.decode()
    assert "Disconnected Une Femme Wines Co. Syncing has stopped" in disconnected
    assert "Co.." not in connected + disconnected


def press_sync_now(client: Client, html: str, connection: QBOConnection) -> str:
    """Post the page's Sync now form as a browser would; where the answer sends the person."""
    action = reverse("sync:sync_now", args=[connection.pk])
    (form,) = [f for f in parse_forms(html) if f.action == action]
    (button,) = [c for c in form.controls if c.type == "submit"]
    response = client.post(action, dict(form.submission(button, {})))
    assert response.status_code == 302
    return str(response["Location"])


@pytest.mark.django_db
def test_sync_now_returns_to_the_page_it_was_pressed_on(
    cast: dict[str, User], partner_a: Partner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sync.tasks import connection_sync

    monkeypatch.setattr(connection_sync, "apply_async", lambda *args, **kwargs: None)
    connection = make_connection(partner_a, "1001")
    imported(connection)
    listing = reverse("sync:connections")
    detail = reverse("sync:connection", args=[connection.pk])
    for who in ("alice", "sam", "ada"):
        client = signed_in(cast[who])
        assert press_sync_now(client, page(client), connection) == listing, who
        assert press_sync_now(client, page(client, detail), connection) == detail, who
        # The card the connection's page polls for (htmx) keeps its way back.
        polled = {"HX-Request": "true", "HX-Current-URL": f"http://testserver{detail}"}
        assert press_sync_now(client, page(client, detail, **polled), connection) == detail, who
        polled["HX-Current-URL"] = f"http://testserver{listing}"
        card = page(client, detail, **polled)
        assert press_sync_now(client, card, connection) == listing, who


@pytest.mark.django_db
@pytest.mark.parametrize(
    "elsewhere",
    ["https://evil.example/", "//evil.example/sync/", "http://testserver.evil.example/", ""],
)
def test_sync_now_never_sends_anyone_off_site(
    alice: User, partner_a: Partner, monkeypatch: pytest.MonkeyPatch, elsewhere: str
) -> None:
    from sync.tasks import connection_sync

    monkeypatch.setattr(connection_sync, "apply_async", lambda *args, **kwargs: None)
    connection = make_connection(partner_a, "1001")
    response = signed_in(alice).post(
        reverse("sync:sync_now", args=[connection.pk]), {"next": elsewhere}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("sync:connections")
