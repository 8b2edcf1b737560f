"""Depletion allowances from program to payment, in Chromium against qbo_sandbox's demo
companies as the real import brought them in (tests/browser/demo_books.py):

1. an admin defines a program on the Allowance programs page (no Django admin);
2. the partner's user uploads its billback claim as a CSV file, sees each line checked
   against its books, and sends it;
3. the admin approves part of it with a note;
4. the admin downloads the payment export, whose Approved column adds up to the approved
   amount the claim's page shows.

Screenshots: test-artifacts/screenshots/allowances-<step>.png.
"""

from __future__ import annotations

import csv
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from allowances import books
from allowances.books import ProgramTerms
from allowances.models import AllowanceProgram, Claim
from inventory.mapping.models import SKUMapping
from tests.browser.conftest import screenshot, sign_in
from tests.factories import PASSWORD

if TYPE_CHECKING:
    from tests.browser.demo_books import DemoBooks

pytestmark = pytest.mark.django_db(transaction=True)

PARTNER_SLUG = "bubbles-brine"
PROGRAM = "Winter on-trade push"


def open_menu_link(page: Page, menu: str, link: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_text(menu, exact=True).click()
    page.get_by_role("link", name=link, exact=True).click()


def test_program_claim_partial_approval_and_the_payment_export(
    page: Page,
    demo_books: DemoBooks,
    browser: Browser,
    browser_context_args: dict[str, Any],
    tmp_path: Path,
) -> None:
    company = demo_books.company(PARTNER_SLUG)
    codes = sorted(
        set(
            SKUMapping.objects.filter(connection=company.connection).values_list(
                "catalog_sku__code", flat=True
            )
        )
    )
    assert len(codes) >= 2
    today = timezone.localdate()
    start = (today - timedelta(days=120)).replace(day=1)

    # 1. The admin defines the program.
    sign_in(page, demo_books.admin.email, PASSWORD)
    open_menu_link(page, "Money", "Allowance programs")
    page.get_by_role("link", name="New program").click()
    page.get_by_label("Name").fill(PROGRAM)
    page.get_by_label(company.partner.name).check()
    for code in codes[:2]:
        page.get_by_label(re.compile(rf"{re.escape(code)} ·")).check()
    page.get_by_label("Start").fill(f"{start:%Y-%m-%d}")
    page.get_by_label("End").fill(f"{today + timedelta(days=30):%Y-%m-%d}")
    page.get_by_label("Rate ($)").fill("12.00")
    screenshot(page, "allowances-1-new-program")
    page.get_by_role("button", name="Create program").click()
    expect(page.get_by_role("heading", name=PROGRAM)).to_be_visible()
    screenshot(page, "allowances-2-program")
    program = AllowanceProgram.objects.get(name=PROGRAM)

    # The claim: three accounts' real depletion of one month, the third claimed inflated.
    terms = ProgramTerms.of(program)
    found = books.qualifying(terms, connection_ids=[company.connection.pk])
    by_month: dict[Any, list[Any]] = {}
    for entry in found.values():
        by_month.setdefault(entry.month, []).append(entry)
    month, entries = max(by_month.items(), key=lambda kv: len(kv[1]))
    assert len(entries) >= 3, "the demo company has too few buyers in any month"
    from billing.models import QBOCustomer

    names = dict(
        QBOCustomer.objects.filter(connection=company.connection).values_list(
            "qbo_id", "display_name"
        )
    )
    code_of = dict(
        SKUMapping.objects.filter(connection=company.connection).values_list(
            "catalog_sku_id", "catalog_sku__code"
        )
    )
    rows = []
    for n, entry in enumerate(sorted(entries, key=lambda e: e.customer_qbo_id)[:3]):
        sku_id, bottles = sorted(entry.bottles.items())[0]
        claimed = bottles + (12 if n == 2 else 0)
        amount = terms.allowance({sku_id: claimed})
        rows.append(
            [
                f"{month:%Y-%m}",
                code_of[sku_id],
                names[entry.customer_qbo_id],
                f"{claimed.normalize():f}",
                f"{amount}",
            ]
        )
    claim_file = tmp_path / "billback-claim.csv"
    with claim_file.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["period", "sku", "account", "bottles", "amount"])
        writer.writerows(rows)

    # 2. The partner's user uploads it, sees each line checked, and sends it.
    partner_context = browser.new_context(**browser_context_args)
    partner_page = partner_context.new_page()
    sign_in(partner_page, company.user.email, PASSWORD)
    open_menu_link(partner_page, "Money", "Billback claims")
    partner_page.get_by_role("link", name="Send a claim").click()
    partner_page.get_by_label("Program").select_option(label=PROGRAM)
    partner_page.get_by_label("CSV file").set_input_files(claim_file)
    screenshot(partner_page, "allowances-3-upload")
    partner_page.get_by_role("button", name="Check the claim").click()
    lines = partner_page.locator("#claim-lines tbody tr")
    expect(lines).to_have_count(3)
    expect(lines.nth(0)).to_contain_text("Matched")
    expect(lines.nth(1)).to_contain_text("Matched")
    expect(lines.nth(2)).to_contain_text("Over-claimed")
    screenshot(partner_page, "allowances-4-checked")
    partner_page.get_by_role("button", name="Send for approval").click()
    expect(partner_page.get_by_text("Awaiting decision")).to_be_visible()
    screenshot(partner_page, "allowances-5-sent")
    partner_context.close()
    claim = Claim.objects.get()

    # 3. The admin approves part: the first matched line and the over-claimed one (at what
    # the books support), not the second matched line.
    open_menu_link(page, "Money", "Billback claims")
    page.get_by_role("link", name=str(claim.pk), exact=True).click()
    choices = page.get_by_role("group", name="Lines to approve").get_by_role("checkbox")
    expect(choices).to_have_count(3)
    choices.nth(1).uncheck()
    choices.nth(2).check()
    page.get_by_label("Note").fill("Pinecone paid on the bottles the books show.")
    page.get_by_role("button", name="Approve the chosen lines").click()
    expect(page.get_by_text("Partly approved").first).to_be_visible()
    approved_text = page.locator("#claim-approved").inner_text()
    screenshot(page, "allowances-6-decided")
    claim.refresh_from_db()
    lines_by_number = {line.line: line for line in claim.lines.all()}
    assert claim.approved == (lines_by_number[2].amount or 0) + lines_by_number[4].supported
    assert approved_text == f"${claim.approved:,}"

    # 4. The payment export adds up to the approved amount.
    page.get_by_role("link", name="This claim's approved lines for payment").click()
    screenshot(page, "allowances-7-payments")
    with page.expect_download() as download_info:
        page.get_by_role("link", name=re.compile(r"^Export CSV")).click()
    with open(download_info.value.path(), encoding="utf-8-sig", newline="") as file:
        exported = list(csv.DictReader(file))
    assert len(exported) == 2
    assert sum(Decimal(r["Approved"]) for r in exported) == claim.approved
