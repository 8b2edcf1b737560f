"""Name lists beside the ones a sync reads: TaxCode, TaxRate, Class, Department, Employee.

TaxCode and TaxRate are read-only through the Accounting API (Intuit makes them with its
TaxService; a create or update answers Unsupported Operation), and an inactive tax code is
still returned by a plain query (docs/qbo-api.md §2, "Inactive rows"). Classes, departments
(QBO's "locations") and employees are ordinary name lists: created, updated, deactivated,
never deleted.
"""

from __future__ import annotations

from qbo_sandbox.books import Books, Spec, parse_date, register
from qbo_sandbox.common import JSON, business_error, required_missing
from qbo_sandbox.entities import (
    _bool,
    _fields,
    _hierarchy,
    _name_key,
    _number,
    _plain_name,
    _rename_children,
    _text,
)


def _fixed(books: Books, data: JSON, old: JSON | None) -> JSON:
    # Only the seed writes tax codes and rates (Books.save); the API refuses to.
    return data


# ---------------------------------------------------------------- Class, Department


def _class(books: Books, data: JSON, old: JSON | None) -> JSON:
    return _segment(books, "Class", "SubClass", data, old)


def _department(books: Books, data: JSON, old: JSON | None) -> JSON:
    return _segment(books, "Department", "SubDepartment", data, old)


def _segment(books: Books, entity: str, flag: str, data: JSON, old: JSON | None) -> JSON:
    name = _plain_name(data, "Name")
    data["Active"] = _bool(data, "Active", True)
    _hierarchy(books, entity, data, old, name, flag)
    data.pop("Level", None)  # classes and departments nest, but QBO reports no Level
    return data


def _class_effects(books: Books, old: JSON | None, new: JSON | None) -> None:
    if new is not None:
        _rename_children(books, "Class", old, new)


def _department_effects(books: Books, old: JSON | None, new: JSON | None) -> None:
    if new is not None:
        _rename_children(books, "Department", old, new)


# ---------------------------------------------------------------- Employee


def _employee(books: Books, data: JSON, old: JSON | None) -> JSON:
    if not data.get("GivenName") and not data.get("FamilyName"):
        # Intuit's Employee reference: GivenName or FamilyName is required.
        raise required_missing("GivenName")
    if data.get("DisplayName") is None:
        parts = [data.get(k) for k in ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")]
        data["DisplayName"] = " ".join(str(p) for p in parts if p)
    display = _text(data, "DisplayName", limit=500, required=True)
    assert display is not None
    if any(c in display for c in ":\t\n"):
        raise business_error("DisplayName cannot contain a colon (:), tab or newline")
    data["Active"] = _bool(data, "Active", True)
    data["BillableTime"] = _bool(data, "BillableTime", False)
    data["Organization"] = _bool(data, "Organization", False)
    data.setdefault("PrintOnCheckName", display)
    for key in ("BillRate", "CostRate"):
        _number(data, key)
    for key in ("HiredDate", "ReleasedDate", "BirthDate"):
        day = parse_date(data.get(key), key)
        if day is not None:
            data[key] = day.isoformat()
    ssn = data.get("SSN")
    if ssn is not None:
        # QBO never returns a social security number, only its mask [unconfirmed: the
        # mask's exact form].
        data["SSN"] = "XXX-XX-XXXX"
    return data


register(
    Spec(
        name="TaxCode",
        kind="list",
        sequence="TaxCode",
        fields=_fields(
            "Name",
            "Description",
            "Active",
            "Hidden",
            "Taxable",
            "TaxGroup",
            "SalesTaxRateList",
            "PurchaseTaxRateList",
            "AdjustmentTaxRateList",
            "TaxCodeConfigType",
        ),  # fmt: skip
        read_only=frozenset(),
        normalize=_fixed,
        name_key=lambda obj: _name_key("TaxCode", obj.get("Name")),
        writable=False,
    )
)
register(
    Spec(
        name="TaxRate",
        kind="list",
        sequence="TaxRate",
        fields=_fields(
            "Name",
            "Description",
            "Active",
            "RateValue",
            "AgencyRef",
            "TaxReturnLineRef",
            "SpecialTaxType",
            "DisplayType",
            "EffectiveTaxRate",
            "OriginalTaxRate",
        ),  # fmt: skip
        read_only=frozenset(),
        normalize=_fixed,
        name_key=lambda obj: _name_key("TaxRate", obj.get("Name")),
        writable=False,
        hides_inactive=True,
    )
)
register(
    Spec(
        name="Class",
        kind="list",
        sequence="Class",
        fields=_fields("Name", "SubClass", "ParentRef", "FullyQualifiedName", "Active"),
        read_only=frozenset({"FullyQualifiedName", "SubClass"}),
        normalize=_class,
        name_key=lambda obj: _name_key("Class", obj.get("FullyQualifiedName")),
        effects=_class_effects,
        hides_inactive=True,
    )
)
register(
    Spec(
        name="Department",
        kind="list",
        sequence="Department",
        fields=_fields("Name", "SubDepartment", "ParentRef", "FullyQualifiedName", "Active"),
        read_only=frozenset({"FullyQualifiedName", "SubDepartment"}),
        normalize=_department,
        name_key=lambda obj: _name_key("Department", obj.get("FullyQualifiedName")),
        effects=_department_effects,
        hides_inactive=True,
    )
)
register(
    Spec(
        name="Employee",
        kind="list",
        sequence="Employee",
        fields=_fields(
            "DisplayName",
            "Title",
            "GivenName",
            "MiddleName",
            "FamilyName",
            "Suffix",
            "PrintOnCheckName",
            "Active",
            "PrimaryPhone",
            "Mobile",
            "PrimaryEmailAddr",
            "EmailAddress",
            "PrimaryAddr",
            "EmployeeNumber",
            "SSN",
            "BillableTime",
            "BillRate",
            "CostRate",
            "BirthDate",
            "Gender",
            "HiredDate",
            "ReleasedDate",
            "Organization",
            "V4IDPseudonym",
        ),  # fmt: skip
        read_only=frozenset(),
        normalize=_employee,
        # Employees share the list of names that customers and vendors use (entities.py).
        name_key=lambda obj: _name_key("Name", obj.get("DisplayName")),
        hides_inactive=True,
    )
)
