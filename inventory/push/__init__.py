"""Pushes into a partner's QuickBooks: warehouse quantities and new catalog items, drafted
and approved by admins, written in batches that are never applied twice."""
