"""What a CSV export looks like: its layout, detected once for the whole file.

Detection reads the text, not row by row: the delimiter from the first lines, the
header among the first lines (preamble before it is skipped), column roles from header
names in six languages, and — over whole columns — the date format (day/month order
settled by every value), the decimal mark and thousands separator, and the sign
convention. A ``--map`` TOML file can fix any of it.
"""

from __future__ import annotations

import csv
import functools
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

from finanalytics_cli.engine.errors import InvalidInput

DELIMITERS = (",", ";", "\t", "|")
HEADER_SEARCH_LINES = 40

# Header names per role, normalised (lower case, no accents, single spaces).
# Earlier entries win when several columns could take a role.
ROLE_NAMES: dict[str, list[str]] = {
    "date": [
        "booking date",
        "transaction date",
        "trans date",
        "trans. date",
        "posting date",
        "posted date",
        "date",
        "buchungstag",
        "buchungsdatum",
        "datum",
        "date d'operation",
        "date operation",
        "date de l'operation",
        "date comptable",
        "fecha",
        "fecha operacion",
        "fecha de operacion",
        "fecha contable",
        "data operazione",
        "data contabile",
        "data",
        "transactiedatum",
        "boekdatum",
        "boekingsdatum",
        "datum transactie",
        "completed date",
        "started date",
        "date completed",
        "created",
        "date time",
        "datetime",
        "datum boeking",
        "boekingdatum",
        "uitvoeringsdatum",
        "datum zauctovani",
        "datum provedeni",
        "datum transakce",
        "datum operace",
        "data operacji",
        "data ksiegowania",
        "data transakcji",
        "konyveles datuma",
        "tranzakcio datuma",
        "bokforingsdag",
        "bokforingsdatum",
        "transaktionsdag",
        "transaktionsdatum",
        "bokfort dato",
        "bokfort",
        "bogfort",
        "bogforingsdato",
        "dato",
        "kirjauspaiva",
        "tapahtumapaiva",
        "run date",
        "transaction posted date",
        "post date",
        "posted",
        "date posted",
        "datum der buchung",
        "operation date",
        "fecha de la operacion",
        "data movimento",
        "booked",
        "booking",
    ],
    "value_date": [
        "value date",
        "valuta",
        "wertstellung",
        "valutadatum",
        "date de valeur",
        "fecha valor",
        "data valuta",
        "rentedatum",
        "datum valuty",
        "valuta datum",
        "data waluty",
        "arvopaiva",
        "valuteringsdag",
        "rentedato",
        "wertstellungsdatum",
        "datum wertstellung",
        "settlement date",
    ],
    "amount": [
        "amount",
        "transaction amount",
        "amt",
        "net amount",
        "amount (eur)",
        "amount (usd)",
        "amount (gbp)",
        "betrag",
        "umsatz",
        "betrag (eur)",
        "montant",
        "montant (eur)",
        "importe",
        "importo",
        "bedrag",
        "bedrag (eur)",
        "suma",
        "summe",
        "net",
        "amount (total)",
        "castka",
        "objem",
        "kwota",
        "kwota operacji",
        "kwota transakcji",
        "osszeg",
        "tranzakcio osszege",
        "belopp",
        "belop",
        "belob",
        "maara",
        "summa",
        "gross",
        "betrag (€)",
        "betrag in eur",
        "umsatz in eur",
        "montant (€)",
        "importe (eur)",
        "valor",
        "montante",
        "importo (eur)",
        "amount in eur",
        "amount in usd",
        "total amount",
    ],
    "debit": [
        "debit",
        "debits",
        "withdrawal",
        "withdrawals",
        "paid out",
        "money out",
        "debit amount",
        "outflow",
        "soll",
        "ausgang",
        "belastung",
        "debit (eur)",
        "cargo",
        "cargos",
        "addebiti",
        "addebito",
        "uscite",
        "af",
        "afschrijving",
        "out",
        "spent",
        "withdrawal amount",
        "amount debit",
        "withdrawal (-)",
        "afschrijvingen",
        "debet",
        "vyber",
        "odchozi",
        "obciazenia",
        "wyplata",
        "terheles",
        "uttag",
        "ut",
        "utgift",
        "udbetaling",
        "haevet",
        "nosto",
        "belastet",
        "soll (eur)",
        "ausgabe",
        "ausgaben",
        "ut fra konto",
        "uttak",
        "hvet",
        "ut av konto",
        "belastning",
    ],
    "credit": [
        "credit",
        "credits",
        "deposit",
        "deposits",
        "paid in",
        "money in",
        "credit amount",
        "inflow",
        "haben",
        "eingang",
        "gutschrift",
        "credit (eur)",
        "abono",
        "abonos",
        "accrediti",
        "accredito",
        "entrate",
        "bij",
        "bijschrijving",
        "in",
        "received",
        "deposit amount",
        "amount credit",
        "deposit (+)",
        "bijschrijvingen",
        "vklad",
        "prichozi",
        "uznania",
        "wplata",
        "jovairas",
        "insattning",
        "inn",
        "innskudd",
        "indbetaling",
        "indsat",
        "pano",
        "haben (eur)",
        "einnahme",
        "einnahmen",
        "inn pa konto",
        "insatt",
    ],
    "direction": [
        "d/c",
        "dr/cr",
        "cr/dr",
        "debit/credit",
        "credit/debit",
        "d/k",
        "af/bij",
        "soll/haben",
        "s/h",
        "cd",
        "dc",
        "sign",
        "debit or credit",
        "transaction type",
        "type",
        "credit debit indicator",
        "af bij",
        "debet/credit",
        "credit/debet",
        "debit/credit indicator",
        "cdt/dbt",
        "soll/haben kennzeichen",
        "s/h kennzeichen",
        "d/c indicator",
        "in/out",
        "i/o",
        "dr cr",
        "debit credit",
    ],
    "payee": [
        "payee",
        "merchant",
        "description",
        "transaction description",
        "name",
        "payee name",
        "counterparty",
        "beneficiary",
        "label",
        "libelle",
        "libelle operation",
        "remarque",
        "narrative",
        "details",
        "empfanger",
        "empfaenger",
        "zahlungsempfanger",
        "auftraggeber/empfanger",
        "beguenstigter/zahlungspflichtiger",
        "buchungstext",
        "concepto",
        "descripcion",
        "beneficiario",
        "descrizione",
        "causale",
        "omschrijving",
        "naam / omschrijving",
        "naam/omschrijving",
        "tegenpartij",
        "naam",
        "gavejas",
        "to",
        "merchant name",
        "transaction",
        "title",
        "nom",
        "tiers",
        "destinatario",
        "ordinante",
        "partner name",
        "payer name",
        "naam tegenpartij",
        "naam begunstigde",
        "begunstigde",
        "empfanger*in",
        "empfanger/in",
        "empfangerin",
        "empfanger/-in",
        "zahlungsempfanger*in",
        "zahlungsempfanger/in",
        "zahlungsempfangerin",
        "auftraggeber*in",
        "auftraggeber/-in",
        "auftraggeber/in",
        "auftraggeber:in",
        "zahlungsempfanger/-in",
        "zahlungsempfanger:in",
        "empfanger:in",
        "auftraggeberin",
        "auftraggeber / empfanger",
        "auftraggeber/empfanger*in",
        "begunstigte/r",
        "beguenstigte",
        "begunstigter",
        "zahlungsbeteiligter",
        "name zahlungsbeteiligter",
        "zahlungspflichtige*r",
        "protistrana",
        "nazev protiuctu",
        "nazev uctu protistrany",
        "nazev",
        "obchodnik",
        "kontrahent",
        "dane kontrahenta",
        "nadawca / odbiorca",
        "nadawca/odbiorca",
        "odbiorca",
        "nadawca",
        "opis operacji",
        "partner neve",
        "kedvezmenyezett neve",
        "kedvezmenyezett",
        "ellenoldali nev",
        "mottagare",
        "avsandare",
        "mottaker",
        "betalingsmottaker",
        "modtager",
        "saaja/maksaja",
        "saaja",
        "maksaja",
        "moketojas",
        "from",
        "counterparty name",
        "beschreibung",
    ],
    "memo": [
        "memo",
        "notes",
        "note",
        "reference",
        "payment reference",
        "verwendungszweck",
        "mitteilung",
        "communication",
        "information",
        "info",
        "informations",
        "observaciones",
        "referencia",
        "riferimento",
        "mededelingen",
        "omschrijving-1",
        "paaiskinimai",
        "purpose",
        "comment",
        "comments",
        "remarks",
        "mededeling",
        "zprava pro prijemce",
        "zprava",
        "poznamka",
        "popis",
        "opis",
        "tytul",
        "tytul operacji",
        "kozlemeny",
        "kozlemenyek",
        "meddelande",
        "text",
        "tekst",
        "forklaring",
        "viesti",
        "transaction details",
    ],
    "balance": [
        "balance",
        "running balance",
        "saldo",
        "kontostand",
        "solde",
        "current balance",
        "available balance",
        "balance (eur)",
        "saldo (eur)",
        "saldo na mutatie",
        "runningbalance",
        "zustatek",
        "zustatek po transakci",
        "saldo po operacji",
        "saldo po transakcji",
        "egyenleg",
        "konyvelt egyenleg",
        "saldo efter",
        "saldo na boeking",
        "running bal.",
        "balance ($)",
        "kontostand (eur)",
        "solde (eur)",
        "saldo (€)",
    ],
    "currency": [
        "currency",
        "ccy",
        "wahrung",
        "waehrung",
        "devise",
        "moneda",
        "divisa",
        "muntsoort",
        "valiuta",
        "currency code",
        "mena",
        "waluta",
        "penznem",
        "deviza",
        "munt",
        "valuutta",
        "vaaluta",
    ],
    "status": [
        "status",
        "state",
        "transaction status",
        "umsatzstatus",
        "buchungsstatus",
        "stav",
        "stan",
        "allapot",
        "transaktionsstatus",
    ],
    "account": [
        "account",
        "account name",
        "account number",
        "iban",
        "konto",
        "kontonummer",
        "saskaitos nr.",
        "rekening",
        "rekeningnummer",
        "compte",
        "cuenta",
        "numer rachunku",
        "cislo uctu",
        "szamlaszam",
        "tili",
    ],
    "mcc": ["mcc", "mcc code", "merchant category code", "merchant category code (mcc)", "sic", "sic code"],
    "reference_id": [
        "transaction id",
        "id",
        "reference number",
        "ref",
        "transaction reference",
        "fitid",
        "transferwise id",
        "referenz",
        "id transaction",
    ],
}

# Values of a direction column that mean money out / money in.
DEBIT_WORDS = {
    "d",
    "dr",
    "debit",
    "debito",
    "débito",
    "af",
    "s",
    "soll",
    "-",
    "out",
    "o",
    "withdrawal",
    "db",
    "deb",
    "debet",
    "dbit",
    "dbt",
    "belastung",
    "outgoing",
    "ausgang",
    "cargo",
    "addebito",
    "terhelés",
    "terheles",
    "obciążenie",
    "obciazenie",
    "výdaj",
    "vydaj",
    "odchozí",
    "odchozi",
    "uttag",
    "ut",
    "money out",
}
CREDIT_WORDS = {
    "c",
    "cr",
    "credit",
    "credito",
    "crédito",
    "bij",
    "h",
    "haben",
    "k",
    "+",
    "in",
    "i",
    "deposit",
    "cred",
    "crdt",
    "cdt",
    "gutschrift",
    "incoming",
    "eingang",
    "abono",
    "accredito",
    "jóváírás",
    "jovairas",
    "uznanie",
    "příjem",
    "prijem",
    "příchozí",
    "prichozi",
    "insättning",
    "insattning",
    "inn",
    "money in",
}
# Headers that can only mean a debit/credit flag: their unknown values are an error.
# ("type", "transaction type" and "sign" are used by some banks for other things.)
SPECIFIC_DIRECTION_HEADERS = set(ROLE_NAMES["direction"]) - {"type", "transaction type", "sign"}

# Exports of apps and banks whose date order the dates alone cannot show (normalised header).
KNOWN_EXPORTS: list[tuple[str, frozenset[str], str]] = [
    (
        "Mint",
        frozenset(
            {
                "date",
                "description",
                "original description",
                "amount",
                "transaction type",
                "category",
                "account name",
                "labels",
                "notes",
            }
        ),
        "month",
    ),
    (
        "Monefy",
        frozenset({"date", "account", "category", "amount", "currency", "converted amount", "description"}),
        "day",
    ),
]


# Card exports that list charges as positive amounts (money out must be negative):
# the header's names, all present.
CHARGES_POSITIVE: list[tuple[str, frozenset[str]]] = [
    ("American Express", frozenset({"date", "description", "amount", "card member", "account #"})),
    (
        "American Express",
        frozenset({"date", "description", "amount", "extended details", "appears on your statement as"}),
    ),
    ("Discover", frozenset({"trans. date", "post date", "description", "amount", "category"})),
    ("Apple Card", frozenset({"transaction date", "clearing date", "description", "merchant", "amount (usd)"})),
]


def charges_positive_export(header: list[str]) -> str | None:
    """The name of a card export known to list charges as positive amounts, if it is one."""
    cells = frozenset(normalise_header(h) for h in header if h.strip())
    return next((name for name, heads in CHARGES_POSITIVE if heads <= cells), None)


def known_export(header: list[str]) -> tuple[str, str] | None:
    """(name, "day" | "month") when the header is exactly a known app's export."""
    cells = frozenset(normalise_header(h) for h in header if h.strip())
    for name, heads, order in KNOWN_EXPORTS:
        if cells == heads:
            return name, order
    return None


def normalise_header(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.strip().strip('"').strip("\ufeff")).encode("ascii", "ignore").decode()
    text = text.lstrip("#").strip()  # mBank writes "#Data operacji"
    return " ".join(text.lower().replace("_", " ").split())


@dataclass
class CsvLayout:
    """Everything needed to read one CSV export; serializable to a --map TOML."""

    encoding: str = "utf-8"
    delimiter: str = ","
    quotechar: str = '"'
    header_line: int | None = 1  # 1-based line of the header; None: no header
    columns: list[str] = field(default_factory=list)
    date_column: str | None = None
    date_format: str | None = None
    amount_column: str | None = None
    debit_column: str | None = None
    credit_column: str | None = None
    direction_column: str | None = None
    payee_column: str | None = None
    memo_columns: list[str] = field(default_factory=list)
    balance_column: str | None = None
    currency_column: str | None = None
    status_column: str | None = None
    reference_column: str | None = None
    account_column: str | None = None
    value_date_column: str | None = None
    fee_column: str | None = None  # a fee the amount does not include (the balance shows it)
    category_column: str | None = None  # the user's own categories, imported as labels
    mcc_column: str | None = None  # ISO 18245 merchant category codes
    decimal: str = "."
    thousands: str | None = None
    currency: str | None = None
    invert_sign: bool = False
    evidence: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        used = {
            role: getattr(self, f"{role}_column")
            for role in (
                "date",
                "amount",
                "debit",
                "credit",
                "direction",
                "payee",
                "balance",
                "currency",
                "status",
                "reference",
                "account",
                "mcc",
            )
            if getattr(self, f"{role}_column")
        }
        if self.memo_columns:
            used["memo"] = ", ".join(self.memo_columns)
        return {
            "encoding": self.encoding,
            "delimiter": {"\t": "tab"}.get(self.delimiter, self.delimiter),
            "header_line": self.header_line,
            "date_format": self.date_format,
            "decimal_mark": self.decimal,
            "thousands_separator": self.thousands,
            "invert_sign": self.invert_sign,
            "columns_used": used,
            "evidence": self.evidence,
        }

    def to_toml(self) -> str:
        """The --map TOML that reproduces this layout."""
        keys = [
            "encoding",
            "delimiter",
            "header_line",
            "date_column",
            "date_format",
            "amount_column",
            "debit_column",
            "credit_column",
            "direction_column",
            "payee_column",
            "memo_columns",
            "balance_column",
            "currency_column",
            "status_column",
            "reference_column",
            "account_column",
            "value_date_column",
            "fee_column",
            "mcc_column",
            "decimal",
            "thousands",
            "currency",
            "invert_sign",
        ]
        data = asdict(self)
        lines = ["# finanalytics CSV map (see `finanalytics import --help`)", "[csv]"]
        for k in keys:
            v = data[k]
            if v is None or v == []:
                continue
            lines.append(f"{k} = {_toml_value(v)}")
        return "\n".join(lines) + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    s = str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
    return f'"{s}"'


MAP_KEYS = set(CsvLayout.__dataclass_fields__) - {"columns", "evidence", "quotechar"}


def load_map(text: str, source: str) -> dict[str, Any]:
    """Parse a --map TOML document into layout overrides (validated)."""
    import tomllib

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{source}: not valid TOML ({exc})") from None
    table = doc.get("csv", doc)
    if not isinstance(table, dict):
        raise InvalidInput(f"{source}: expected a [csv] table")
    unknown = sorted(set(table) - MAP_KEYS)
    if unknown:
        raise InvalidInput(f"{source}: unknown keys {', '.join(unknown)}; valid keys: {', '.join(sorted(MAP_KEYS))}")
    if "memo_columns" in table and isinstance(table["memo_columns"], str):
        table["memo_columns"] = [table["memo_columns"]]
    if "decimal" in table and table["decimal"] not in (".", ","):
        raise InvalidInput(f'{source}: decimal must be "." or ","')
    if "delimiter" in table and table["delimiter"] in ("tab", "\\t"):
        table["delimiter"] = "\t"
    return table


# -- detection ------------------------------------------------------------------------
def sniff_delimiter(lines: list[str]) -> str:
    """The delimiter that splits the most lines into the same number (>1) of fields."""
    best, best_score = ",", -1.0
    sample = [ln for ln in lines if ln.strip()][:60]
    if not sample:
        return ","
    for delim in DELIMITERS:
        counts = []
        for ln in sample:
            try:
                # strict: '"a";"b,c"' split on "," breaks the quoting, so "," does not win the vote.
                counts.append(len(next(csv.reader([ln], delimiter=delim, strict=True))))
            except (csv.Error, StopIteration):
                counts.append(1)
        multi = [c for c in counts if c > 1]
        if not multi:
            continue
        mode = max(set(multi), key=lambda c: (multi.count(c), c))
        # Lines agreeing on the mode matter most; more fields breaks ties.
        score = multi.count(mode) / len(sample) * 1000 + mode
        if score > best_score:
            best, best_score = delim, score
    return best


def split_line(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter))
    except (csv.Error, StopIteration):
        return line.split(delimiter)


def match_roles(header: list[str]) -> dict[str, int]:
    """Column index per role from header names; exact names first, then containment."""
    norm = [normalise_header(h) for h in header]
    roles: dict[str, int] = {}
    taken: set[int] = set()
    columns_named: dict[str, list[int]] = {}
    for i, h in enumerate(norm):
        if h:
            columns_named.setdefault(h, []).append(i)
    for role, names in ROLE_NAMES.items():  # exact names: the first free column of that name
        for name in names:
            i = next((i for i in columns_named.get(name, ()) if i not in taken), None)
            if i is not None:
                roles[role] = i
                taken.add(i)
                break
    for role, names in ROLE_NAMES.items():
        if role in roles or role not in _CONTAINS_ROLES:
            continue
        # The cheap test first: one search for all of the role's names over the whole line.
        if not _role_names_anywhere(role).search("\n".join(norm)):
            continue
        for name in names:
            if len(name) <= 3:
                continue
            hit = next(
                (
                    i
                    for i, h in enumerate(norm)
                    if i not in taken and h and _word_in(name, h) and not _qualified(role, h)
                ),
                None,
            )
            if hit is not None:
                roles[role] = hit
                taken.add(hit)
                break
    return roles


@functools.cache
def _role_names_anywhere(role: str) -> re.Pattern[str]:
    """A pattern finding any of the role's (longer) names as a substring."""
    names = sorted((n for n in ROLE_NAMES[role] if len(n) > 3), key=len, reverse=True)
    return re.compile("|".join(re.escape(n) for n in names) or "(?!)")


_CONTAINS_ROLES = {"date", "amount", "debit", "credit", "payee", "memo", "balance", "currency"}
# "Original Currency", "Amount (Foreign Currency)", "Source fee amount": other money than
# the account's. A containment match on such a header would read the wrong column.
_QUALIFIERS = re.compile(
    r"\b(?:original|orig|foreign|local|source|target|fee|fees|tax|tip|exchange|exchanged|converted|after fees|"
    r"before fees|oorspr|fremd|devisen|ursprung|abweichender|fx)\b"
)


def _qualified(role: str, header: str) -> bool:
    if role not in ("amount", "currency", "payee", "debit", "credit", "balance"):
        return False
    if role == "currency" and re.search(r"\bamount\b|\bbetrag\b", header):
        return True
    return _QUALIFIERS.search(header) is not None


def _word_in(name: str, header: str) -> bool:
    if name not in header:  # the cheap test first: most names are not in most headers
        return False
    return re.search(rf"(?:^|[\s(/_-]){re.escape(name)}(?:$|[\s)/_.:-])", header) is not None


def header_score(cells: list[str]) -> int:
    roles = match_roles(cells)
    has_money = any(r in roles for r in ("amount", "debit", "credit"))
    score = len(roles) + (3 if "date" in roles else 0) + (3 if has_money else 0)
    # Data rows look like numbers and dates; headers do not.
    numeric = sum(1 for c in cells if re.fullmatch(r"[\s$€£+\-()]*[\d.,]+[\s$€£)-]*", c or ""))
    return score - 2 * numeric


def find_header(lines: list[str], delimiter: str) -> int | None:
    """0-based index of the header line among the first lines, or None."""
    best, best_score = None, 3
    for i, ln in enumerate(lines[:HEADER_SEARCH_LINES]):
        if not ln.strip():
            continue
        s = header_score(split_line(ln, delimiter))
        if s > best_score:
            best, best_score = i, s
    return best
