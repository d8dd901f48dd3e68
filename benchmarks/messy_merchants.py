"""A generator of realistic bank exports of well-known US and European brands, written
the messy ways banks print them, with the right category of every row.

Two households' files: a US credit card CSV (``Date,Description,Amount``, USD) and a
US checking CSV, a German giro CSV (``Buchungstag;Auftraggeber/Empfänger;
Verwendungszweck;Betrag``, EUR, decimal commas) and a French/Dutch/Spanish card CSV
(EUR). Descriptors carry what real ones do: processor prefixes (``SQ *``, ``TST*``,
``PAYPAL *``, ``CKO*``, ``POS``), booking words in several languages (``KARTENZAHLUNG``,
``ACHAT CB``, ``COMPRA``, ``BEA``), store numbers, towns with state or country codes,
references, dates and truncation at 22 or 25 characters. Salary, rent, bank fees, ATM
withdrawals and tax payments come as banks write them.

The brands and their categories are our own list, written by hand from what each brand
is, not read from the built-in merchant table; none of them is a merchant of the sample
household (``finanalytics demo``), so the figure is not a memory of that data.
``BRANDS`` is the truth: each entry is (category, countries, descriptor spellings).

Used by ``benchmarks/merchant_categories.py``; ``python benchmarks/messy_merchants.py
DIR`` writes the files and ``truth.csv`` to DIR.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

US, EU, DE, FR, NL, ES, IT, GB = "us", "eu", "de", "fr", "nl", "es", "it", "gb"

# (name as the bank prints it, category, markets, typical amount). A name in several
# spellings lists them with "|"; "{n}" is a store number.
BRANDS: list[tuple[str, str, tuple[str, ...], float]] = [
    # Groceries
    ("KROGER #{n}|KROGER STORE {n}|THE KROGER CO {n}", "Groceries", (US,), 70),
    ("PUBLIX SUPER MKT #{n}|PUBLIX #{n}", "Groceries", (US,), 60),
    ("WEGMANS #{n}|WEGMANS FOOD MARKETS", "Groceries", (US,), 85),
    ("H-E-B #{n}|HEB GROCERY {n}|H E B #{n}", "Groceries", (US,), 75),
    ("ALBERTSONS #{n}|ALBERTSONS STORE {n}", "Groceries", (US,), 55),
    ("ALDI {n}|ALDI SUED SAGT DANKE|ALDI NORD {n}", "Groceries", (US, DE), 45),
    ("LIDL {n}|LIDL DIENSTL. GMBH|LIDL SAGT DANKE", "Groceries", (DE, FR, NL, ES, IT), 40),
    ("KAUFLAND {n}|KAUFLAND DANKT", "Groceries", (DE,), 50),
    ("PENNY MARKT {n}|PENNY {n}", "Groceries", (DE,), 30),
    ("NETTO MARKEN-DISCOUNT|NETTO FIL. {n}", "Groceries", (DE,), 35),
    ("CARREFOUR MARKET|CARREFOUR CITY {n}|CARREFOUR {n}", "Groceries", (FR, ES, IT), 55),
    ("E.LECLERC|LECLERC {n}", "Groceries", (FR,), 80),
    ("INTERMARCHE {n}|ITM INTERMARCHE", "Groceries", (FR,), 60),
    ("MONOPRIX {n}|MONOP {n}", "Groceries", (FR,), 35),
    ("ALBERT HEIJN {n}|AH TO GO {n}|ALBERT HEIJN 1{n}", "Groceries", (NL,), 40),
    ("JUMBO {n}|JUMBO SUPERMARKTEN", "Groceries", (NL,), 45),
    ("MERCADONA {n}|MERCADONA S.A.", "Groceries", (ES,), 50),
    ("ESSELUNGA {n}|ESSELUNGA SPA", "Groceries", (IT,), 60),
    ("TESCO STORES {n}|TESCO EXPRESS {n}", "Groceries", (GB,), 45),
    ("SAINSBURYS S/MKTS|SAINSBURY'S {n}", "Groceries", (GB,), 50),
    ("WAITROSE {n}|WAITROSE & PARTNERS", "Groceries", (GB,), 55),
    ("SPROUTS FARMERS MAR #{n}|SPROUTS FARMERS MKT", "Groceries", (US,), 55),
    ("MEIJER #{n}|MEIJER STORE {n}", "Groceries", (US,), 65),
    ("FOOD LION #{n}", "Groceries", (US,), 45),
    # Dining
    ("STARBUCKS STORE {n}|STARBUCKS #{n}|STARBUCKS CARD RELOAD", "Dining", (US, DE, FR, GB), 7),
    ("MCDONALD'S F{n}|MCDONALDS {n}|MC DONALDS {n}", "Dining", (US, DE, FR, NL, ES, IT, GB), 11),
    ("BURGER KING #{n}|BURGER KING {n}", "Dining", (US, DE, FR, ES), 12),
    ("SUBWAY {n}|SUBWAY #{n}", "Dining", (US, DE, GB), 10),
    ("TACO BELL #{n}|TACO BELL {n}", "Dining", (US,), 12),
    ("WENDYS #{n}|WENDY'S {n}", "Dining", (US,), 11),
    ("DUNKIN #{n}|DUNKIN DONUTS {n}", "Dining", (US,), 6),
    ("PANERA BREAD #{n}|PANERA BREAD {n}", "Dining", (US,), 14),
    ("CHICK-FIL-A #{n}|CHICK FIL A {n}", "Dining", (US,), 13),
    ("DOMINO'S {n}|DOMINOS PIZZA {n}", "Dining", (US, DE, NL, GB), 22),
    ("PIZZA HUT {n}|PIZZA HUT #{n}", "Dining", (US, DE, FR), 24),
    ("KFC {n}|KFC #{n}", "Dining", (US, DE, FR, GB), 13),
    ("FIVE GUYS {n}|FIVE GUYS BURGERS", "Dining", (US, DE, FR, GB), 19),
    ("SHAKE SHACK {n}|SHAKE SHACK #{n}", "Dining", (US,), 18),
    ("NANDOS {n}|NANDO'S {n}", "Dining", (GB,), 25),
    ("PRET A MANGER {n}|PRET A MANGER", "Dining", (GB, FR), 9),
    ("COSTA COFFEE {n}|COSTA COFFEE", "Dining", (GB,), 5),
    ("TIM HORTONS #{n}", "Dining", (US,), 7),
    ("PAUL {n}|BOULANGERIE PAUL", "Dining", (FR,), 9),
    # Fuel
    ("EXXONMOBIL {n}|EXXON {n}", "Transport/Fuel", (US,), 48),
    ("MOBIL {n}|MOBIL #{n}", "Transport/Fuel", (US,), 45),
    ("BP#{n}|BP {n}", "Transport/Fuel", (US, DE, GB), 50),
    ("TEXACO {n}", "Transport/Fuel", (US, GB), 47),
    ("SUNOCO {n}", "Transport/Fuel", (US,), 44),
    ("VALERO {n}", "Transport/Fuel", (US,), 46),
    ("ARAL STATION {n}|ARAL TANKSTELLE", "Transport/Fuel", (DE,), 70),
    ("TOTALENERGIES {n}|TOTAL ACCESS {n}", "Transport/Fuel", (FR, DE), 65),
    ("ESSO {n}|ESSO STATION {n}", "Transport/Fuel", (DE, FR, GB), 66),
    ("REPSOL {n}|E.S. REPSOL", "Transport/Fuel", (ES,), 60),
    # Public transit / rideshare / car
    ("MTA*NYCT PAYGO|MTA*METROCARD", "Transport/Public transit", (US,), 3),
    ("SNCF INTERNET|SNCF VOYAGEURS", "Transport/Public transit", (FR,), 45),
    ("NS GROEP BV|NS REIZIGERS", "Transport/Public transit", (NL,), 15),
    ("RENFE VIAJEROS", "Transport/Public transit", (ES,), 30),
    ("TRENITALIA", "Transport/Public transit", (IT,), 35),
    ("BVG APP TICKET|BVG BERLIN", "Transport/Public transit", (DE,), 4),
    ("TFL TRAVEL CH|TFL.GOV.UK/CP", "Transport/Public transit", (GB,), 7),
    ("BOLT.EU/O/{n}|BOLT.EU", "Transport/Rideshare", (DE, FR, NL, ES), 14),
    ("FREENOW*{n}", "Transport/Rideshare", (DE, FR), 18),
    # Travel
    ("DELTA AIR LINES|DELTA AIR {n}", "Travel", (US,), 320),
    ("AMERICAN AIRLINES {n}|AMERICAN AIR{n}", "Travel", (US,), 300),
    ("SOUTHWEST AIRLINES|SOUTHWES {n}", "Travel", (US,), 210),
    ("LUFTHANSA {n}|DEUTSCHE LUFTHANSA AG", "Travel", (DE,), 280),
    ("RYANAIR {n}|RYANAIR DAC", "Travel", (DE, ES, IT), 90),
    ("EASYJET {n}|EASYJET AIRLINE CO", "Travel", (GB, FR, NL), 110),
    ("KLM {n}|KLM ROYAL DUTCH AIRLINES", "Travel", (NL,), 260),
    ("HILTON HOTELS|HILTON GARDEN INN {n}", "Travel", (US, GB), 190),
    ("HYATT HOTELS|HYATT REGENCY {n}", "Travel", (US,), 230),
    ("BOOKING.COM HOTEL|BOOKING.COM {n}", "Travel", (US, DE, FR, NL), 180),
    ("EXPEDIA {n}|EXPEDIA*{n}", "Travel", (US,), 350),
    # Shopping
    ("BEST BUY #{n}|BESTBUYCOM{n}", "Shopping", (US,), 160),
    ("IKEA {n}|IKEA DEUTSCHLAND", "Shopping", (US, DE, FR, NL, ES), 120),
    ("H&M {n}|H & M {n}|HM.COM", "Shopping", (US, DE, FR, NL, GB), 45),
    ("PRIMARK {n}|PRIMARK STORES", "Shopping", (DE, GB, ES, NL), 30),
    ("UNIQLO {n}", "Shopping", (US, FR, GB), 50),
    ("DECATHLON {n}|DECATHLON", "Shopping", (FR, DE, ES, IT), 55),
    ("MEDIA MARKT {n}|MEDIAMARKT {n}", "Shopping", (DE, NL, ES, IT), 140),
    ("NIKE.COM|NIKE FACTORY STORE {n}", "Shopping", (US,), 95),
    ("OLD NAVY {n}|OLDNAVY.COM", "Shopping", (US,), 40),
    ("MACYS {n}|MACY'S #{n}", "Shopping", (US,), 85),
    ("NORDSTROM #{n}", "Shopping", (US,), 110),
    ("TJ MAXX #{n}|TJMAXX {n}", "Shopping", (US,), 45),
    ("EBAY O*{n}|EBAY COMMERCE", "Shopping", (US, DE), 35),
    ("ETSY.COM", "Shopping", (US,), 28),
    ("APPLE STORE R{n}", "Shopping", (US,), 199),
    # Health and personal care
    ("WALGREENS #{n}|WALGREENS STORE {n}", "Health", (US,), 22),
    ("RITE AID STORE {n}|RITE AID #{n}", "Health", (US,), 18),
    ("SEPHORA {n}|SEPHORA.COM", "Personal care", (US, FR), 48),
    ("ULTA #{n}|ULTA BEAUTY {n}", "Personal care", (US,), 35),
    ("DOUGLAS {n}|PARFUMERIE DOUGLAS", "Personal care", (DE,), 40),
    # Subscriptions
    ("DISNEY PLUS|DISNEYPLUS", "Subscriptions", (US, DE, FR), 11),
    ("HBO MAX|MAX.COM", "Subscriptions", (US,), 16),
    ("ADOBE *CREATIVE CLOUD|ADOBE *ACROPRO SUBS", "Subscriptions", (US, DE), 21),
    ("MICROSOFT*365|MSFT *MICROSOFT 365", "Subscriptions", (US, DE, FR), 10),
    ("DROPBOX*{n}|DROPBOX", "Subscriptions", (US,), 12),
    ("GOOGLE *YOUTUBE PREMIUM|GOOGLE *YOUTUBEPREMIUM", "Subscriptions", (US, DE), 14),
    ("AUDIBLE*{n}|AUDIBLE US", "Subscriptions", (US,), 15),
    ("PARAMOUNT+", "Subscriptions", (US,), 12),
    ("DEEZER", "Subscriptions", (FR,), 11),
    ("DAZN LIMITED", "Subscriptions", (DE, IT, ES), 30),
    ("OPENAI *CHATGPT SUBSCR", "Subscriptions", (US, DE), 20),
    # Utilities and phone
    ("CON ED OF NY|CONSOLIDATED EDISON", "Utilities", (US,), 110),
    ("DUKE ENERGY|DUKE-ENERGY PAYMENT", "Utilities", (US,), 120),
    ("AT&T*BILL PAYMENT|ATT* BILL PAYMENT", "Utilities", (US,), 85),
    ("T-MOBILE*AUTO PAY|TMOBILE*POSTPAID", "Utilities", (US,), 70),
    ("EDF CLIENTS PARTICULIERS|EDF", "Utilities", (FR,), 95),
    ("ENGIE", "Utilities", (FR,), 80),
    ("E.ON ENERGIE DEUTSCHLAND|E.ON", "Utilities", (DE,), 90),
    ("VATTENFALL EUROPE SALES", "Utilities", (DE, NL), 85),
    ("TELEKOM DEUTSCHLAND GMBH", "Utilities", (DE,), 45),
    ("ORANGE SA", "Utilities", (FR,), 35),
    ("IBERDROLA CLIENTES", "Utilities", (ES,), 70),
    # Insurance
    ("STATE FARM INSURANCE|STATE FARM RO {n}", "Insurance", (US,), 140),
    ("ALLSTATE *PAYMENT|ALLSTATE INS CO", "Insurance", (US,), 130),
    ("PROGRESSIVE *INSURANCE", "Insurance", (US,), 115),
    ("ALLIANZ VERSICHERUNGS-AG|ALLIANZ", "Insurance", (DE, FR, IT), 60),
    ("AXA FRANCE IARD|AXA", "Insurance", (FR, DE), 55),
    ("HUK-COBURG", "Insurance", (DE,), 50),
    # Entertainment
    ("REGAL CINEMAS {n}|REGAL MOVIE {n}", "Entertainment", (US,), 28),
    ("CINEMARK {n}", "Entertainment", (US,), 25),
    ("TICKETMASTER|TICKETMASTER {n}", "Entertainment", (US, GB, DE), 120),
    ("PLAYSTATION NETWORK|SONY PLAYSTATION", "Entertainment", (US, DE), 60),
    ("NINTENDO CD{n}|NINTENDO OF AMERICA", "Entertainment", (US,), 40),
    ("PATHE {n}|PATHE CINEMAS", "Entertainment", (FR, NL), 24),
    # Pets
    ("PETCO {n}|PETCO ANIMAL SUPPLIES", "Pets", (US,), 45),
    ("PETSMART # {n}|PETSMART INC {n}", "Pets", (US,), 50),
    ("FRESSNAPF {n}|FRESSNAPF", "Pets", (DE,), 35),
]

PROCESSORS_US = ["", "", "", "", "SQ *", "TST* ", "PAYPAL *", "POS ", "CHECKCARD ", "DEBIT CARD PURCHASE ", "CKO*"]
PROCESSORS_EU = ["", "", "", "", "SUMUP *", "PAYPAL *", "ZETTLE_*", "POS "]
TOWNS = {
    US: ["NEW YORK NY", "AUSTIN TX", "SEATTLE WA", "CHICAGO IL", "DENVER CO", "BOSTON MA", "MIAMI FL", "PORTLAND OR"],
    DE: ["BERLIN", "MUENCHEN", "HAMBURG DE", "KOELN", "FRANKFURT"],
    FR: ["PARIS", "LYON FR", "MARSEILLE", "BORDEAUX"],
    NL: ["AMSTERDAM", "UTRECHT NL", "ROTTERDAM"],
    ES: ["MADRID", "BARCELONA ES", "VALENCIA"],
    IT: ["MILANO", "ROMA IT", "TORINO"],
    GB: ["LONDON GB", "MANCHESTER", "LONDON"],
}
BOOKING_EU = {
    DE: ["KARTENZAHLUNG ", "", "GIROCARD "],
    FR: ["ACHAT CB ", "CB ", "PAIEMENT PAR CARTE "],
    NL: ["BEA ", "BETAALAUTOMAAT "],
    ES: ["COMPRA TARJETA ", "COMPRA "],
    IT: ["PAGAMENTO POS ", ""],
    GB: ["CARD PAYMENT TO ", "CONTACTLESS "],
}

# What is no brand but a careful bank customer knows: salary, rent, fees, cash, taxes.
OTHER_US = [
    ("DIRECT DEP ACME WIDGETS PAYROLL", "Income/Salary", 3200),
    ("ACME WIDGETS INC DES:PAYROLL ID:{n}", "Income/Salary", 3200),
    ("ONLINE PAYMENT RENT - BRIDGEVIEW APTS", "Housing/Rent", -1850),
    ("ATM WITHDRAWAL {n} MAIN ST", "Cash", -100),
    ("MONTHLY MAINTENANCE FEE", "Fees & charges", -12),
    ("IRS USATAXPYMT {n}", "Taxes", -450),
]
OTHER_DE = [
    ("LOHN / GEHALT|MUSTERFIRMA GMBH", "Income/Salary", 3400),
    ("MIETE|HAUSVERWALTUNG SCHMIDT", "Housing/Rent", -1100),
    ("BARGELDAUSZAHLUNG|GA NR{n} BLZ", "Cash", -200),
    ("ENTGELTABSCHLUSS|KONTOFUEHRUNG", "Fees & charges", -7),
    ("FINANZAMT BERLIN|EINKOMMENSTEUER", "Taxes", -300),
]


@dataclass
class Row:
    file: str
    date: dt.date
    payee: str
    memo: str
    amount: Decimal
    category: str


def _spell(rng: random.Random, pattern: str) -> str:
    name = rng.choice(pattern.split("|"))
    return name.replace("{n}", str(rng.randrange(10, 99999)))


def _messy(rng: random.Random, name: str, market: str, dining: bool = False) -> str:
    """A bank descriptor of ``name`` as a card network prints it in ``market``."""
    town = rng.choice(TOWNS[market]) if rng.random() < 0.55 else ""
    if market == US:
        prefix = rng.choice(PROCESSORS_US if dining else [p for p in PROCESSORS_US if p != "TST* "])
    else:
        prefix = rng.choice(BOOKING_EU[market]) + (rng.choice(PROCESSORS_EU) if rng.random() < 0.3 else "")
    text = f"{prefix}{name}"
    if rng.random() < 0.2:
        text += f" {rng.randrange(1, 13):02d}/{rng.randrange(1, 29):02d}"
    if town:
        text += f" {town}"
    if rng.random() < 0.5:
        text = text.upper()
    limit = rng.choice([22, 25, 40, 40, 40])
    return text[:limit].rstrip()


def _amount(rng: random.Random, typical: float) -> Decimal:
    value = typical * rng.lognormvariate(0, 0.35)
    return Decimal(f"{value:.2f}")


def generate(seed: int = 20261203, months: int = 6) -> list[Row]:
    """The rows of all files, with their categories."""
    rng = random.Random(seed)
    rows: list[Row] = []
    start = dt.date(2026, 1, 1)
    files = {
        "us_card.csv": (US, [b for b in BRANDS if US in b[2]], 260),
        "us_checking.csv": (US, [b for b in BRANDS if US in b[2]], 60),
        "de_giro.csv": (DE, [b for b in BRANDS if DE in b[2]], 200),
        "eu_card.csv": (None, [b for b in BRANDS if set(b[2]) & {FR, NL, ES, IT, GB}], 220),
    }
    for file, (market, brands, n) in files.items():
        for _ in range(n):
            pattern, category, markets, typical = rng.choice(brands)
            where = market or rng.choice([m for m in markets if m in (FR, NL, ES, IT, GB)])
            name = _spell(rng, pattern)
            day = start + dt.timedelta(days=rng.randrange(months * 30))
            if file == "de_giro.csv":
                # The giro shows the merchant's legal name as payee, the card booking as memo.
                payee = name
                booked = f"{day:%d.%m.%Y}T{rng.randrange(24):02d}:{rng.randrange(60):02d}"
                memo = f"{_messy(rng, name, DE, category == 'Dining')} // {booked}"
            else:
                payee, memo = _messy(rng, name, where, category == "Dining"), ""
            rows.append(Row(file, day, payee, memo, -_amount(rng, typical), category))
        other = OTHER_DE if file == "de_giro.csv" else OTHER_US if file == "us_checking.csv" else []
        for month in range(months):
            for text, category, typical in other:
                day = start + dt.timedelta(days=30 * month + rng.randrange(1, 28))
                payee, _, memo = text.partition("|")
                payee = payee.replace("{n}", str(rng.randrange(1000, 9999)))
                memo = memo.replace("{n}", str(rng.randrange(1000, 9999)))
                amount = Decimal(f"{typical * rng.uniform(0.95, 1.05):.2f}")
                rows.append(Row(file, day, payee, memo, amount, category))
    # One row per (file, date, payee, amount): the benchmark finds each by that key.
    seen: set[tuple[str, dt.date, str, Decimal]] = set()
    unique = []
    for r in rows:
        key = (r.file, r.date, r.payee, r.amount)
        if key not in seen:
            seen.add(key)
            unique.append(r)
    return sorted(unique, key=lambda r: (r.file, r.date, r.payee))


def write(out: Path, rows: list[Row]) -> dict[str, str]:
    """Write the exports and ``truth.csv`` to ``out``; returns file -> currency."""
    out.mkdir(parents=True, exist_ok=True)
    currency = {}
    for file in sorted({r.file for r in rows}):
        mine = [r for r in rows if r.file == file]
        path = out / file
        if file == "de_giro.csv":
            currency[file] = "EUR"
            with path.open("w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh, delimiter=";")
                w.writerow(["Buchungstag", "Auftraggeber/Empfänger", "Verwendungszweck", "Betrag (EUR)"])
                for r in mine:
                    w.writerow([f"{r.date:%d.%m.%Y}", r.payee, r.memo, f"{r.amount}".replace(".", ",")])
        else:
            currency[file] = "EUR" if file.startswith("eu") else "USD"
            with path.open("w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(["Date", "Description", "Amount"])
                for r in mine:
                    w.writerow([r.date.isoformat(), r.payee, f"{r.amount}"])
    with (out / "truth.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "date", "payee", "amount", "category"])
        for r in rows:
            w.writerow([r.file, r.date.isoformat(), r.payee, f"{r.amount}", r.category])
    return currency


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "messy_merchants")
    data = generate()
    write(target, data)
    print(f"{len(data)} rows in {len({r.file for r in data})} files written to {target}")
