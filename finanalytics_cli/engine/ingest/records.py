"""What is not a transaction: whole files (brokerage, crypto, journals, rules files) and
rows inside a bank export (opening/closing balances, turnover totals)."""

from __future__ import annotations

import re
from typing import Any

from finanalytics_cli.engine.errors import InvalidInput

_SECURITY = {"symbol", "ticker", "cusip", "isin", "security", "security id", "fund", "instrument", "stock"}
_HOLDING = {
    "quantity",
    "qty",
    "shares",
    "units",
    "price",
    "share price",
    "unit price",
    "total shares",
    "market value",
    "cost basis",
    "exchange quantity",
}
_TRADE_ACTIONS = {
    "buy",
    "sell",
    "div",
    "dividend",
    "reinvest",
    "reinvestment",
    "reinvest dividend",
    "bought",
    "sold",
    "stock split",
    "buy to open",
    "sell to close",
    "buy to close",
    "sell to open",
    "sell short",
    "short sale",
    "exercise",
    "assignment",
    "expired",
    "qualified dividend",
    "cash dividend",
    "capital gain",
    "long term cap gain",
    "short term cap gain",
}
_CRYPTO = {"txhash", "tx hash", "transaction hash", "sent currency", "received currency", "wallet address"}
_RULES_DIRECTIVE = re.compile(
    r"^(?:skip|fields|date-format|account[12]|currency|if|separator|decimal-mark|newest-first|intra-day-reversed|"
    r"include|description|amount(?:-in|-out)?|comment|balance|status|code|timezone)\b(?:\s|$)"
)


def refuse_non_transaction_text(lines: list[str], name: str) -> None:
    """A conversion-rules file (hledger ``.rules``) describes a layout; it holds no transactions."""
    body = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith(("#", ";", "*"))]
    directives = sum(1 for ln in body if _RULES_DIRECTIVE.match(ln))
    if body and directives >= 2 and directives >= 0.3 * len(body):
        raise InvalidInput(
            f"{name}: not a transaction export: a CSV conversion rules file (hledger), which describes a layout "
            "and holds no transactions"
        )


def refuse_non_transaction_frame(norm_header: list[str], frame: Any, columns: list[str], name: str) -> None:
    """Brokerage, crypto and double-entry journal exports are refused with what they are."""
    heads = set(norm_header)
    if heads & _SECURITY and heads & _HOLDING:
        raise InvalidInput(
            f"{name}: not a transaction export: an investment (brokerage) history, with securities and "
            f"quantities ({', '.join(sorted((heads & _SECURITY) | (heads & _HOLDING)))}); import the cash "
            "account's own bank statement instead"
        )
    crypto_codes = ["BTC", "ETH", "LTC", "XRP", "USDT", "USDC", "DOGE", "SOL", "ADA", "BNB"]
    crypto_column = any(
        h in {"currency", "asset", "coin", "order currency", "transfer total currency"}
        and frame[col].drop_nulls().str.strip_chars().str.to_uppercase().is_in(crypto_codes).any()
        for h, col in zip(norm_header, columns, strict=False)
    )
    if heads & _CRYPTO or {"sent amount", "received amount"} <= heads or crypto_column:
        raise InvalidInput(f"{name}: not a transaction export: a crypto trade or wallet log")
    if "txnidx" in heads or ("posting status" in heads and "account" in heads):
        raise InvalidInput(f"{name}: not a transaction export: the postings of a double-entry journal (hledger CSV)")
    # An action column of trades (BUY/SELL/DIV) on most rows: brokerage activity.
    for h, col in zip(norm_header, columns, strict=False):
        if h in {"type", "action", "transaction type", "activity", "trans type"} and frame.height:
            values = frame[col].drop_nulls().str.strip_chars().str.to_lowercase()
            if values.len() and values.is_in(list(_TRADE_ACTIONS)).mean() >= 0.5:
                raise InvalidInput(
                    f"{name}: not a transaction export: an investment (brokerage) history "
                    f"(column {col!r} holds trades: {', '.join(values.unique().sort().head(5).to_list())})"
                )


# Whole-cell texts of rows that are statements about the account, not money moving.
BALANCE_RECORD = (
    r"(?i)^\s*(?:opening balance|closing balance|balance brought forward|balance carried forward|"
    r"brought forward|carried forward|previous balance|new balance|starting balance|ending balance|"
    r"beginning balance|start balance|end balance|anfangssaldo|endsaldo|anfangsbestand|schlusssaldo|"
    r"alter kontostand|neuer kontostand|kontostand|saldo anterior|saldo inicial|saldo final|saldo actual|"
    r"solde initial|solde final|solde pr[ée]c[ée]dent|nouveau solde|ancien solde|solde au|beginsaldo|eindsaldo|"
    r"saldo begin|saldo eind|saldo iniziale|saldo finale|saldo contabile|likutis prad[žz]iai|likutis pabaigai|"
    r"apyvarta|turnover|total turnover|umsatz gesamt|umsatzsumme|summe der ums[äa]tze|totals? for period|"
    r"saldo pocz[ąa]tkowe|saldo ko[ńn]cowe|saldo otwarcia|saldo zamkni[ęe]cia|po[čc][áa]te[čc]n[íi] z[ůu]statek|"
    r"kone[čc]n[ýy] z[ůu]statek|po[čc][áa]te[čc]n[íi] stav|kone[čc]n[ýy] stav|nyit[óo] egyenleg|z[áa]r[óo] egyenleg|"
    r"ing[åa]ende saldo|utg[åa]ende saldo|inng[åa]ende saldo|alkusaldo|loppusaldo|primosaldo|ultimosaldo)"
    r"(?:\s+(?:am|per|au|al|at|on|as of|du|vom|z dne|dne|na dzie[ńn]|zum))?[\s\d.,:/()-]*$"
)
_OPENING = (
    r"(?i)opening|brought|previous|starting|beginning|start|anfang|alter|anterior|inicial|initial|pr[ée]c|ancien|"
    r"begin|iniziale|prad|pocz|otwarcia|po[čc][áa]t|nyit|ing[åa]|inng|alku|primo"
)
_CLOSING = (
    r"(?i)closing|carried|new balance|ending|end balance|endsaldo|schluss|neuer|kontostand|final|actual|nouveau|"
    r"solde au|eind|finale|contabile|pabaig|ko[ńn]c|zamkn|kone[čc]|z[áa]r[óo]|utg|loppu|ultimo"
)
_TURNOVER = r"(?i)apyvarta|turnover|umsatz|summe|gesamt|total|sum"


def balance_record_kind(texts: list[Any]) -> Any:
    """An expression: 'opening' | 'closing' | 'turnover' for balance/total rows, else null.

    ``texts`` are the row's text expressions (payee, memo); a row is a record when one of
    them is, as a whole, such a phrase (with at most a date after it).
    """
    import polars as pl

    kind = pl.lit(None, pl.String)
    for t in reversed(texts):
        t = t.fill_null("")
        is_record = t.str.contains(BALANCE_RECORD)
        kind = (
            pl.when(is_record & t.str.contains(_TURNOVER))
            .then(pl.lit("turnover"))
            .when(is_record & t.str.contains(_OPENING))
            .then(pl.lit("opening"))
            .when(is_record)
            .then(pl.lit("closing"))
            .otherwise(kind)
        )
    return kind


# Rows that never moved money: reverted, cancelled, declined, failed.
CANCELLED_WORDS = r"(?i)revert|cancel|declin|\bfailed\b|storn|annul|rejected|abgelehnt|zur[üu]ckgewiesen|refus"
