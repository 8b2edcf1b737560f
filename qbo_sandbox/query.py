"""The QuickBooks Online query language: `parse` a statement, `execute` it over entity dicts.

This module is pure (no I/O, no storage): the server parses a statement, may pre-filter rows
with the public `Query.conditions`, and hands the candidates to `execute`, which applies
every condition again, so pre-filtering is only ever an optimisation.

Behaviour chosen where real QBO is not documented (see docs/qbo-api.md §2):

- A field list (`SELECT Id, Name`, `SELECT *, Sku`) is validated and recorded in
  `Query.fields`, but whole objects come back, because QBO does not support projections.
- Entity names are matched case-insensitively and reported in their canonical spelling.
  docs/qbo-api.md calls them case-sensitive, but QBO's own query explorer sends
  `select * from customer` (quickbooks-ruby #54) and `SELECT * FROM ITEM` works
  (quickbooks-ruby #309) [unconfirmed].
- Null is written `' '`. It becomes `None` in `Condition.value`; `Field = ' '` matches
  objects where the property is absent or empty (QBO omits properties without a value),
  `Field != ' '` those where it has a value, and `None` may also appear among `IN`
  values. Other operators refuse it (4001).
- `!=` is accepted although Intuit's grammar does not list it: clients written against
  QBO send it (`FullyQualifiedName != '...'`). It follows the same type rules as `=`, and
  like every comparison it never matches an object that lacks the property (as SQL's
  NULL would not) [unconfirmed].
- In a quoted string `\\'` is a quote and `\\\\` a backslash; any other backslash is kept
  as written [unconfirmed]. python-quickbooks escapes only the quote (`utils.py`), so a
  name like `C:\\wines` still round-trips; a name ending in a backslash cannot be
  queried at all, as on real QBO (quickbooks-ruby #345 shows the same lexical error).
- Strings compare case-insensitively (`str.casefold`), Ids and references numerically,
  amounts as `Decimal`, dates as dates and date-times as instants.
- A date-time without an offset is read in the zone of the switch `naive_time_zone`
  (`--naive-time-zone`, /_sandbox/config; common.naive_zone()), US Pacific by default
  [unconfirmed]: QBO's servers stamp every response `time` in Pacific, so that is the most
  likely zone for a naive value. A literal with an offset means what it says.
- Sorting puts objects missing the sort property first in ascending order, and breaks ties
  by Id so that paging is stable [unconfirmed].
"""

from __future__ import annotations

import enum
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from qbo_sandbox.common import naive_zone


class Kind(enum.Enum):
    """How a property's values are read and compared."""

    ID = "id"  # numeric strings such as "12", compared as integers
    REF = "ref"  # {"value": "20", "name": ...}, compared on value like an Id
    TEXT = "text"  # compared case-insensitively
    EMAIL = "email"  # {"Address": ...}, compared on Address like text
    NUMBER = "number"  # int, float, Decimal or numeric string, compared as Decimal
    BOOL = "bool"
    DATE = "date"  # "2025-05-01"
    DATETIME = "datetime"  # "2025-05-01T10:00:00-07:00", compared as an instant


_COMMON = {
    "Id": Kind.ID,
    "MetaData.CreateTime": Kind.DATETIME,
    "MetaData.LastUpdatedTime": Kind.DATETIME,
}
_PARTY = {
    "DisplayName": Kind.TEXT,
    "CompanyName": Kind.TEXT,
    "GivenName": Kind.TEXT,
    "FamilyName": Kind.TEXT,
    "PrimaryEmailAddr": Kind.EMAIL,
    "Balance": Kind.NUMBER,
    "Active": Kind.BOOL,
}

# What the other sales forms and purchases share (qbo_sandbox/sales.py, purchases.py).
_SALE = {
    "DocNumber": Kind.TEXT,
    "TxnDate": Kind.DATE,
    "CustomerRef": Kind.REF,
    "TotalAmt": Kind.NUMBER,
}
_PURCHASE = {
    "DocNumber": Kind.TEXT,
    "TxnDate": Kind.DATE,
    "VendorRef": Kind.REF,
    "TotalAmt": Kind.NUMBER,
}
_SEGMENT = {
    "Name": Kind.TEXT,
    "Active": Kind.BOOL,
    "FullyQualifiedName": Kind.TEXT,
    "ParentRef": Kind.REF,
}

# The properties each entity accepts in WHERE, ORDER BY and the field list; anything else
# is refused with 4001, as QBO answers 400 for a property it cannot filter on. Add an
# entity or a property here and the parser, evaluator and tests pick it up.
QUERYABLE: dict[str, dict[str, Kind]] = {
    "Item": {
        **_COMMON,
        "Name": Kind.TEXT,
        "Sku": Kind.TEXT,
        "Type": Kind.TEXT,
        "Description": Kind.TEXT,
        "Active": Kind.BOOL,
        "QtyOnHand": Kind.NUMBER,
        "UnitPrice": Kind.NUMBER,
        "FullyQualifiedName": Kind.TEXT,
        "ParentRef": Kind.REF,
    },
    "Invoice": {
        **_COMMON,
        "DocNumber": Kind.TEXT,
        "TxnDate": Kind.DATE,
        "DueDate": Kind.DATE,
        "CustomerRef": Kind.REF,
        "Balance": Kind.NUMBER,
        "TotalAmt": Kind.NUMBER,
    },
    "Payment": {
        **_COMMON,
        "CustomerRef": Kind.REF,
        "TxnDate": Kind.DATE,
        "TotalAmt": Kind.NUMBER,
        "UnappliedAmt": Kind.NUMBER,
        "PaymentRefNum": Kind.TEXT,
        "PaymentMethodRef": Kind.REF,
        "DepositToAccountRef": Kind.REF,
    },
    "Customer": {**_COMMON, **_PARTY, "FullyQualifiedName": Kind.TEXT},
    "Vendor": {**_COMMON, **_PARTY},
    "Account": {
        **_COMMON,
        "Name": Kind.TEXT,
        "AccountType": Kind.TEXT,
        "AccountSubType": Kind.TEXT,
        "Classification": Kind.TEXT,
        "Active": Kind.BOOL,
        "FullyQualifiedName": Kind.TEXT,
        "CurrentBalance": Kind.NUMBER,
        "AcctNum": Kind.TEXT,
    },
    "Bill": {
        **_COMMON,
        "DocNumber": Kind.TEXT,
        "TxnDate": Kind.DATE,
        "DueDate": Kind.DATE,
        "VendorRef": Kind.REF,
        "APAccountRef": Kind.REF,
        "Balance": Kind.NUMBER,
        "TotalAmt": Kind.NUMBER,
    },
    "PaymentMethod": {**_COMMON, "Name": Kind.TEXT, "Type": Kind.TEXT, "Active": Kind.BOOL},
    # Whether QBO filters Customer on CustomerTypeRef is [unconfirmed] (it is not known to
    # be among Customer's filterable fields), so Customer above leaves it out (4001): a
    # client reads the types and matches them itself.
    "CustomerType": {**_COMMON, "Name": Kind.TEXT, "Active": Kind.BOOL},
    "Term": {
        **_COMMON,
        "Name": Kind.TEXT,
        "Type": Kind.TEXT,
        "DueDays": Kind.NUMBER,
        "Active": Kind.BOOL,
    },
    "InventoryAdjustment": {
        **_COMMON,
        "DocNumber": Kind.TEXT,
        "TxnDate": Kind.DATE,
        "AdjustAccountRef": Kind.REF,
    },
    "SalesReceipt": {
        **_COMMON,
        **_SALE,
        "DepositToAccountRef": Kind.REF,
        "PaymentMethodRef": Kind.REF,
        "PaymentRefNum": Kind.TEXT,
    },
    "CreditMemo": {**_COMMON, **_SALE, "RemainingCredit": Kind.NUMBER, "Balance": Kind.NUMBER},
    "RefundReceipt": {
        **_COMMON,
        **_SALE,
        "DepositToAccountRef": Kind.REF,
        "PaymentMethodRef": Kind.REF,
    },
    "Estimate": {
        **_COMMON,
        **_SALE,
        "TxnStatus": Kind.TEXT,
        "DueDate": Kind.DATE,
        "ExpirationDate": Kind.DATE,
    },
    "PurchaseOrder": {
        **_COMMON,
        **_PURCHASE,
        "POStatus": Kind.TEXT,
        "DueDate": Kind.DATE,
        "APAccountRef": Kind.REF,
    },
    "VendorCredit": {**_COMMON, **_PURCHASE, "Balance": Kind.NUMBER},
    "BillPayment": {**_COMMON, **_PURCHASE, "PayType": Kind.TEXT},
    "TaxCode": {
        **_COMMON,
        "Name": Kind.TEXT,
        "Description": Kind.TEXT,
        "Active": Kind.BOOL,
        "Taxable": Kind.BOOL,
        "TaxGroup": Kind.BOOL,
    },
    "TaxRate": {
        **_COMMON,
        "Name": Kind.TEXT,
        "Description": Kind.TEXT,
        "Active": Kind.BOOL,
        "RateValue": Kind.NUMBER,
    },
    "Class": {**_COMMON, **_SEGMENT},
    "Department": {**_COMMON, **_SEGMENT},
    "Employee": {
        **_COMMON,
        "DisplayName": Kind.TEXT,
        "GivenName": Kind.TEXT,
        "FamilyName": Kind.TEXT,
        "PrimaryEmailAddr": Kind.EMAIL,
        "Active": Kind.BOOL,
        "EmployeeNumber": Kind.TEXT,
    },
    "CompanyInfo": {
        **_COMMON,
        "CompanyName": Kind.TEXT,
        "LegalName": Kind.TEXT,
        "Country": Kind.TEXT,
    },
    "Preferences": {**_COMMON},
}

DEFAULT_MAX_RESULTS = 100
MAX_RESULTS_CAP = 1000


class QueryError(Exception):
    """A query the API refuses. Carries what the Fault body needs."""

    def __init__(self, code: str, message: str, detail: str) -> None:
        super().__init__(f"{message}: {detail}")
        self.code = code
        self.message = message
        self.detail = detail


@dataclass(frozen=True)
class Condition:
    field: str  # canonical spelling from QUERYABLE: "MetaData.LastUpdatedTime", "CustomerRef"
    op: str  # "=", "!=", "<", ">", "<=", ">=", "IN" or "LIKE"
    # As written, unescaped: str when quoted or a bare word, Decimal when a number, bool for
    # true/false, None for the null ' ', and a tuple of those for IN. Typing against the
    # property happens in execute(); parse_datetime() reads a MetaData time the same way.
    value: Any


@dataclass(frozen=True)
class Query:
    entity: str  # canonical spelling, the key of QUERYABLE and of the response
    count: bool = False
    # None for a plain `*`; otherwise the list in canonical spelling, `*` included
    # (`SELECT *, Sku` gives ("*", "Sku")). Whole objects come back either way.
    fields: tuple[str, ...] | None = None
    conditions: tuple[Condition, ...] = ()
    order_by: tuple[tuple[str, bool], ...] = ()  # (field, descending)
    start_position: int = 1  # already at least 1
    max_results: int = DEFAULT_MAX_RESULTS  # already within 1..MAX_RESULTS_CAP


@dataclass(frozen=True)
class QueryResult:
    objects: list[Mapping[str, Any]]  # the page, sorted; empty for COUNT(*)
    total_count: int | None = None  # set for COUNT(*) only


def parse_datetime(text: str) -> datetime:
    """Read a QBO date-time (any ISO 8601 offset, `Z`, or none) as an aware datetime.

    One without an offset is read in common.naive_zone(), the request's `naive_time_zone`
    (Pacific unless switched; see the module docstring). Raises ValueError. The server
    uses this to pre-filter MetaData times the same way.
    """
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=naive_zone())
    return moment


# --- Reading values -------------------------------------------------------------------
#
# Each normaliser turns a raw value (from an object or from the query) into something
# comparable, or None when there is no usable value. Query literals go through the same
# functions as object values, so both sides always agree on types.


def _as_text(raw: Any) -> str | None:
    if isinstance(raw, str):
        return raw.casefold()
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | Decimal):
        return str(raw)
    return None


def _as_id(raw: Any) -> tuple[int, int, str] | None:
    # Ids are numeric strings, so "10" must sort after "9"; a non-numeric Id (none exist
    # in QBO, but a literal may be anything) sorts after every numeric one.
    if isinstance(raw, str):
        if raw.isascii() and raw.isdigit():
            return (0, int(raw), "")
        return (1, 0, raw)
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return (0, raw, "")
    if isinstance(raw, Decimal) and raw.is_finite() and raw == raw.to_integral_value():
        return (0, int(raw), "")
    return None


def _as_number(raw: Any) -> Decimal | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, Decimal):
        number = raw
    elif isinstance(raw, int):
        number = Decimal(raw)
    elif isinstance(raw, float):
        # repr() gives the shortest decimal that round-trips, so 120.5 stays 120.5 rather
        # than the binary expansion Decimal(120.5) would carry.
        number = Decimal(repr(raw))
    elif isinstance(raw, str):
        try:
            number = Decimal(raw)
        except InvalidOperation:
            return None
    else:
        return None
    # NaN cannot be ordered (Decimal raises), and infinities are not amounts.
    return number if number.is_finite() else None


def _as_bool(raw: Any) -> bool | None:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    return None


def _as_date(raw: Any) -> date | None:
    if not isinstance(raw, str):
        return None
    try:
        # Through datetime so that a literal written with a time part still reads as its
        # date; TxnDate and DueDate themselves are plain dates.
        return datetime.fromisoformat(raw).date()
    except ValueError:
        return None


def _as_datetime(raw: Any) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        return parse_datetime(raw)
    except ValueError:
        return None


_NORMALISERS: dict[Kind, Callable[[Any], Any]] = {
    Kind.ID: _as_id,
    Kind.REF: _as_id,
    Kind.TEXT: _as_text,
    Kind.EMAIL: _as_text,
    Kind.NUMBER: _as_number,
    Kind.BOOL: _as_bool,
    Kind.DATE: _as_date,
    Kind.DATETIME: _as_datetime,
}

# Wrapper objects are compared on one member rather than as a whole.
_MEMBER = {Kind.REF: "value", Kind.EMAIL: "Address"}


def _getter(field: str, kind: Kind) -> Callable[[Mapping[str, Any]], Any]:
    path = tuple(field.split("."))
    if kind in _MEMBER:
        path += (_MEMBER[kind],)
    if len(path) == 1:
        key = path[0]
        return lambda obj: obj.get(key)

    def get(obj: Mapping[str, Any]) -> Any:
        value: Any = obj
        for key in path:
            if value is None:
                return None
            try:
                value = value.get(key)
            except AttributeError:
                return None
        return value

    return get


def _reader(entity: str, field: str) -> Callable[[Mapping[str, Any]], Any]:
    kind = QUERYABLE[entity][field]
    get = _getter(field, kind)
    normalise = _NORMALISERS[kind]
    return lambda obj: normalise(get(obj))


# --- Compiling conditions -------------------------------------------------------------

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}

Predicate = Callable[[Mapping[str, Any]], bool]


def _invalid(detail: str) -> QueryError:
    return QueryError("4001", "Invalid query", f"QueryValidationError: {detail}")


def _literal(kind: Kind, condition: Condition, raw: Any) -> Any:
    value = _NORMALISERS[kind](raw)
    if value is None:
        raise _invalid(f"value '{raw}' is not valid for property '{condition.field}'")
    return value


def _compile(entity: str, condition: Condition) -> Predicate:
    """Turn one condition into a predicate, raising QueryError 4001 for a bad literal."""
    kind = QUERYABLE[entity][condition.field]
    get = _getter(condition.field, kind)
    normalise = _NORMALISERS[kind]

    if condition.op == "IN":
        matches_null = None in condition.value
        keys = frozenset(_literal(kind, condition, v) for v in condition.value if v is not None)

        def is_in(obj: Mapping[str, Any]) -> bool:
            raw = get(obj)
            if raw is None or raw == "":
                return matches_null
            return normalise(raw) in keys

        return is_in

    if condition.value is None:
        if condition.op not in ("=", "!="):
            raise _invalid(f"null can only be compared with '=', '!=' or IN ('{condition.field}')")
        wanted = condition.op == "="

        def is_null(obj: Mapping[str, Any]) -> bool:
            raw = get(obj)
            return (raw is None or raw == "") is wanted

        return is_null

    if condition.op == "LIKE":
        if kind not in (Kind.TEXT, Kind.EMAIL):
            raise _invalid(f"operator LIKE is not supported for property '{condition.field}'")
        pattern = _literal(kind, condition, condition.value)
        # Only % is a wildcard in QBO; every other character, _ included, is literal.
        regex = re.compile(".*".join(re.escape(part) for part in pattern.split("%")), re.DOTALL)

        def is_like(obj: Mapping[str, Any]) -> bool:
            value = normalise(get(obj))
            return value is not None and regex.fullmatch(value) is not None

        return is_like

    compare = _COMPARISONS[condition.op]
    literal = _literal(kind, condition, condition.value)

    def compares(obj: Mapping[str, Any]) -> bool:
        value = normalise(get(obj))
        return value is not None and compare(value, literal)

    return compares


# --- Tokenising -----------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<string>'(?:[^'\\]|\\.)*')
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<word>[^\W\d]\w*(?:\.[^\W\d]\w*)*)
    | (?P<op>!=|<=|>=|<|>|=)
    | (?P<punct>[(),*])
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_NULL = " "

# Words with a meaning somewhere in the grammar. They are not reserved (a bare value may
# be any word), but error messages show them the way QBO's JavaCC parser does.
_KEYWORDS = frozenset(
    {"select", "count", "from", "where", "and", "or", "in", "like", "order", "orderby", "by"}
    | {"asc", "desc", "startposition", "maxresults"}
)


@dataclass(frozen=True)
class _Token:
    kind: str  # "string", "number", "word", "op", "punct" or "eof"
    text: str  # as written in the statement
    offset: int

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.lower() in words

    def is_punct(self, text: str) -> bool:
        return self.kind in ("punct", "op") and self.text == text


def _position(statement: str, offset: int) -> str:
    line = statement.count("\n", 0, offset) + 1
    column = offset - statement.rfind("\n", 0, offset)
    return f"line {line}, column {column}"


def _parse_error(detail: str) -> QueryError:
    return QueryError("4000", "Error parsing query", f"QueryParserError: {detail}")


def _tokenize(statement: str) -> list[_Token]:
    tokens: list[_Token] = []
    offset = 0
    while offset < len(statement):
        match = _TOKEN.match(statement, offset)
        if match is None:
            where = _position(statement, offset)
            char = statement[offset]
            if char == "'":
                # An unterminated string: the lexer runs to the end of the statement.
                raise _parse_error(
                    f"Invalid content. Lexical error at {_position(statement, len(statement))}."
                    f'  Encountered: <EOF> after : "{statement[offset:]}"'
                )
            raise _parse_error(
                f"Invalid content. Lexical error at {where}."
                f'  Encountered: "{char}" ({ord(char)}), after : ""'
            )
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            tokens.append(_Token(kind, match.group(), offset))
        offset = match.end()
    tokens.append(_Token("eof", "", len(statement)))
    return tokens


def _unescape(quoted: str) -> str:
    def replace(match: re.Match[str]) -> str:
        char = match.group(1)
        return char if char in "'\\" else match.group()

    return _ESCAPE.sub(replace, quoted[1:-1])


# --- Parsing --------------------------------------------------------------------------


@dataclass
class _Parsed:
    """The statement's structure, before it is checked against QUERYABLE."""

    entity: _Token
    count: bool
    fields: list[_Token]  # "*" tokens included
    conditions: list[tuple[_Token, str, Any]]
    order_by: list[tuple[_Token, bool]]
    start_position: int
    max_results: int


class _Parser:
    def __init__(self, statement: str) -> None:
        self.statement = statement
        self.tokens = _tokenize(statement)
        self.index = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "eof":
            self.index += 1
        return token

    def unexpected(self, *expected: str) -> QueryError:
        token = self.token
        where = _position(self.statement, token.offset)
        if token.kind == "eof":
            encountered = f'Encountered "<EOF>" at {where}.'
        else:
            if token.kind == "word":
                label = (
                    f'"{token.text.lower()}"' if token.text.lower() in _KEYWORDS else "<IDENTIFIER>"
                )
            elif token.kind == "string":
                label = "<STRING>"
            elif token.kind == "number":
                label = "<DECIMAL>" if "." in token.text else "<INTEGER>"
            else:
                label = f'"{token.text}"'
            encountered = f'Encountered " {label} "{token.text} "" at {where}.'
        expecting = "".join(f"\n    {item} ..." for item in expected)
        return _parse_error(f"{encountered}\nWas expecting one of:{expecting}")

    def keyword(self, word: str) -> _Token:
        if not self.token.is_word(word):
            raise self.unexpected(f'"{word}"')
        return self.advance()

    def punct(self, text: str) -> _Token:
        if not self.token.is_punct(text):
            raise self.unexpected(f'"{text}"')
        return self.advance()

    def identifier(self) -> _Token:
        if self.token.kind != "word":
            raise self.unexpected("<IDENTIFIER>")
        return self.advance()

    def integer(self) -> int:
        if self.token.kind != "number" or "." in self.token.text:
            raise self.unexpected("<INTEGER>")
        return int(self.advance().text)

    def parse_statement(self) -> _Parsed:
        self.keyword("select")
        count = False
        fields: list[_Token] = []
        if self.token.is_word("count") and self.tokens[self.index + 1].is_punct("("):
            self.advance()
            self.punct("(")
            self.punct("*")
            self.punct(")")
            count = True
        else:
            fields.append(self.field_item())
            while self.token.is_punct(","):
                self.advance()
                fields.append(self.field_item())
        self.keyword("from")
        entity = self.identifier()

        conditions: list[tuple[_Token, str, Any]] = []
        if self.token.is_word("where"):
            self.advance()
            conditions.append(self.condition())
            while self.token.is_word("and"):
                self.advance()
                conditions.append(self.condition())

        order_by: list[tuple[_Token, bool]] = []
        if self.token.is_word("orderby", "order"):
            if self.advance().text.lower() == "order":
                self.keyword("by")
            order_by.append(self.order_item())
            while self.token.is_punct(","):
                self.advance()
                order_by.append(self.order_item())

        paging: dict[str, int] = {}
        while self.token.is_word("startposition", "maxresults") and (
            self.token.text.lower() not in paging
        ):
            clause = self.advance().text.lower()
            paging[clause] = self.integer()

        if self.token.kind != "eof":
            # Name the clauses that could still follow, as QBO's parser does.
            expected = ["<EOF>"]
            if not order_by and not paging:
                expected += ['"and"' if conditions else '"where"', '"order"', '"orderby"']
            expected += [f'"{w}"' for w in ("startposition", "maxresults") if w not in paging]
            raise self.unexpected(*expected)

        # STARTPOSITION is 1-based; QBO's answer to 0 or less is unknown, and treating it
        # as the first row is the least surprising choice [unconfirmed].
        start_position = max(paging.get("startposition", 1), 1)
        # Above 1000 QBO may fault or cap; a silent cap is what connectors report seeing
        # [unconfirmed]. Below 1 is clamped to 1 for symmetry with STARTPOSITION.
        max_results = min(max(paging.get("maxresults", DEFAULT_MAX_RESULTS), 1), MAX_RESULTS_CAP)
        return _Parsed(entity, count, fields, conditions, order_by, start_position, max_results)

    def field_item(self) -> _Token:
        if self.token.is_punct("*"):
            return self.advance()
        if self.token.kind != "word":
            raise self.unexpected('"*"', '"count"', "<IDENTIFIER>")
        return self.advance()

    def condition(self) -> tuple[_Token, str, Any]:
        field = self.identifier()
        if self.token.kind == "op":
            op = self.advance().text
            return field, op, self.value()
        if self.token.is_word("like"):
            self.advance()
            return field, "LIKE", self.value()
        if self.token.is_word("in"):
            self.advance()
            self.punct("(")
            values = [self.value()]
            while self.token.is_punct(","):
                self.advance()
                values.append(self.value())
            self.punct(")")
            return field, "IN", tuple(values)
        raise self.unexpected('"="', '"!="', '"<"', '">"', '"<="', '">="', '"in"', '"like"')

    def value(self) -> Any:
        token = self.token
        if token.kind == "string":
            self.advance()
            text = _unescape(token.text)
            return None if text == _NULL else text
        if token.kind == "number":
            self.advance()
            return Decimal(token.text)
        if token.kind == "word":
            self.advance()
            if token.text.lower() in ("true", "false"):
                return token.text.lower() == "true"
            return token.text
        raise self.unexpected("<STRING>", "<INTEGER>", "<DECIMAL>", "<IDENTIFIER>")

    def order_item(self) -> tuple[_Token, bool]:
        field = self.identifier()
        descending = False
        if self.token.is_word("asc", "desc"):
            descending = self.advance().text.lower() == "desc"
        return field, descending


_ENTITIES = {name.lower(): name for name in QUERYABLE}
_PROPERTIES = {
    entity: {name.lower(): name for name in properties} for entity, properties in QUERYABLE.items()
}


def parse(statement: str) -> Query:
    """Parse and validate a statement; raises QueryError (4000 syntax, 4001 validation)."""
    parsed = _Parser(statement).parse_statement()

    entity = _ENTITIES.get(parsed.entity.text.lower())
    if entity is None:
        raise _invalid(f"entity '{parsed.entity.text}' is not queryable")

    def canonical(token: _Token) -> str:
        name = _PROPERTIES[entity].get(token.text.lower())
        if name is None:
            raise _invalid(f"property '{token.text}' is not queryable")
        return name

    fields = None
    if [token.text for token in parsed.fields] != ["*"] and not parsed.count:
        fields = tuple("*" if t.text == "*" else canonical(t) for t in parsed.fields)
    conditions = tuple(Condition(canonical(f), op, v) for f, op, v in parsed.conditions)
    for condition in conditions:
        _compile(entity, condition)
    return Query(
        entity=entity,
        count=parsed.count,
        fields=fields,
        conditions=conditions,
        order_by=tuple((canonical(f), descending) for f, descending in parsed.order_by),
        start_position=parsed.start_position,
        max_results=parsed.max_results,
    )


# --- Executing ------------------------------------------------------------------------


def _is_active(obj: Mapping[str, Any]) -> bool:
    return obj.get("Active") is not False


def _sort_key(entity: str, field: str) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    read = _reader(entity, field)

    def key(obj: Mapping[str, Any]) -> tuple[Any, ...]:
        value = read(obj)
        return (0,) if value is None else (1, value)

    return key


def execute(
    query: Query, objects: Iterable[Mapping[str, Any]], *, hides_inactive: bool
) -> QueryResult:
    """Filter, count or sort and page `objects` (all of the query's entity) for `query`."""
    predicates = [_compile(query.entity, condition) for condition in query.conditions]
    # Name-list entities hide inactive rows unless the query itself asks about Active,
    # e.g. `Active = false` or `Active IN (true, false)` (docs/qbo-api.md §2, "Inactive rows").
    if hides_inactive and all(condition.field != "Active" for condition in query.conditions):
        predicates.append(_is_active)

    rows = list(objects)
    # One pass per predicate keeps the per-row work to plain function calls.
    for predicate in predicates:
        rows = [row for row in rows if predicate(row)]

    # COUNT(*) ignores ORDER BY, STARTPOSITION and MAXRESULTS.
    if query.count:
        return QueryResult(objects=[], total_count=len(rows))

    # Ties are broken by Id so that paging is stable. Ids are unique, so keys after an Id
    # key could never matter and are not sorted on.
    keys: list[tuple[str, bool]] = []
    for field, descending in query.order_by:
        keys.append((field, descending))
        if field == "Id":
            break
    else:
        keys.append(("Id", False))
    # Python's sort is stable, so sorting from the least significant key to the most
    # significant one orders by all of them.
    for field, descending in reversed(keys):
        rows.sort(key=_sort_key(query.entity, field), reverse=descending)

    start = query.start_position - 1
    return QueryResult(objects=rows[start : start + query.max_results])


def to_response(query: Query, result: QueryResult) -> dict[str, Any]:
    """The value of "QueryResponse" as QBO shapes it.

    An empty page is `{}`, with no entity key and no paging numbers: that is the body
    docs/qbo-api.md reports seeing, and python-quickbooks only looks for the entity key, so it
    reads `{}` as an empty list either way [exact body unconfirmed].
    """
    if query.count:
        return {"totalCount": result.total_count}
    if not result.objects:
        return {}
    return {
        query.entity: list(result.objects),
        "startPosition": query.start_position,
        # maxResults is the number of entities returned, not the page size asked for.
        "maxResults": len(result.objects),
    }
