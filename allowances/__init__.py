"""Depletion allowances (billbacks): programs, what the books say each owes, and the
distributors' claims checked against them (docs/reports.md, "Depletion allowances")."""
