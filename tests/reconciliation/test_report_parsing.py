"""How the QBO client reads a report's JSON (``sync.clients.qbo.accounting.report_from_json``):
names nested in Sections, blank cells, the GrandTotal in either of Intuit's shapes."""

from __future__ import annotations

from datetime import date
from typing import Any

from sync.clients.qbo.accounting import report_from_json


def cells(*values: str, ref: str | None = None) -> list[dict[str, str]]:
    first = {"value": values[0], **({"id": ref} if ref else {})}
    return [first, *({"value": v} for v in values[1:])]


def aged(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Header": {
            "ReportName": "AgedReceivables",
            "EndPeriod": "2026-12-03",
            "Option": [{"Name": "report_date", "Value": "2026-12-03"}],
        },
        "Columns": {"Column": [{"ColTitle": t} for t in ("", "Current", "Total")]},
        "Rows": {"Row": rows},
    }


def test_sub_customers_rows_are_read_and_section_totals_are_not() -> None:
    report = report_from_json(
        "AgedReceivables",
        aged(
            [
                {"ColData": cells("Amy's Birds", "10.00", "10.00", ref="1"), "type": "Data"},
                {
                    "Header": {"ColData": cells("Jeff's Jalopies", "", "", ref="12")},
                    "Rows": {"Row": [
                        {"ColData": cells("Jeff's Jalopies", "", "5.00", ref="12"), "type": "Data"},
                        {"ColData": cells("Jalopy 2", "1.50", "1.50", ref="13"), "type": "Data"},
                    ]},
                    "Summary": {"ColData": cells("Total Jeff's Jalopies", "1.50", "6.50")},
                    "type": "Section",
                },
                {"Summary": {"ColData": cells("TOTAL", "11.50", "16.50")}, "type": "Section",
                 "group": "GrandTotal"},
            ]
        ),
    )  # fmt: skip
    assert report.end_period == date(2026, 12, 3)
    assert report.columns == ["", "Current", "Total"]
    assert [(r.id, r.name, r.cells) for r in report.rows] == [
        ("1", "Amy's Birds", ["10.00", "10.00"]),
        ("12", "Jeff's Jalopies", ["", "5.00"]),
        ("13", "Jalopy 2", ["1.50", "1.50"]),
    ]
    assert report.total == ["11.50", "16.50"] and not report.empty


def test_a_grand_total_with_its_cells_on_the_row_and_an_empty_report() -> None:
    # Intuit's InventoryValuationSummary example puts the total's ColData on the row.
    report = report_from_json(
        "InventoryValuationSummary",
        aged([{"ColData": cells("TOTAL", "3.00", "9.00"), "group": "GrandTotal"}]),
    )
    assert report.rows == [] and report.total == ["3.00", "9.00"]
    empty = aged([])
    empty["Header"]["Option"].append({"Name": "NoReportData", "Value": "true"})
    assert report_from_json("AgedReceivables", empty).empty
