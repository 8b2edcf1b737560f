"""Static material for the demo seed: companies, chart of accounts, wines, customer names."""

from __future__ import annotations

from typing import NamedTuple

COMPANY_NAMES = (
    "Bubbles & Brine Distributing",
    "Côte Ouest Wine Co.",
    "Harbor Point Beverage",
)
COMPANY_CITIES = (
    ("1420 NW Lovejoy St", "Portland", "OR", "97209"),
    ("88 Embarcadero W", "Oakland", "CA", "94607"),
    ("2301 Western Ave", "Seattle", "WA", "98121"),
)

# (Name, AccountType, AccountSubType): Intuit's enumerations (Account reference).
CHART_OF_ACCOUNTS = (
    ("Checking", "Bank", "Checking"),
    ("Savings", "Bank", "Savings"),
    ("Undeposited Funds", "Other Current Asset", "UndepositedFunds"),
    ("Inventory Asset", "Other Current Asset", "Inventory"),
    ("Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable"),
    ("Accounts Payable (A/P)", "Accounts Payable", "AccountsPayable"),
    ("Visa Business Card", "Credit Card", "CreditCard"),
    ("Sales Tax Payable", "Other Current Liability", "SalesTaxPayable"),
    ("Opening Balance Equity", "Equity", "OpeningBalanceEquity"),
    ("Owner's Equity", "Equity", "OwnersEquity"),
    ("Sales of Product Income", "Income", "SalesOfProductIncome"),
    ("Services", "Income", "ServiceFeeIncome"),
    ("Shipping & Delivery Income", "Income", "OtherPrimaryIncome"),
    ("Discounts Given", "Income", "DiscountsRefundsGiven"),
    ("Cost of Goods Sold", "Cost of Goods Sold", "SuppliesMaterialsCogs"),
    ("Inventory Shrinkage", "Cost of Goods Sold", "SuppliesMaterialsCogs"),
    ("Freight & Delivery", "Expense", "ShippingFreightDelivery"),
    ("Advertising & Marketing", "Expense", "AdvertisingPromotional"),
    ("Rent & Lease", "Expense", "RentOrLeaseOfBuildings"),
)
PAYMENT_METHODS = (
    ("Cash", "NON_CREDIT_CARD"),
    ("Check", "NON_CREDIT_CARD"),
    ("Visa", "CREDIT_CARD"),
    ("MasterCard", "CREDIT_CARD"),
    ("ACH", "NON_CREDIT_CARD"),
)
TERMS = (("Net 30", 30), ("Net 60", 60), ("Due on receipt", 0))
VENDORS = ("Une Femme Wines", "Pacific Freight Lines", "Golden State Glass & Packaging")


class UneFemmeWine(NamedTuple):
    code: str
    label: str  # as on the bottle item
    short: str  # as on the case item
    vintage: str
    ml: int
    per_case: int
    price: str  # wholesale per bottle


# Une Femme's catalog codes (the unefemme app's demo catalog uses the same ones).
_CALLIE = ("The Callie Sparkling Rosé", "The Callie Rosé")
_MAGNUM = ("Blanc de Blancs Magnum", "Blanc de Blancs Magnum")
UNE_FEMME = (
    UneFemmeWine("UF-CAL-NV-750", *_CALLIE, "NV", 750, 12, "18.50"),
    UneFemmeWine("UF-JUL-NV-750", "The Juliette Brut", "The Juliette Brut", "NV", 750, 12, "17.50"),
    UneFemmeWine("UF-CAL-NV-375", *_CALLIE, "NV", 375, 24, "10.25"),
    UneFemmeWine("UF-BDB-2021-750", "Blanc de Blancs", "Blanc de Blancs", "2021", 750, 6, "32.00"),
    UneFemmeWine("UF-BDB-2021-1500", *_MAGNUM, "2021", 1500, 6, "68.00"),
    UneFemmeWine("UF-ROS-2023-750", "Still Rosé", "Still Rosé", "2023", 750, 12, "14.75"),
    UneFemmeWine("UF-CRB-NV-750", "Crémant Brut", "Crémant Brut", "NV", 750, 12, "16.00"),
    UneFemmeWine("UF-DEM-NV-750", "Demi-Sec", "Demi-Sec", "NV", 750, 6, "19.00"),
)  # fmt: skip

# Other brands a distributor carries: (name, wholesale price per bottle).
OTHER_WINES = (
    ("Château d'Yquem 2015", "395.00"),
    ("Domaine Weinbach Riesling Cuvée Théo 2020", "38.00"),
    ("Veuve Clicquot Brut NV", "42.00"),
    ("Veuve Clicquot Rosé NV", "52.00"),
    ("Moët & Chandon Impérial Brut NV", "39.00"),
    ("Ruinart Blanc de Blancs NV", "75.00"),
    ("Billecart-Salmon Brut Rosé NV", "78.00"),
    ("Pol Roger Brut Réserve NV", "48.00"),
    ("Taittinger Brut La Française NV", "45.00"),
    ("Laurent-Perrier Cuvée Rosé NV", "72.00"),
    ("Krug Grande Cuvée 171ème Édition", "185.00"),
    ("Bollinger Special Cuvée NV", "62.00"),
    ("Louis Roederer Collection 244", "55.00"),
    ("Gosset Grande Réserve Brut NV", "58.00"),
    ("Schramsberg Blanc de Blancs 2021", "36.00"),
    ("Roederer Estate Brut NV", "24.00"),
    ("Gruet Blanc de Noirs NV", "14.50"),
    ("Argyle Vintage Brut 2019", "26.00"),
    ("Domaine Carneros Brut 2020", "28.00"),
    ("Iron Horse Wedding Cuvée 2019", "40.00"),
    ("Ca' del Bosco Franciacorta Cuvée Prestige", "34.00"),
    ("Bisol Crede Prosecco Superiore 2022", "17.00"),
    ("Nino Franco Rustico Prosecco NV", "15.50"),
    ("Raventós i Blanc de Nit 2021", "22.00"),
    ("Gramona Imperial Gran Reserva 2018", "27.00"),
    ("Domaine Tempier Bandol Rosé 2023", "42.00"),
    ("Château d'Esclans Whispering Angel 2023", "19.50"),
    ("Château Miraval Rosé 2023", "18.00"),
    ("Domaine Ott Château de Selle Rosé 2023", "39.00"),
    ("Sancerre Domaine Vacheron 2022", "33.00"),
    ("Pouilly-Fumé Didier Dagueneau Pur Sang 2021", "88.00"),
    ("Chablis Premier Cru Montée de Tonnerre 2021", "41.00"),
    ("Meursault Domaine Roulot 2020", "145.00"),
    ("Puligny-Montrachet Leflaive 2020", "160.00"),
    ("Gevrey-Chambertin Rossignol-Trapet 2019", "68.00"),
    ("Châteauneuf-du-Pape Vieux Télégraphe 2019", "64.00"),
    ("Côte-Rôtie Guigal Brune et Blonde 2018", "72.00"),
    ("Barolo Vietti Castiglione 2019", "46.00"),
    ("Brunello di Montalcino Biondi-Santi 2017", "155.00"),
    ("Rioja Gran Reserva López de Heredia Tondonia 2012", "58.00"),
    ("Grüner Veltliner Hirsch Heiligenstein 2021", "31.00"),
    ("Trimbach Riesling Clos Ste Hune 2016", "175.00"),
    ("Zind-Humbrecht Gewurztraminer 2020", "34.00"),
    ("Egon Müller Scharzhofberger Kabinett 2021", "62.00"),
    ("Dr. Loosen Ürziger Würzgarten Spätlese 2020", "29.00"),
    ("Ridge Monte Bello 2018", "210.00"),
    ("Au Bon Climat Pinot Noir 2021", "24.00"),
    ("Domaine Drouhin Oregon Pinot Noir 2021", "36.00"),
    ("Cristom Jessie Vineyard Pinot Noir 2020", "44.00"),
    ("Château Lafite Rothschild 2016", "690.00"),
    ("Château Margaux 2015", "720.00"),
    ("Sauternes Château Suduiraut 2017", "45.00"),
    ("Tokaji Aszú 5 Puttonyos Royal Tokaji 2017", "48.00"),
    ("Quinta do Noval 10 Year Old Tawny", "36.00"),
    ("Lustau Amontillado Los Arcos", "16.00"),
)
CREMANTS = (
    ("Crémant de Loire", "18.00"),
    ("Crémant d'Alsace", "17.00"),
    ("Crémant de Bourgogne", "21.00"),
)
RETIRED_WINES = (
    ("Une Femme Still Rosé 2022 750ml", "14.00"),
    ("Veuve Clicquot La Grande Dame 2012", "155.00"),
    ("Château d'Yquem 2009", "450.00"),
)

# Retail accounts of a distributor; the first ones are always present.
NOTABLE_CUSTOMERS = (
    "Le Bistrot d'Émile",
    "O'Malley's Wine & Spirits",
    "Café Mélanie",
    "Chez Thérèse",
    "The Corkscrew & Crumb",
    "Bottle Shop on Ninth",
    "Ça Va Wine Bar",
    "Naïve Natural Wines",
)
CUSTOMER_FIRST = (
    "Harbor", "Oak", "Vine", "Cellar", "Golden", "Copper", "Rosé", "Maple", "Fog", "Cedar",
    "Lantern", "Juniper", "Saffron", "Willow", "Marigold", "Tidewater", "Ember", "Orchard",
    "Basalt", "Pélican", "Sainte-Claire", "Côte", "Mistral", "Bayside", "Pinecone", "Driftwood",
    "Lucky Dog", "Bluebird", "Red Door", "Old Mill", "Blackberry", "Two Rivers",
)  # fmt: skip
CUSTOMER_KIND = (
    "Wine Shop", "Bistro", "Wine Bar", "Bottle Shop", "Trattoria", "Brasserie", "Market",
    "Tavern", "Oyster Bar", "Kitchen", "Cellars", "Grocery",
)  # fmt: skip
GIVEN_NAMES = (
    "Émile", "Siobhan", "Marguerite", "Diego", "Aiko", "Hélène", "Kwame", "Rosa", "Liam",
    "Zoë", "Priya", "Mateo", "Ingrid", "Noël", "Chloé", "Tomás",
)  # fmt: skip
FAMILY_NAMES = (
    "O'Malley", "Dubois", "Nguyen", "García", "Okafor", "Lefèvre", "Schmidt", "Rossi",
    "D'Angelo", "Kowalski", "Müller", "Sánchez", "Brontë", "Yamamoto",
)  # fmt: skip
CITIES = (
    ("Portland", "OR", "972"),
    ("Seattle", "WA", "981"),
    ("San Francisco", "CA", "941"),
    ("Oakland", "CA", "946"),
    ("Sacramento", "CA", "958"),
    ("Bend", "OR", "977"),
    ("Tacoma", "WA", "984"),
)
STREETS = ("Main", "Oak", "Pine", "Alder", "Division", "Burnside", "Mission", "Pike")

# Channels a distributor reports by (QBO classes) and where its stock sits (QBO's
# departments, which it calls locations): lists only, the seeded transactions name none.
CLASSES = ("On-premise", "Off-premise", "Events & tastings")
SUB_CLASSES = (("Off-premise", "Grocery"), ("On-premise", "Hotels"))
DEPARTMENTS = ("Main warehouse", "Cold room", "Will-call counter")
# Sales reps and the warehouse staff of every demo distributor.
EMPLOYEES = (("Marguerite", "Dubois"), ("Kwame", "Okafor"), ("Aiko", "Yamamoto"),
             ("Tomás", "García"))  # fmt: skip
# (name, rate %, agency) of the sales taxes the distributors' retail customers collect;
# wholesale sales are for resale, so no seeded transaction is taxed (TaxPrefs.UsingSalesTax
# is off) and these are only the company's tax lists.
TAX_RATES = (
    ("California State", "7.25"),
    ("Alameda County", "3.00"),
    ("Washington State", "6.50"),
    ("King County", "3.85"),
)
TAX_CODES = (
    ("Oakland", "California State + Alameda County", ("California State", "Alameda County")),
    ("Seattle", "Washington State + King County", ("Washington State", "King County")),
)
# Why a customer is given a credit memo or a refund.
RETURN_REASONS = (
    "Corked bottles returned",
    "Breakage on delivery",
    "Mis-pick: wrong vintage delivered",
    "Damaged labels returned",
)
# Who buys cash on delivery: on-premise accounts (restaurants and bars).
ON_PREMISE_KINDS = (
    "Bistro", "Wine Bar", "Trattoria", "Brasserie", "Tavern", "Oyster Bar", "Kitchen",
)  # fmt: skip

# The customer types (QBO's CustomerType, read-only through the API) of every demo company,
# and the one each kind of retail account gets: CUSTOMER_KIND's kinds, matched at the end of
# a generated name, and the notable accounts one by one. About one customer in eight gets
# none (seed.customer_type_of), as real books have untyped customers.
CUSTOMER_TYPES = ("Restaurant", "Bar", "Wine shop", "Grocery")
KIND_CUSTOMER_TYPES = {
    "Wine Shop": "Wine shop", "Bistro": "Restaurant", "Wine Bar": "Bar",
    "Bottle Shop": "Wine shop", "Trattoria": "Restaurant", "Brasserie": "Restaurant",
    "Market": "Grocery", "Tavern": "Bar", "Oyster Bar": "Bar", "Kitchen": "Restaurant",
    "Cellars": "Wine shop", "Grocery": "Grocery",
}  # fmt: skip
NOTABLE_CUSTOMER_TYPES = {
    "Le Bistrot d'Émile": "Restaurant",
    "O'Malley's Wine & Spirits": "Wine shop",
    "Café Mélanie": "Restaurant",
    "Chez Thérèse": "Restaurant",
    "The Corkscrew & Crumb": "Wine shop",  # a wine and cheese shop
    "Bottle Shop on Ninth": "Wine shop",
    "Ça Va Wine Bar": "Bar",
    "Naïve Natural Wines": "Wine shop",
}
