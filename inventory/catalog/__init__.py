"""Une Femme's catalog of SKUs: the list, its CSV export, and the CSV import (preview, then
apply, all rows or none)."""
