"""An admin pushes warehouse quantities into a partner's QuickBooks from the browser:
discrepancies → draft → approve → the job page's own htmx polling shows the progress to
the end → after the sync it asked for, the rows are within tolerance. QuickBooks'
quantities are read back from qbo_sandbox over HTTP, not through the app."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

from inventory.mapping.models import SKUMapping
from inventory.push.models import PushItem, PushJob
from tests.browser.conftest import screenshot, sign_in, wait_for
from tests.browser.demo_books import dec
from tests.factories import PASSWORD

if TYPE_CHECKING:
    from tests.browser.demo_books import Company, DemoBooks

pytestmark = pytest.mark.django_db(transaction=True)

PARTNER_SLUG = "bubbles-brine"


def quickbooks_bottles(company: Company, code: str) -> Decimal:
    total = Decimal(0)
    for m in SKUMapping.objects.filter(connection=company.connection, catalog_sku__code=code):
        item = company.books.read("Item", m.item_qbo_id)
        if item.get("Active", True):
            total += dec(item.get("QtyOnHand")) * m.bottles_per_unit
    return total


def test_an_admin_pushes_warehouse_counts_and_watches_them_land(
    page: Page, demo_books: DemoBooks
) -> None:
    company = demo_books.company(PARTNER_SLUG)
    sign_in(page, demo_books.admin.email, PASSWORD)

    page.goto(f"/inventory/discrepancies/?partner={company.partner.pk}&status=under")
    rows = page.locator("#discrepancy-table tbody tr")
    expect(rows.first).to_be_visible()
    page.get_by_role("link", name="Push warehouse quantities to QuickBooks…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Push warehouse quantities to QuickBooks"
    )
    # The partner filter carried over: the SKUs are listed at once.
    table = page.get_by_role("table", name=f"{company.name}: warehouse against QuickBooks")
    expect(table).to_be_visible()
    ticked = table.locator("input[type=checkbox]:checked")
    assert ticked.count() > 0
    # A SKU with several items that could take its adjustment asks which (a draft without
    # the choice is refused): the admin picks the first item offered for each.
    for choice in table.locator("fieldset.item-choice").all():
        choice.locator("input[type=radio]:not([disabled])").first.check()
    page.get_by_role("button", name="Make a draft for approval").click()

    expect(page.locator("#job-progress h2")).to_have_text("Status: Awaiting approval")
    job = PushJob.objects.get()
    codes = list(job.items.values_list("catalog_sku__code", flat=True))
    before = {code: quickbooks_bottles(company, code) for code in codes}
    screenshot(page, "push-1-draft")

    page.get_by_role("button", name="Approve and write to QuickBooks").click()
    expect(page.locator(".messages")).to_contain_text("Approved")
    # The page's own polling brings the outcome; no reload.
    page.evaluate("window.pushMark = 1")
    expect(page.locator("#job-progress h2")).to_have_text("Status: Done", timeout=60_000)
    assert page.evaluate("window.pushMark") == 1
    expect(page.locator("#job-progress progress")).to_have_attribute("value", str(len(codes)))
    expect(page.locator("#job-progress")).to_contain_text(f"{len(codes)} written")
    # What QuickBooks booked for the adjustments, at the items' costs.
    expect(page.locator(".push-value")).to_contain_text("Booked by QuickBooks to")
    screenshot(page, "push-2-done")

    for item in job.items.select_related("catalog_sku"):
        assert item.status == PushItem.Status.WRITTEN, item.message
        code = item.catalog_sku.code
        assert demo_books.warehouse_today[(PARTNER_SLUG, code)] == quickbooks_bottles(company, code)
        assert before[code] != demo_books.warehouse_today[(PARTNER_SLUG, code)]

    # The finished job asked for a sync; once it ran, the discrepancies agree.
    def within() -> bool:
        page.goto(f"/inventory/discrepancies/?partner={company.partner.pk}&status=under")
        text = page.locator("#discrepancy-table").inner_text()
        return not any(re.search(rf"\b{re.escape(code)}\b", text) for code in codes)

    wait_for(within, timeout=60, what="the pushed SKUs to leave the 'under' filter")
    screenshot(page, "push-3-discrepancies-after")
