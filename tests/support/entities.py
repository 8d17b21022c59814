"""The entities the later source tests cover: each source's entities beyond its first ones."""

from __future__ import annotations

SALES_NEW = ("contacts", "opportunities", "shipments")
BILLING_NEW = ("invoice_lines", "contracts", "credit_notes", "credit_lines")
