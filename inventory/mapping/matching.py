"""The matching rules: how a QuickBooks item's name and Sku are read, and which catalog SKUs
(in which unit) it could stand for. Pure functions on the item and the catalog: the
services (``inventory.mapping.services``) decide, store and audit.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from inventory.catalog.models import CatalogSKU

from .models import MappingConflict, QBOItem, SKUMapping

if TYPE_CHECKING:
    pass


Kind = MappingConflict.Kind


Unit = SKUMapping.Unit


Method = SKUMapping.Method


# Words that say nothing about which wine it is.
STOP_WORDS = frozenset({"the", "une", "femme", "unefemme", "bottle", "bottles", "btl", "of"})


# Bare numbers that are bottle sizes when no unit follows them ("Juliette Brut NV 750").
BARE_FORMATS = frozenset({187, 375, 500, 750, 1000, 1500, 3000})


NAMED_FORMATS = {"magnum": 1500, "jeroboam": 3000, "split": 187}


_UNITS_ML = {"ml": 1, "cl": 10, "l": 1000, "lt": 1000, "ltr": 1000, "litre": 1000,
             "liter": 1000, "litres": 1000, "liters": 1000}  # fmt: skip


_FORMAT = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)?)\s*(ml|cl|ltr|lt|litres|liters|litre|liter|l)\b")


_CASE_PATTERNS = (
    re.compile(r"\b(?:case|cs|carton)\s*(?:of|/|x)?\s*(\d{1,3})\b"),  # "Case of 12", "cs/6"
    re.compile(r"\b(\d{1,3})\s*-?\s*(?:pk|pack)\b"),  # "12pk", "6-pack"
    re.compile(r"\b(\d{1,3})\s*/\s*(?:cs|case)\b"),  # "12/cs"
    re.compile(r"\b(\d{1,3})\s*(?:x|×)\s*(?=\d)"),  # "6 x 750ml"
    re.compile(r"\b(\d{1,3})\s*(?:bottle|btl)s?\s*(?:case|cs)\b"),  # "12 bottle case"
)


_CASE_WORD = re.compile(r"\b(?:case|cs|carton)\b")


_VINTAGE = re.compile(r"\b(19\d{2}|20\d{2})\b")


_NV = re.compile(r"\b(?:nv|n\.\s*v\b\.?|non\s*-?\s*vintage)(?!\w)")


_PUNCT = re.compile(r"[^\w\s]|_")


_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """Case-folded, accents stripped: "Crémant" and "CREMANT" compare equal."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def normalise(text: str) -> str:
    """Folded, punctuation to spaces, spaces collapsed."""
    return _SPACES.sub(" ", _PUNCT.sub(" ", fold(text))).strip()


@dataclass(frozen=True)
class ParsedName:
    """What an item's name says: the wine's words and, when stated, vintage, format and
    case size. ``vintage`` is a year, ``"NV"``, or None when the name does not say."""

    words: frozenset[str]
    vintage: int | str | None
    format_ml: int | None
    case_size: int | None
    is_case: bool
    branded: bool
    text: str


def parse_name(name: str) -> ParsedName:
    text = fold(name)
    branded = "une femme" in normalise(text) or "unefemme" in text

    case_size: int | None = None
    for pattern in _CASE_PATTERNS:
        match = pattern.search(text)
        if match and int(match.group(1)) > 0:
            case_size = int(match.group(1))
            text = text[: match.start()] + " " + text[match.end() :]
            break
    is_case = case_size is not None or bool(_CASE_WORD.search(text))
    text = _CASE_WORD.sub(" ", text)

    format_ml: int | None = None
    match = _FORMAT.search(text)
    if match:
        value = Decimal(match.group(1).replace(",", "."))
        format_ml = int(value * _UNITS_ML[match.group(2)])
        text = text[: match.start()] + " " + text[match.end() :]
    for word, ml in NAMED_FORMATS.items():
        if re.search(rf"\b{word}\b", text):
            format_ml = format_ml or ml
            text = re.sub(rf"\b{word}\b", " ", text)

    vintage: int | str | None = None
    if match := _VINTAGE.search(text):
        vintage = int(match.group(1))
        text = text[: match.start()] + " " + text[match.end() :]
    elif match := _NV.search(text):
        vintage = "NV"
        text = text[: match.start()] + " " + text[match.end() :]

    words = normalise(text).split()
    if format_ml is None:
        bare = [w for w in words if w.isdigit() and int(w) in BARE_FORMATS]
        if bare:
            format_ml = int(bare[0])
            words.remove(bare[0])
    return ParsedName(
        words=frozenset(w for w in words if w not in STOP_WORDS),
        vintage=vintage,
        format_ml=format_ml,
        case_size=case_size,
        is_case=is_case,
        branded=branded,
        text=" ".join(words),
    )


def catalog_words(sku: CatalogSKU) -> frozenset[str]:
    # The catalog's wine names may carry a format word ("Blanc de Blancs Magnum"); the
    # format is compared on its own, so the words are parsed the same way as items'.
    return parse_name(sku.wine).words


def name_fits(parsed: ParsedName, sku: CatalogSKU, words: frozenset[str]) -> bool:
    if parsed.vintage is not None and parsed.vintage != (sku.vintage or "NV"):
        return False
    if parsed.format_ml is not None and parsed.format_ml != sku.format_ml:
        return False
    if not parsed.words or not words:
        return False
    if parsed.branded:
        # "Une Femme Callie Rosé" fits "The Callie Sparkling Rosé"; extra words on the
        # item ("Library Release", "Promo") do not stop a fit either.
        return words <= parsed.words or parsed.words <= words
    # Without the brand, only the wine's exact words: "Schramsberg Blanc de Blancs 2021"
    # is not Une Femme's Blanc de Blancs 2021.
    return parsed.words == words


def unit_for(parsed: ParsedName, sku: CatalogSKU) -> tuple[str, int]:
    if parsed.case_size:
        return Unit.CASE, parsed.case_size
    if parsed.is_case:
        return Unit.CASE, sku.bottles_per_case
    return Unit.BOTTLE, 1


@dataclass(frozen=True)
class Proposal:
    sku: CatalogSKU
    method: str  # Method.SKU or Method.NAME
    unit: str
    bottles_per_unit: int


def proposals_for(
    item: QBOItem, catalog: list[tuple[CatalogSKU, frozenset[str]]]
) -> list[Proposal]:
    """Every SKU the item could be: the Sku match first, then the name's; de-duplicated."""
    parsed = parse_name(item.name)
    by_code: dict[str, Proposal] = {}
    code = item.sku.strip().upper()
    sku_match = next((sku for sku, _ in catalog if sku.code == code), None) if code else None
    if sku_match is not None:
        by_code[sku_match.code] = Proposal(sku_match, Method.SKU, *unit_for(parsed, sku_match))
    fits = [(sku, words) for sku, words in catalog if name_fits(parsed, sku, words)]
    # When one SKU's words are exactly the item's, the looser fits are not rivals.
    exact = [(sku, words) for sku, words in fits if words == parsed.words]
    if len(exact) == 1:
        fits = exact
    name_codes = {sku.code for sku, _ in fits}
    if sku_match is not None and (not fits or sku_match.code in name_codes):
        return [by_code[sku_match.code]]
    for sku, _ in fits:
        by_code.setdefault(sku.code, Proposal(sku, Method.NAME, *unit_for(parsed, sku)))
    return list(by_code.values())


def looks_like_une_femme(item: QBOItem) -> bool:
    return parse_name(item.name).branded or item.sku.strip().upper().startswith("UF-")
