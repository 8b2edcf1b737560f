"""TaxCode, TaxRate, Class, Department and Employee through python-quickbooks' own objects:
seeded in the demo, queryable, readable; tax codes and rates read-only; classes,
departments and employees written as name lists are (qbo_sandbox/lists.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from quickbooks import QuickBooks
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.base import EmailAddress, Ref
from quickbooks.objects.department import Department
from quickbooks.objects.employee import Employee
from quickbooks.objects.taxcode import TaxCode
from quickbooks.objects.taxrate import TaxRate
from quickbooks.objects.trackingclass import Class

from .support import Connection, RealmApi, assert_validation_fault, connect, decimal_json

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess


def recent() -> str:
    return (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")


@pytest.fixture(scope="module")
def demo(sandbox: SandboxProcess) -> Connection:
    return connect(sandbox, sandbox.new_company(seed="demo", scale=0.1))


def test_the_demo_has_tax_codes_and_rates_that_queries_and_reads_return(demo: Connection) -> None:
    codes = TaxCode.all(qb=demo.qb)
    assert {code.Name for code in codes} == {"Oakland", "Seattle"}
    rates = {rate.Id: rate for rate in TaxRate.all(qb=demo.qb)}
    assert {rate.Name for rate in rates.values()} >= {"California State", "King County"}
    seattle = TaxCode.get(next(c.Id for c in codes if c.Name == "Seattle"), qb=demo.qb)
    assert seattle.TaxGroup is True and seattle.Taxable is True
    parts = [rates[d.TaxRateRef.value].Name for d in seattle.SalesTaxRateList.TaxRateDetail]
    assert parts == ["Washington State", "King County"]
    state = TaxRate.filter(Name="Washington State", qb=demo.qb)
    assert [str(rate.RateValue) for rate in state] == ["6.5"]
    assert demo.api.query("SELECT COUNT(*) FROM TaxRate")["totalCount"] == 4


def test_tax_codes_and_rates_are_read_only_and_not_in_cdc(demo: Connection) -> None:
    api = demo.api
    code = api.rows("SELECT * FROM TaxCode", "TaxCode")[0]
    for entity, body in (
        ("TaxCode", {"Name": "Portland", "Taxable": True}),
        ("TaxRate", {"Name": "Portland City", "RateValue": 0}),
        (
            "TaxCode",
            {"Id": code["Id"], "SyncToken": code["SyncToken"], "sparse": True, "Name": "X"},
        ),
    ):
        response = api.request("POST", entity.lower(), json_body=body)
        error = assert_validation_fault(response, "500")
        assert error["Message"] == "Unsupported Operation"
    assert api.read("TaxCode", code["Id"])["Name"] == code["Name"]
    # CDC does not cover tax codes and rates (docs/qbo-api.md §3).
    for name in ("TaxCode", "TaxRate"):
        cdc = api.request("GET", "cdc", params={"entities": name, "changedSince": recent()})
        assert assert_validation_fault(cdc, "2010")["element"] == "entities"


def test_the_demo_has_classes_departments_and_staff(demo: Connection) -> None:
    classes = {c.FullyQualifiedName: c for c in Class.all(qb=demo.qb)}
    assert {"On-premise", "Off-premise", "Off-premise:Grocery"} <= set(classes)
    assert classes["Off-premise:Grocery"].SubClass is True
    assert classes["Off-premise:Grocery"].ParentRef.value == classes["Off-premise"].Id
    assert {d.Name for d in Department.all(qb=demo.qb)} >= {"Main warehouse", "Cold room"}
    staff = Employee.all(qb=demo.qb)
    assert len(staff) == 4 and all(e.DisplayName and e.EmployeeNumber for e in staff)
    kwame = Employee.filter(GivenName="Kwame", qb=demo.qb)[0]
    assert Employee.get(kwame.Id, qb=demo.qb).DisplayName == "Kwame Okafor"


def test_a_class_and_a_sub_class_are_created_renamed_and_deactivated(
    qb: QuickBooks, api: RealmApi
) -> None:
    channel = Class()
    channel.Name = "On-premise"
    channel = channel.save(qb=qb)
    hotels = Class()
    hotels.Name = "Hotels"
    hotels.ParentRef = Ref()
    hotels.ParentRef.value = channel.Id
    hotels = hotels.save(qb=qb)
    assert hotels.FullyQualifiedName == "On-premise:Hotels" and hotels.SubClass is True

    fetched = Class.get(channel.Id, qb=qb)
    fetched.Name = "On premise"
    assert fetched.save(qb=qb).SyncToken == "1"
    assert Class.get(hotels.Id, qb=qb).FullyQualifiedName == "On premise:Hotels"

    duplicate = api.request("POST", "class", json_body={"Name": "on premise"})
    assert_validation_fault(duplicate, "6240")
    assert_validation_fault(api.request("POST", "class", json_body={"Name": "A:B"}), "6000")

    api.update("Class", {"Id": hotels.Id, "SyncToken": "1", "sparse": True, "Active": False})
    assert [c.Id for c in Class.all(qb=qb)] == [channel.Id]
    assert len(Class.where("Active IN (true, false)", qb=qb)) == 2
    # A name list is deactivated, never deleted.
    deleted = api.request(
        "POST",
        "class",
        params={"operation": "delete"},
        json_body={"Id": channel.Id, "SyncToken": "1"},
    )
    assert_validation_fault(deleted, "500")


def test_a_department_is_a_location_with_sub_locations(qb: QuickBooks, api: RealmApi) -> None:
    warehouse = Department()
    warehouse.Name = "Main warehouse"
    warehouse = warehouse.save(qb=qb)
    cold = api.create("Department", {"Name": "Cold room", "ParentRef": {"value": warehouse.Id}})
    assert cold["FullyQualifiedName"] == "Main warehouse:Cold room" and cold["SubDepartment"]
    sparse = api.update(
        "Department", {"Id": cold["Id"], "SyncToken": "0", "sparse": True, "Name": "Cellar"}
    )
    assert sparse["FullyQualifiedName"] == "Main warehouse:Cellar"
    bad = api.request("POST", "department", json_body={"Name": "X", "ParentRef": {"value": "999"}})
    assert_validation_fault(bad, "2500")


def test_an_employee_shares_the_names_of_customers_and_vendors(
    qb: QuickBooks, api: RealmApi
) -> None:
    rep = Employee()
    rep.GivenName = "Marguerite"
    rep.FamilyName = "Dubois"
    rep.PrimaryEmailAddr = EmailAddress()
    rep.PrimaryEmailAddr.Address = "m.dubois@example.com"
    rep.SSN = "123-45-6789"
    saved = rep.save(qb=qb)

    assert saved.DisplayName == "Marguerite Dubois" and saved.SyncToken == "0"
    fetched = Employee.get(saved.Id, qb=qb)
    assert fetched.SSN != "123-45-6789"  # QBO answers with a mask, never the number
    fetched.EmployeeNumber = "E-101"
    assert fetched.save(qb=qb).SyncToken == "1"
    # One list of names for customers, vendors and employees.
    clash = api.request("POST", "customer", json_body={"DisplayName": "marguerite dubois"})
    assert_validation_fault(clash, "6240")
    nameless = Employee()
    with pytest.raises(QuickbooksException) as missing:
        nameless.save(qb=qb)
    assert missing.value.error_code == 2020


@pytest.mark.parametrize("entity", ["Class", "Department", "Employee"])
def test_cdc_reports_classes_departments_and_employees(api: RealmApi, entity: str) -> None:
    bodies: dict[str, dict[str, Any]] = {
        "Class": {"Name": "Events & tastings"},
        "Department": {"Name": "Will-call counter"},
        "Employee": {"GivenName": "Aiko", "FamilyName": "Yamamoto"},
    }
    created = api.create(entity, bodies[entity])
    response = api.request(
        "GET", "cdc", params={"entities": f"{entity},Invoice", "changedSince": recent()}
    )
    assert response.status_code == 200, response.text
    (changes,) = decimal_json(response)["CDCResponse"][0]["QueryResponse"]
    assert [row["Id"] for row in changes[entity]] == [created["Id"]]
