"""SKU mapping: which of each partner's QuickBooks items stand for which catalog SKU, the
matching run after every sync, and the admins' conflicts queue."""
