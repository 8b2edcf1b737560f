"""Purchasing: each partner's QuickBooks vendors, bills, purchase orders and vendor credits,
mirrored, from which sell-in (what a distributor bought from Une Femme) is counted."""
