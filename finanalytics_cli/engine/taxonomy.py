"""The default category taxonomy (DESIGN.md)."""

from __future__ import annotations

# (name, subcategories); order is display order.
DEFAULT_TAXONOMY: list[tuple[str, list[str]]] = [
    ("Income", ["Salary", "Bonus", "Interest", "Refunds", "Other income"]),
    ("Housing", ["Rent", "Mortgage", "Maintenance"]),
    ("Utilities", []),
    ("Groceries", []),
    ("Dining", []),
    ("Transport", ["Fuel", "Public transit", "Rideshare", "Parking", "Car"]),
    ("Travel", []),
    ("Shopping", []),
    ("Health", []),
    ("Insurance", []),
    ("Subscriptions", []),
    ("Entertainment", []),
    ("Education", []),
    ("Personal care", []),
    ("Kids", []),
    ("Pets", []),
    ("Gifts & donations", []),
    ("Fees & charges", []),
    ("Taxes", []),
    ("Cash", []),
    ("Savings & investments", []),
    ("Transfers", []),
    ("Uncategorized", []),
]

ESSENTIAL = frozenset({"Housing", "Utilities", "Groceries", "Transport", "Health", "Insurance", "Taxes", "Kids"})
# Transfers are neither income nor spending.
NEUTRAL = frozenset({"Transfers"})
INCOME = frozenset({"Income"})


def taxonomy_rows() -> list[tuple[str, str | None, bool, str]]:
    """Rows (name, parent, essential, kind) for the categories table; kind is
    'income', 'expense' or 'transfer'."""
    rows: list[tuple[str, str | None, bool, str]] = []
    for top, subs in DEFAULT_TAXONOMY:
        kind = "income" if top in INCOME else "transfer" if top in NEUTRAL else "expense"
        rows.append((top, None, top in ESSENTIAL, kind))
        rows.extend((f"{top}/{sub}", top, top in ESSENTIAL, kind) for sub in subs)
    return rows
