"""Name-list entities (Item, Customer, Vendor, Account, PaymentMethod, Term, and the
read-only CustomerType) and the two company singletons (CompanyInfo, Preferences):
validation and normalisation rules.
"""

from __future__ import annotations

from typing import Any

from qbo_sandbox.books import SYSTEM_KEYS, Books, Spec, display_name, parse_date, register
from qbo_sandbox.common import (
    JSON,
    business_error,
    dec,
    invalid_enum,
    invalid_value,
    num,
    required_missing,
)

USD = {"value": "USD", "name": "United States Dollar"}

# Intuit's AccountType values with their Classification, and a default AccountSubType.
ACCOUNT_TYPES: dict[str, tuple[str, str]] = {
    "Bank": ("Asset", "Checking"),
    "Other Current Asset": ("Asset", "OtherCurrentAssets"),
    "Fixed Asset": ("Asset", "OtherFixedAssets"),
    "Other Asset": ("Asset", "OtherLongTermAssets"),
    "Accounts Receivable": ("Asset", "AccountsReceivable"),
    "Equity": ("Equity", "OwnersEquity"),
    "Expense": ("Expense", "OtherMiscellaneousServiceCost"),
    "Other Expense": ("Expense", "OtherMiscellaneousExpense"),
    "Cost of Goods Sold": ("Expense", "SuppliesMaterialsCogs"),
    "Accounts Payable": ("Liability", "AccountsPayable"),
    "Credit Card": ("Liability", "CreditCard"),
    "Long Term Liability": ("Liability", "OtherLongTermLiabilities"),
    "Other Current Liability": ("Liability", "OtherCurrentLiabilities"),
    "Income": ("Revenue", "SalesOfProductIncome"),
    "Other Income": ("Revenue", "OtherMiscellaneousIncome"),
}
ITEM_TYPES = ("Inventory", "NonInventory", "Service", "Category")

_COMMON = frozenset(SYSTEM_KEYS)


def _fields(*names: str) -> frozenset[str]:
    return _COMMON | frozenset(names)


def _name_key(namespace: str, name: Any) -> str | None:
    # Names are unique case-insensitively, and inactive names still count.
    return f"{namespace}|{str(name).casefold()}" if name else None


def _text(data: JSON, key: str, *, limit: int, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise required_missing(key)
        return None
    if not isinstance(value, str):
        raise invalid_value(key, value)
    if len(value) > limit:
        raise business_error(f"{key} is longer than {limit} characters", code="6000")
    return value


def _plain_name(data: JSON, key: str) -> str:
    name = _text(data, key, limit=100, required=True)
    assert name is not None
    if any(c in name for c in ":\t\n"):
        # ':' separates levels of FullyQualifiedName, so QBO forbids it in names.
        raise business_error(f"{key} cannot contain a colon (:), tab or newline")
    return name


def _bool(data: JSON, key: str, default: bool) -> bool:
    value = data.get(key, default)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise invalid_value(key, value)
    return value


def _number(data: JSON, key: str) -> None:
    """Normalise an optional numeric property in place."""
    if key in data:
        data[key] = num(dec(data[key], key))


def _hierarchy(
    books: Books, entity: str, data: JSON, old: JSON | None, name: str, flag: str
) -> None:
    """ParentRef → the sub-level flag, Level and FullyQualifiedName (Parent:Child)."""
    parent_ref = books.ref(data.get("ParentRef"), entity, "ParentRef")
    if parent_ref is not None and old is not None and parent_ref["value"] == old["Id"]:
        raise business_error(f"A {entity} cannot be its own parent")
    if parent_ref is None:
        data.pop("ParentRef", None)
        data[flag] = False
        data["Level"] = 0
        data["FullyQualifiedName"] = name
        return
    parent = books.require(entity, parent_ref["value"])
    data["ParentRef"] = parent_ref
    data[flag] = True
    data["Level"] = int(parent.get("Level", 0)) + 1
    data["FullyQualifiedName"] = f"{display_name(parent)}:{name}"


def _rename_children(books: Books, entity: str, old: JSON | None, new: JSON) -> None:
    """Keep descendants' FullyQualifiedName in step when a parent is renamed."""
    if old is None or old.get("FullyQualifiedName") == new.get("FullyQualifiedName"):
        return
    for child in books.tx.select(books.realm_id, entity):
        if (child.get("ParentRef") or {}).get("value") == new["Id"]:
            name = child.get("Name") or child.get("DisplayName")
            updated = {**child, "FullyQualifiedName": f"{new['FullyQualifiedName']}:{name}"}
            books.save(entity, updated, child, "Update")
            _rename_children(books, entity, child, updated)


# ---------------------------------------------------------------- Item


def _item(books: Books, data: JSON, old: JSON | None) -> JSON:
    name = _plain_name(data, "Name")
    _text(data, "Sku", limit=100)
    _text(data, "Description", limit=4000)
    track_before = bool(old and old.get("TrackQtyOnHand"))
    item_type = data.get("Type")
    if item_type is None:
        # QBO's documented defaults when Type is not given (Item reference, "Type").
        if data.get("TrackQtyOnHand") is True:
            item_type = "Inventory"
        elif "AssetAccountRef" in data:
            item_type = "NonInventory"
        else:
            item_type = "Service"
    if item_type == "Group":
        raise business_error("Group items are not supported by this sandbox")
    if item_type not in ITEM_TYPES:
        raise invalid_enum("Type", item_type)
    if old is not None and old.get("Type") == "Inventory" and item_type != "Inventory":
        raise business_error("You can't change the type of an inventory item")
    data["Type"] = item_type
    data["Active"] = _bool(data, "Active", True)
    data["Taxable"] = _bool(data, "Taxable", False)
    for key in ("UnitPrice", "PurchaseCost", "ReorderPoint"):
        _number(data, key)
    data.setdefault("UnitPrice", 0)
    for key, target in (
        ("IncomeAccountRef", "Account"),
        ("ExpenseAccountRef", "Account"),
        ("AssetAccountRef", "Account"),
        ("PrefVendorRef", "Vendor"),
    ):
        ref = books.ref(data.get(key), target, key)
        if ref is None:
            data.pop(key, None)
        else:
            data[key] = ref
    if item_type == "Inventory":
        data["TrackQtyOnHand"] = True
        if "QtyOnHand" not in data and old is not None and "QtyOnHand" in old:
            # QtyOnHand belongs to the transactions; a full update that omits it keeps it.
            data["QtyOnHand"] = old["QtyOnHand"]
        if "InvStartDate" not in data and old is not None and "InvStartDate" in old:
            data["InvStartDate"] = old["InvStartDate"]
        for key in (
            "QtyOnHand",
            "InvStartDate",
            "IncomeAccountRef",
            "AssetAccountRef",
            "ExpenseAccountRef",
        ):
            if key not in data:
                # A missing InvStartDate is a 2020 like the others [unconfirmed].
                raise required_missing(key)
        _number(data, "QtyOnHand")
        start = parse_date(data["InvStartDate"], "InvStartDate")
        data["InvStartDate"] = start.isoformat() if start else None
    else:
        if track_before:
            raise business_error("TrackQtyOnHand cannot be turned off once it is on")
        data["TrackQtyOnHand"] = False
        data.pop("QtyOnHand", None)
        if item_type in ("Service", "NonInventory") and not (
            "IncomeAccountRef" in data or "ExpenseAccountRef" in data
        ):
            raise required_missing("IncomeAccountRef")
    _hierarchy(books, "Item", data, old, name, "SubItem")
    return data


def _item_effects(books: Books, old: JSON | None, new: JSON | None) -> None:
    if new is not None:
        _rename_children(books, "Item", old, new)


# ---------------------------------------------------------------- Customer, Vendor


def _names(books: Books, data: JSON, old: JSON | None) -> str:
    """What customers and vendors share: DisplayName, Balance, terms, defaults."""
    if data.get("DisplayName") is None:
        # QBO builds DisplayName from the name parts when it is not supplied.
        parts = [data.get(k) for k in ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")]
        derived = " ".join(str(p) for p in parts if p) or data.get("CompanyName")
        if derived:
            data["DisplayName"] = derived
    display = _text(data, "DisplayName", limit=500, required=True)
    assert display is not None
    if any(c in display for c in ":\t\n"):
        # ':' separates a sub-customer from its parent in FullyQualifiedName.
        raise business_error("DisplayName cannot contain a colon (:), tab or newline")
    data["Active"] = _bool(data, "Active", True)
    data.setdefault("PrintOnCheckName", data.get("CompanyName") or display)
    data["CurrencyRef"] = USD
    data["Balance"] = (old or {}).get("Balance", 0)
    for key, target in (
        ("SalesTermRef", "Term"),
        ("TermRef", "Term"),
        ("PaymentMethodRef", "PaymentMethod"),
    ):
        ref = books.ref(data.get(key), target, key)
        if ref is None:
            data.pop(key, None)
        else:
            data[key] = ref
    return display


def _customer(books: Books, data: JSON, old: JSON | None) -> JSON:
    display = _names(books, data, old)
    # A reference like the others to a list (unknown → 2500, inactive → 610), but QBO
    # answers it with its `value` alone, never a `name` (Intuit's Customer examples and
    # third-party schemas such as singer-io/tap-quickbooks show only `value`)
    # [unconfirmed: name not returned].
    type_ref = books.ref(data.get("CustomerTypeRef"), "CustomerType", "CustomerTypeRef")
    if type_ref is None:
        data.pop("CustomerTypeRef", None)
    else:
        data["CustomerTypeRef"] = {"value": type_ref["value"]}
    data["BalanceWithJobs"] = data["Balance"]
    data["Taxable"] = _bool(data, "Taxable", False)
    data.setdefault("PreferredDeliveryMethod", "Print")
    _hierarchy(books, "Customer", data, old, display, "Job")
    data.setdefault("BillWithParent", False)
    return data


def _customer_effects(books: Books, old: JSON | None, new: JSON | None) -> None:
    if new is not None:
        _rename_children(books, "Customer", old, new)


def _vendor(books: Books, data: JSON, old: JSON | None) -> JSON:
    _names(books, data, old)
    data["Vendor1099"] = _bool(data, "Vendor1099", False)
    return data


# ---------------------------------------------------------------- Account


def _account(books: Books, data: JSON, old: JSON | None) -> JSON:
    name = _plain_name(data, "Name")
    account_type = data.get("AccountType")
    subtype = data.get("AccountSubType")
    if account_type is None and subtype is not None:
        account_type = next((t for t, (_, s) in ACCOUNT_TYPES.items() if s == subtype), None)
    if account_type is None:
        raise required_missing("AccountType")
    if account_type not in ACCOUNT_TYPES:
        raise invalid_enum("AccountType", account_type)
    classification, default_subtype = ACCOUNT_TYPES[account_type]
    data["AccountType"] = account_type
    data["AccountSubType"] = subtype or default_subtype
    data["Classification"] = classification
    data["Active"] = _bool(data, "Active", True)
    data["CurrencyRef"] = USD
    data["CurrentBalance"] = (old or {}).get("CurrentBalance", 0)
    data["CurrentBalanceWithSubAccounts"] = (old or {}).get("CurrentBalanceWithSubAccounts", 0)
    _hierarchy(books, "Account", data, old, name, "SubAccount")
    return data


def _account_effects(books: Books, old: JSON | None, new: JSON | None) -> None:
    if new is not None:
        _rename_children(books, "Account", old, new)


# ---------------------------------------------------------------- PaymentMethod, Term


def _payment_method(books: Books, data: JSON, old: JSON | None) -> JSON:
    _plain_name(data, "Name")
    data["Active"] = _bool(data, "Active", True)
    kind = data.setdefault("Type", "NON_CREDIT_CARD")
    if kind not in ("CREDIT_CARD", "NON_CREDIT_CARD"):
        raise invalid_enum("Type", kind)
    return data


def _term(books: Books, data: JSON, old: JSON | None) -> JSON:
    _plain_name(data, "Name")
    data["Active"] = _bool(data, "Active", True)
    for key in ("DueDays", "DiscountDays", "DiscountPercent", "DayOfMonthDue"):
        _number(data, key)
    if "DayOfMonthDue" in data:
        data["Type"] = "DATE_DRIVEN"
    else:
        data["Type"] = "STANDARD"
        data.setdefault("DueDays", 0)
    return data


def _customer_type(books: Books, data: JSON, old: JSON | None) -> JSON:
    # Reached only by the seed and /_sandbox/ (books.create/update with internal=True).
    _plain_name(data, "Name")
    data["Active"] = _bool(data, "Active", True)
    return data


# ---------------------------------------------------------------- singletons


def _company_info(books: Books, data: JSON, old: JSON | None) -> JSON:
    if not data.get("CompanyName"):
        raise required_missing("CompanyName")
    return data


def _preferences(books: Books, data: JSON, old: JSON | None) -> JSON:
    # Preferences are sections of switches; an update replaces the sections it sends, and
    # whatever standard key a replaced section leaves out takes its standard value.
    return full_preferences(books, {**(old or {}), **data} if old else data)


def standard_preferences(company_name: str) -> JSON:
    """Every block of Intuit's Preferences, with values that describe what this sandbox does.

    The standard shape (pyqb's objects/preferences.py follows it): a company that tracks
    inventory quantities (QuantityOnHand), auto-numbers its sales forms, has no sales tax,
    classes, locations, multi-currency, time tracking or automatic payment application,
    and reports on the accrual basis. A company's stored Preferences override any of it.
    """

    def custom_fields(prefix: str) -> list[JSON]:
        return [
            {
                "CustomField": [
                    {"Name": f"{prefix}{number}", "Type": "BooleanType", "BooleanValue": False}
                    for number in (1, 2, 3)
                ]
            }
        ]

    def message(subject: str, text: str) -> JSON:
        return {"Subject": f"{subject} from {company_name}", "Message": text}

    return {
        "AccountingInfoPrefs": {
            "FirstMonthOfFiscalYear": "January",
            "UseAccountNumbers": False,
            "TaxYearMonth": "January",
            "ClassTrackingPerTxn": False,
            "ClassTrackingPerTxnLine": False,
            "TrackDepartments": False,
            "DepartmentTerminology": "Location",
            "CustomerTerminology": "Customers",
            "TaxForm": "6",
        },
        "ProductAndServicesPrefs": {
            "ForSales": True,
            "ForPurchase": True,
            "QuantityWithPriceAndRate": True,
            "QuantityOnHand": True,
            "RevenueRecognitionEnabled": False,
            "RevenueRecognitionFrequency": "Monthly",
        },
        "SalesFormsPrefs": {
            "CustomField": custom_fields("SalesFormsPrefs.UseSalesCustom"),
            "CustomTxnNumbers": False,
            "AllowDiscount": True,
            "AllowDeposit": False,
            "AllowEstimates": False,
            "AllowServiceDate": False,
            "AllowShipping": False,
            "AutoApplyCredit": False,
            "AutoApplyPayments": False,
            "DefaultCustomerMessage": "Thank you for your business.",
            "EmailCopyToCompany": False,
            "ETransactionAttachPDF": False,
            "ETransactionEnabledStatus": "NotApplicable",
            "ETransactionPaymentEnabled": False,
            "IPNSupportEnabled": False,
            "UsingPriceLevels": False,
            "UsingProgressInvoicing": False,
            "EstimateMessage": "Please review the estimate below. We look forward to working "
            "with you.",
        },
        "EmailMessagesPrefs": {
            "InvoiceMessage": message(
                "Invoice", "Your invoice is attached. We appreciate your business."
            ),
            "EstimateMessage": message(
                "Estimate", "Please review the estimate below. We look forward to working with you."
            ),
            "SalesReceiptMessage": message(
                "Sales Receipt", "Your sales receipt is attached. We appreciate your business."
            ),
            "StatementMessage": message(
                "Statement",
                "Your statement is attached. Please remit payment at your earliest convenience.",
            ),
        },
        "VendorAndPurchasesPrefs": {
            "POCustomField": custom_fields("PurchasePrefs.UsePurchaseCustom"),
            "TrackingByCustomer": False,
            "BillableExpenseTracking": False,
            "TPAREnabled": False,
        },
        "TimeTrackingPrefs": {
            "UseServices": False,
            "BillCustomers": False,
            "ShowBillRateToAll": False,
            "WorkWeekStartDate": "Monday",
            "MarkTimeEntriesBillable": False,
        },
        "TaxPrefs": {"UsingSalesTax": False, "PartnerTaxEnabled": False},
        "CurrencyPrefs": {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "USD"}},
        "ReportPrefs": {"ReportBasis": "Accrual", "CalcAgingReportFromTxnDate": False},
        "OtherPrefs": {
            "NameValue": [
                {"Name": name, "Value": value}
                for name, value in (
                    ("SalesFormsPrefs.DefaultCustomerMessage", "Thank you for your business."),
                    ("DTXCopyMemo", "false"),
                    ("Vendor1099Enabled", "false"),
                    ("TimeTrackingFeatureEnabled", "false"),
                    ("ProjectsEnabled", "false"),
                    ("DateFormat", "Month Date Year separated by a slash"),
                    ("DateFormatMnemonic", "MMDDYYYY"),
                    ("NumberFormat", "US Number Format"),
                    ("NumberFormatMnemonic", "US_NB"),
                    ("WarnDuplicateCheckNumber", "true"),
                    ("WarnDuplicateBillNumber", "false"),
                    ("WarnDuplicateJournalNumber", "false"),
                    ("SignoutInactiveMinutes", "60"),
                )
            ]
        },
    }


def full_preferences(books: Books, stored: JSON) -> JSON:
    """Preferences as given, with every standard block and key they lack added.

    Applied when Preferences are written (the seed, every update), so every way of reading
    them (read, query, CDC, batch) answers the full shape. What is given always wins;
    OtherPrefs' NameValue pairs are merged by Name. A state file seeded before a block
    existed gains it at the company's next Preferences update.
    """
    company = books.get("CompanyInfo", 1) or {}
    defaults = standard_preferences(str(company.get("CompanyName") or "the company"))
    merged: JSON = _fill(defaults, stored)
    other, sales_forms = merged.get("OtherPrefs"), merged.get("SalesFormsPrefs")
    pairs = other.get("NameValue") if isinstance(other, dict) else None
    if not isinstance(other, dict) or not isinstance(pairs, list):
        return merged  # a client stored something of its own there; it is returned as is
    if pairs is not defaults["OtherPrefs"]["NameValue"]:
        named = {pair.get("Name") for pair in pairs if isinstance(pair, dict)}
        missing = [p for p in defaults["OtherPrefs"]["NameValue"] if p["Name"] not in named]
        other["NameValue"] = pairs = [*pairs, *missing]
    # QBO shows the default customer message in both places; a stored pair is the one set.
    stored_forms = stored.get("SalesFormsPrefs")
    if isinstance(sales_forms, dict) and "DefaultCustomerMessage" not in (stored_forms or {}):
        for pair in pairs:
            if (
                isinstance(pair, dict)
                and pair.get("Name") == "SalesFormsPrefs.DefaultCustomerMessage"
            ):
                sales_forms["DefaultCustomerMessage"] = pair.get("Value")
                break
    return merged


def _fill(defaults: Any, stored: Any) -> Any:
    """`stored`, with whatever dict keys it lacks taken from `defaults`, at every depth."""
    if isinstance(defaults, dict) and isinstance(stored, dict):
        return {
            **{key: value for key, value in defaults.items() if key not in stored},
            **{key: _fill(defaults.get(key), value) for key, value in stored.items()},
        }
    return stored


_NAME_FIELDS = (
    "DisplayName",
    "Title",
    "GivenName",
    "MiddleName",
    "FamilyName",
    "Suffix",
    "CompanyName",
    "PrintOnCheckName",
    "Active",
    "PrimaryPhone",
    "AlternatePhone",
    "Mobile",
    "Fax",
    "PrimaryEmailAddr",
    "WebAddr",
    "BillAddr",
    "OtherContactInfo",
    "Balance",
    "CurrencyRef",
    "Source",
    "V4IDPseudonym",
)

register(
    Spec(
        name="Item",
        kind="list",
        sequence="Item",
        fields=_fields(
            "Name",
            "Sku",
            "Description",
            "Active",
            "SubItem",
            "ParentRef",
            "Level",
            "FullyQualifiedName",
            "Taxable",
            "SalesTaxIncluded",
            "UnitPrice",
            "Type",
            "IncomeAccountRef",
            "PurchaseDesc",
            "PurchaseTaxIncluded",
            "PurchaseCost",
            "ExpenseAccountRef",
            "AssetAccountRef",
            "TrackQtyOnHand",
            "QtyOnHand",
            "InvStartDate",
            "ReorderPoint",
            "SalesTaxCodeRef",
            "PurchaseTaxCodeRef",
            "PrefVendorRef",
            "ClassRef",
            "AbatementRate",
            "ReverseChargeRate",
            "ServiceType",
            "ItemCategoryType",
            "ManPartNum",
            "UQCId",
            "Source",
        ),  # fmt: skip
        read_only=frozenset({"FullyQualifiedName", "Level", "SubItem"}),
        normalize=_item,
        name_key=lambda obj: _name_key("Item", obj.get("FullyQualifiedName")),
        effects=_item_effects,
        hides_inactive=True,
    )
)
register(
    Spec(
        name="Customer",
        kind="list",
        sequence="Customer",
        fields=_fields(
            *_NAME_FIELDS,
            "ShipAddr",
            "Notes",
            "Job",
            "BillWithParent",
            "ParentRef",
            "Level",
            "FullyQualifiedName",
            "SalesTermRef",
            "PaymentMethodRef",
            "BalanceWithJobs",
            "OpenBalanceDate",
            "PreferredDeliveryMethod",
            "ResaleNum",
            "Taxable",
            "DefaultTaxCodeRef",
            "ARAccountRef",
            "IsProject",
            "PrimaryTaxIdentifier",
            "CustomerTypeRef",
            "TaxExemptionReasonId",
            "ClientEntityId",
        ),  # fmt: skip
        read_only=frozenset(
            {"Balance", "BalanceWithJobs", "FullyQualifiedName", "Level", "Job", "CurrencyRef"}
        ),
        normalize=_customer,
        # Customers, vendors (and employees) share one list of names in QBO, so a
        # vendor cannot take a customer's DisplayName either.
        name_key=lambda obj: _name_key("Name", obj.get("DisplayName")),
        effects=_customer_effects,
        hides_inactive=True,
    )
)
register(
    Spec(
        name="Vendor",
        kind="list",
        sequence="Vendor",
        fields=_fields(
            *_NAME_FIELDS,
            "TermRef",
            "APAccountRef",
            "AcctNum",
            "Vendor1099",
            "TaxIdentifier",
            "TaxReportingBasis",
            "BillRate",
            "CostRate",
            "T4AEligible",
            "T5018Eligible",
            "HasTPAR",
        ),  # fmt: skip
        read_only=frozenset({"Balance", "CurrencyRef"}),
        normalize=_vendor,
        name_key=lambda obj: _name_key("Name", obj.get("DisplayName")),
        hides_inactive=True,
    )
)
register(
    Spec(
        name="Account",
        kind="list",
        sequence="Account",
        fields=_fields(
            "Name",
            "SubAccount",
            "ParentRef",
            "Description",
            "FullyQualifiedName",
            "Active",
            "Classification",
            "AccountType",
            "AccountSubType",
            "AcctNum",
            "CurrentBalance",
            "CurrentBalanceWithSubAccounts",
            "CurrencyRef",
            "TaxCodeRef",
            "AccountAlias",
            "TxnLocationType",
            "Level",
        ),  # fmt: skip
        read_only=frozenset(
            {
                "FullyQualifiedName",
                "Level",
                "SubAccount",
                "Classification",
                "CurrentBalance",
                "CurrentBalanceWithSubAccounts",
                "CurrencyRef",
            }
        ),
        normalize=_account,
        name_key=lambda obj: _name_key("Account", obj.get("FullyQualifiedName")),
        effects=_account_effects,
        hides_inactive=True,
    )
)
register(
    Spec(
        name="PaymentMethod",
        kind="list",
        sequence="PaymentMethod",
        fields=_fields("Name", "Active", "Type"),
        read_only=frozenset(),
        normalize=_payment_method,
        name_key=lambda obj: _name_key("PaymentMethod", obj.get("Name")),
        hides_inactive=True,
    )
)
register(
    Spec(
        name="Term",
        kind="list",
        sequence="Term",
        fields=_fields(
            "Name",
            "Active",
            "Type",
            "DueDays",
            "DiscountPercent",
            "DiscountDays",
            "DayOfMonthDue",
            "DueNextMonthDays",
            "DiscountDayOfMonth",
        ),  # fmt: skip
        read_only=frozenset(),
        normalize=_term,
        name_key=lambda obj: _name_key("Term", obj.get("Name")),
        hides_inactive=True,
    )
)
# CustomerType classifies customers (Customer.CustomerTypeRef). Intuit's API reference
# offers only read and query for it: types are made in QBO's settings, and "the API does
# not allow creation of CustomerTypes" (python-quickbooks #212; pyqb 0.9.12's CustomerType
# is a QuickbooksReadOnlyObject). What QBO answers a create or update is [unconfirmed];
# the sandbox refuses both with 400 Unsupported Operation (code 500), as it does for
# TaxCode and TaxRate. Whether CDC covers it is [unconfirmed] too: cdc.py leaves it out
# of CDC_ENTITIES, so `entities=CustomerType` is a 2010 fault like any unsupported name.
register(
    Spec(
        name="CustomerType",
        kind="list",
        sequence="CustomerType",
        fields=_fields("Name", "Active"),
        read_only=frozenset(),
        normalize=_customer_type,
        name_key=lambda obj: _name_key("CustomerType", obj.get("Name")),
        hides_inactive=True,
        writable=False,
    )
)
register(
    Spec(
        name="CompanyInfo",
        kind="singleton",
        sequence="CompanyInfo",
        fields=_fields(
            "CompanyName",
            "LegalName",
            "CompanyAddr",
            "CustomerCommunicationAddr",
            "LegalAddr",
            "PrimaryPhone",
            "CompanyStartDate",
            "FiscalYearStartMonth",
            "Country",
            "Email",
            "WebAddr",
            "SupportedLanguages",
            "NameValue",
            "EmployerId",
            "ShipAddr",
            "OtherContactInfo",
            "CustomerCommunicationEmailAddr",
        ),  # fmt: skip
        read_only=frozenset({"Country", "SupportedLanguages", "NameValue"}),
        normalize=_company_info,
    )
)
register(
    Spec(
        name="Preferences",
        kind="singleton",
        sequence="Preferences",
        fields=_fields(
            "AccountingInfoPrefs",
            "ProductAndServicesPrefs",
            "SalesFormsPrefs",
            "EmailMessagesPrefs",
            "VendorAndPurchasesPrefs",
            "TimeTrackingPrefs",
            "TaxPrefs",
            "CurrencyPrefs",
            "ReportPrefs",
            "OtherPrefs",
        ),  # fmt: skip
        read_only=frozenset(),
        normalize=_preferences,
    )
)
