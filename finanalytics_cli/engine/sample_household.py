"""A realistic household's bank history with ground truth (deterministic).

Three years (2023-11-01 .. 2026-10-31) of one household across four accounts, each
exported the way a different kind of bank does it:

- ``checking_us.csv``: a US checking account, comma CSV, MM/DD/YYYY, newest first,
  signed amounts and a running balance, the currency named in the header;
- ``creditcard.ofx``: a credit card as OFX 2.x (XML);
- ``savings.ofx``: a savings account as OFX 1.x (SGML, unclosed elements, CHARSET:1252);
- ``girokonto_eu.csv``: a European account, Latin-1, semicolons, decimal commas, a
  preamble, separate Soll/Haben (debit/credit) columns and a closing-balance line.

The truth (``truth/``) gives every transaction's category, the injected anomalies,
the recurring series and the transfers between the household's own accounts.
``sample_data/generate.py`` writes the committed copy; ``finanalytics demo`` writes the
same bytes into a temporary directory. Same seed, same bytes.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

SEED = 20231101
START = dt.date(2023, 11, 1)
END = dt.date(2026, 10, 31)
CENT = Decimal("0.01")

ACCOUNTS = {
    "checking": {"name": "Checking", "file": "checking_us.csv", "currency": "USD", "opening": Decimal("4200.00")},
    "card": {"name": "Credit card", "file": "creditcard.ofx", "currency": "USD", "opening": Decimal("0.00")},
    "savings": {"name": "Savings", "file": "savings.ofx", "currency": "USD", "opening": Decimal("12500.00")},
    "eu": {"name": "Girokonto", "file": "girokonto_eu.csv", "currency": "EUR", "opening": Decimal("2300.00")},
}


@dataclass
class Tx:
    account: str
    date: dt.date
    amount: Decimal
    payee: str
    category: str
    merchant: str  # the clean merchant behind the noisy payee (truth)
    memo: str = ""
    transfer_group: str = ""
    anomaly: str = ""
    series: str = ""
    key: str = ""


@dataclass
class Household:
    txs: list[Tx] = field(default_factory=list)
    series: dict[str, dict] = field(default_factory=dict)
    anomalies: list[dict] = field(default_factory=list)

    def add(
        self, account: str, date: dt.date, amount: float | Decimal, payee: str, category: str, merchant: str, **kw: str
    ) -> Tx:
        tx = Tx(account, date, Decimal(str(amount)).quantize(CENT), payee, category, merchant, **kw)
        self.txs.append(tx)
        return tx


def _days(start: dt.date, end: dt.date):
    d = start
    while d <= end:
        yield d
        d += dt.timedelta(days=1)


def _month_starts():
    d = START.replace(day=1)
    while d <= END:
        yield d
        d = (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _on_or_after_weekday(d: dt.date) -> dt.date:
    while d.weekday() >= 5:
        d += dt.timedelta(days=1)
    return d


# Merchants with the spellings banks print for them ({n}: store or terminal numbers).
SPELLINGS = {
    "Whole Foods": ["WHOLEFDS OAK #{n}", "WHOLE FOODS MKT #{n} OAKLAND CA", "WFM #{n} OAKLAND", "WHOLEFDS MKT {n}"],
    "Trader Joe's": ["TRADER JOE S #{n}", "TRADER JOES #{n} OAKLAND CA", "CHECKCARD {n} TRADER JOE'S"],
    "Safeway": ["SAFEWAY #{n}", "SAFEWAY STORE {n} OAKLAND CA", "SAFEWAY #{n} FUEL"],
    "Costco": ["COSTCO WHSE #{n}", "COSTCO WHOLESALE #{n} RICHMOND CA"],
    "Blue Bottle": ["SQ *BLUE BOTTLE {n} OAKLAND CA", "SQ *BLUE BOTTLE COFFEE", "BLUE BOTTLE COFFEE #{n}"],
    "Chipotle": ["CHIPOTLE {n}", "CHIPOTLE ONLINE {n}", "CHIPOTLE MEX GR #{n}"],
    "Pizzeria Delfina": ["TST* PIZZERIA DELFINA", "TST* PIZZERIA DELFINA - {n}"],
    "Burma Superstar": ["SQ *BURMA SUPERSTAR", "BURMA SUPERSTAR OAKLAND CA"],
    "DoorDash": ["DOORDASH*{w}", "DD *DOORDASH {w}", "DOORDASH*DASHPASS"],
    "Shell": ["POS {n} SHELL {m}", "SHELL OIL {n} OAKLAND CA", "SHELL SERVICE STATION {n}"],
    "Chevron": ["CHEVRON {n}", "CHEVRON {n} BERKELEY CA"],
    "Clipper": ["CLIPPER SERVICE {n}", "CLIPPER CARD ONLINE"],
    "Uber": ["UBER *TRIP {w}", "UBER   *TRIP HELP.UBER.COM", "UBER *TRIP"],
    "Lyft": ["LYFT *RIDE {w}", "LYFT   *1 RIDE"],
    "Amazon": ["AMZN Mktp US*{w}", "AMAZON.COM*{w}", "Amazon.com*{w} AMZN.COM/BILL WA", "AMZN MKTP US {w}"],
    "Target": ["TARGET {n}", "TARGET T-{n} OAKLAND CA", "TARGET.COM *{w}"],
    "REI": ["REI #{n} BERKELEY", "REI.COM {n}"],
    "CVS": ["CVS/PHARMACY #{n}", "CVS PHARMACY {n} OAKLAND CA"],
    "Kaiser": ["KAISER PERMANENTE {n}", "KP OAKLAND MED CTR"],
    "Netflix": ["NETFLIX.COM", "NETFLIX.COM 866-579-7172 CA"],
    "Spotify": ["Spotify USA", "SPOTIFY P{w}"],
    "Hulu": ["HULU {n}", "HLU*HULU {w}"],
    "iCloud": ["APPLE.COM/BILL", "APL*ITUNES.COM/BILL"],
    "NYTimes": ["NYTIMES*NYTDIGITAL", "NYT*DIGITAL SUBSCRIPTION"],
    "Verizon": ["VZWRLSS*APOCC VISB", "VERIZON WIRELESS {n}"],
    "Comcast": ["COMCAST CABLE COMM", "COMCAST XFINITY {n}"],
    "PG&E": ["PGANDE WEB ONLINE", "PG&E WEBRECURRING"],
    "EBMUD": ["EBMUD WATER BILL", "EAST BAY MUD {n}"],
    "Geico": ["GEICO *AUTO", "GEICO AUTO {n}"],
    "Lemonade": ["LEMONADE INS", "LEMONADE INSURANCE CO"],
    "Bright Horizons": ["BRIGHT HORIZONS {n}", "BRIGHT HORIZONS FAMILY SOL"],
    "Chewy": ["CHEWY.COM", "CHEWY INC {n}"],
    "Banfield": ["BANFIELD PET HOSP {n}", "BANFIELD #{n}"],
    "Great Clips": ["GREAT CLIPS #{n}", "GREATCLIPS {n}"],
    "AMC": ["AMC {n} ONLINE", "AMC BAY STREET 16"],
    "Steam": ["STEAMGAMES.COM {n}", "STEAM PURCHASE"],
    "Coursera": ["COURSERA.ORG", "COURSERA *{w}"],
    "Red Cross": ["AMERICAN RED CROSS", "REDCROSS.ORG DONATION"],
    "United": ["UNITED {n}{m}", "UNITED AIRLINES {n}"],
    "Marriott": ["MARRIOTT {n} SEATTLE WA", "MARRIOTT HOTELS {n}"],
    "Airbnb": ["AIRBNB * HM{w}", "AIRBNB HM{w}"],
    "Hertz": ["HERTZ RENT-A-CAR {n}", "HERTZ #{n}"],
    "Amazon Prime": ["Amazon Prime*{w}", "AMAZON PRIME MEMBERSHIP"],
    "Costco Membership": ["COSTCO *ANNUAL RENEWAL", "COSTCO MEMBERSHIP {n}"],
    "CA DMV": ["CA DMV FEE {n}", "DMV CA RENEWAL"],
}


class _Namer:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def __call__(self, merchant: str) -> str:
        tpl = self.rng.choice(SPELLINGS[merchant])
        return tpl.format(
            n=self.rng.randint(100, 9999),
            m=f"{self.rng.randint(0, 99999):05d}",
            w="".join(self.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(6)),
        )


def build_household(seed: int = SEED) -> Household:
    rng = random.Random(seed)
    name = _Namer(rng)
    h = Household()

    def series(
        sid: str,
        merchant: str,
        cadence: str,
        amount: Decimal,
        account: str,
        start: dt.date,
        end: dt.date | None = None,
        note: str = "",
    ) -> None:
        h.series[sid] = {
            "series": sid,
            "merchant": merchant,
            "cadence": cadence,
            "amount": str(amount),
            "account": ACCOUNTS[account]["name"],
            "start": start.isoformat(),
            "end": end.isoformat() if end else "",
            "note": note,
        }

    # -- income --------------------------------------------------------------------
    pay = Decimal("3350.00")
    first_friday = START + dt.timedelta(days=(4 - START.weekday()) % 7)
    d = first_friday
    series("S-salary", "Acme Corp", "biweekly", pay, "checking", first_friday, note="raises 2025-01, 2026-01")
    while d <= END:
        amount = pay * (Decimal("1.06") if d.year == 2025 else Decimal("1.1024") if d.year == 2026 else 1)
        h.add(
            "checking",
            d,
            amount.quantize(CENT),
            "ACME CORP PAYROLL PPD ID: 9876543210",
            "Income/Salary",
            "Acme Corp",
            series="S-salary",
        )
        d += dt.timedelta(days=14)
    for year in (2024, 2025, 2026):
        h.add(
            "checking",
            _on_or_after_weekday(dt.date(year, 3, 15)),
            {2024: 4200, 2025: 4600, 2026: 5100}[year],
            "ACME CORP BONUS PPD ID: 9876543210",
            "Income/Bonus",
            "Acme Corp",
            series="S-bonus",
        )
    series(
        "S-bonus",
        "Acme Corp",
        "yearly",
        Decimal("4600.00"),
        "checking",
        dt.date(2024, 3, 15),
        note="annual bonus, grows each year",
    )
    # Sam's freelance fees arrive in EUR on the European account.
    series("S-honorar", "Mueller & Soehne", "monthly", Decimal("1250.00"), "eu", START)
    for m in _month_starts():
        day = _on_or_after_weekday(m.replace(day=3))
        h.add(
            "eu",
            day,
            round(rng.uniform(1180, 1320), 2),
            "Müller & Söhne GmbH",
            "Income/Other income",
            "Mueller & Soehne",
            memo=f"Honorar {m.strftime('%m/%Y')}",
            series="S-honorar",
        )

    # -- housing, bills, subscriptions (checking and card) ------------------------
    series(
        "S-rent",
        "Oakwood Property Mgmt",
        "monthly",
        Decimal("2450.00"),
        "checking",
        START,
        note="2550.00 from 2024-11, 2650.00 from 2025-11",
    )
    for m in _month_starts():
        rent = (
            Decimal("2450.00")
            if m < dt.date(2024, 11, 1)
            else Decimal("2550.00")
            if m < dt.date(2025, 11, 1)
            else Decimal("2650.00")
        )
        h.add(
            "checking",
            m,
            -rent,
            f"ZELLE TO OAKWOOD PROPERTY MGMT {m.strftime('%m%y')}",
            "Housing/Rent",
            "Oakwood Property Mgmt",
            series="S-rent",
        )
        winter = m.month in (11, 12, 1, 2, 3)
        pge = rng.uniform(165, 240) if winter else rng.uniform(70, 115)
        h.add("checking", m.replace(day=18), -round(pge, 2), name("PG&E"), "Utilities", "PG&E", series="S-pge")
        if m.month % 2 == 0:
            h.add(
                "checking",
                m.replace(day=22),
                -round(rng.uniform(88, 135) * (1.3 if m.month in (6, 8) else 1), 2),
                name("EBMUD"),
                "Utilities",
                "EBMUD",
                series="S-water",
            )
        h.add("card", m.replace(day=9), -79.99, name("Comcast"), "Utilities", "Comcast", series="S-internet")
        h.add(
            "card",
            m.replace(day=14),
            -round(rng.uniform(118, 126), 2),
            name("Verizon"),
            "Utilities",
            "Verizon",
            series="S-phone",
        )
        h.add("checking", m.replace(day=5), -142.00, name("Geico"), "Insurance", "Geico", series="S-geico")
        h.add(
            "checking",
            m.replace(day=2),
            -1480.00,
            name("Bright Horizons"),
            "Kids",
            "Bright Horizons",
            series="S-daycare",
        )
        netflix = Decimal("15.49") if m < dt.date(2025, 2, 1) else Decimal("17.99")
        tx = h.add("card", m.replace(day=12), -netflix, name("Netflix"), "Subscriptions", "Netflix", series="S-netflix")
        if m == dt.date(2025, 2, 1):
            _mark(h, tx, "price_increase", "Netflix went from 15.49 to 17.99")
        h.add("card", m.replace(day=6), -2.99, name("iCloud"), "Subscriptions", "iCloud", series="S-icloud")
        if m >= dt.date(2024, 5, 1):
            h.add("card", m.replace(day=20), -11.99, name("Spotify"), "Subscriptions", "Spotify", series="S-spotify")
        if m < dt.date(2025, 7, 1):
            h.add("card", m.replace(day=25), -17.99, name("Hulu"), "Subscriptions", "Hulu", series="S-hulu")
        tx = h.add(
            "card",
            m.replace(day=27),
            -4.25 if m < dt.date(2025, 1, 1) else -6.25,
            name("NYTimes"),
            "Subscriptions",
            "NYTimes",
            series="S-nyt",
        )
        if m == dt.date(2025, 1, 1):
            _mark(h, tx, "price_increase", "NYTimes went from 4.25 to 6.25")
        h.add(
            "card",
            m.replace(day=3) + dt.timedelta(days=rng.randint(0, 10)),
            -round(rng.uniform(40, 90), 2),
            name("Clipper"),
            "Transport/Public transit",
            "Clipper",
        )
    series("S-pge", "PG&E", "monthly", Decimal("140.00"), "checking", START, note="winter high, summer low")
    series("S-water", "EBMUD", "bimonthly", Decimal("110.00"), "checking", dt.date(2023, 12, 22))
    series("S-internet", "Comcast", "monthly", Decimal("79.99"), "card", START)
    series("S-phone", "Verizon", "monthly", Decimal("122.00"), "card", START)
    series("S-geico", "Geico", "monthly", Decimal("142.00"), "checking", START)
    series("S-daycare", "Bright Horizons", "monthly", Decimal("1480.00"), "checking", START)
    series(
        "S-netflix", "Netflix", "monthly", Decimal("15.49"), "card", START, note="price increase to 17.99 in 2025-02"
    )
    series("S-icloud", "iCloud", "monthly", Decimal("2.99"), "card", START)
    series("S-spotify", "Spotify", "monthly", Decimal("11.99"), "card", dt.date(2024, 5, 20), note="started")
    series("S-hulu", "Hulu", "monthly", Decimal("17.99"), "card", START, dt.date(2025, 6, 25), note="cancelled")
    series("S-nyt", "NYTimes", "monthly", Decimal("4.25"), "card", START, note="price increase to 6.25 in 2025-01")
    # Annual charges.
    for year in (2024, 2025, 2026):
        h.add(
            "card",
            dt.date(year, 2, 11),
            -139.00,
            name("Amazon Prime"),
            "Subscriptions",
            "Amazon Prime",
            series="S-prime",
        )
        h.add(
            "card",
            dt.date(year, 6, 2),
            -65.00,
            name("Costco Membership"),
            "Shopping",
            "Costco Membership",
            series="S-costco-member",
        )
        h.add(
            "checking",
            dt.date(year, 8, 20),
            -round(rng.uniform(318, 335), 2),
            name("CA DMV"),
            "Transport/Car",
            "CA DMV",
            series="S-dmv",
        )
    for year in (2024, 2025):
        h.add("card", dt.date(year, 9, 1), -168.00, name("Lemonade"), "Insurance", "Lemonade", series="S-renters")
    series("S-prime", "Amazon Prime", "yearly", Decimal("139.00"), "card", dt.date(2024, 2, 11))
    series("S-costco-member", "Costco Membership", "yearly", Decimal("65.00"), "card", dt.date(2024, 6, 2))
    series("S-dmv", "CA DMV", "yearly", Decimal("325.00"), "checking", dt.date(2024, 8, 20))
    series(
        "S-renters",
        "Lemonade",
        "yearly",
        Decimal("168.00"),
        "card",
        dt.date(2024, 9, 1),
        dt.date(2025, 9, 1),
        note="cancelled after 2025",
    )
    # Taxes in April.
    for year in (2024, 2025, 2026):
        h.add(
            "checking", dt.date(year, 4, 14), -round(rng.uniform(900, 2400), 2), "IRS USATAXPYMT 2704", "Taxes", "IRS"
        )
        h.add(
            "checking",
            dt.date(year, 4, 14),
            -round(rng.uniform(300, 800), 2),
            "FRANCHISE TAX BD PAYMENTS",
            "Taxes",
            "Franchise Tax Board",
        )

    # -- everyday spending on the card --------------------------------------------
    trips = _trips(rng)
    for day in _days(START, END):
        away = trips.get(day)
        wd = day.weekday()
        if away is None:
            if wd == 5 or (wd in (1, 3) and rng.random() < 0.5):
                store = rng.choices(["Whole Foods", "Trader Joe's", "Safeway"], [3, 4, 2])[0]
                h.add("card", day, -round(rng.uniform(45, 185), 2), name(store), "Groceries", store)
            if wd == 6 and day.day <= 7:
                h.add("card", day, -round(rng.uniform(180, 420), 2), name("Costco"), "Groceries", "Costco")
            if wd < 5 and rng.random() < 0.75:
                h.add("card", day, -round(rng.uniform(4.5, 9.5), 2), name("Blue Bottle"), "Dining", "Blue Bottle")
            if rng.random() < 0.3:
                place = rng.choice(["Chipotle", "Pizzeria Delfina", "Burma Superstar", "DoorDash"])
                h.add("card", day, -round(rng.uniform(14, 95), 2), name(place), "Dining", place)
            if rng.random() < 0.11:
                station = rng.choice(["Shell", "Chevron"])
                h.add("card", day, -round(rng.uniform(38, 72), 2), name(station), "Transport/Fuel", station)
            if rng.random() < 0.07:
                ride = rng.choice(["Uber", "Lyft"])
                h.add("card", day, -round(rng.uniform(11, 38), 2), name(ride), "Transport/Rideshare", ride)
        else:
            city, currency = away
            if currency == "USD":
                if rng.random() < 0.9:
                    h.add(
                        "card",
                        day,
                        -round(rng.uniform(25, 120), 2),
                        f"SQ *{rng.choice(['PIKE PLACE CHOWDER', 'SALUMI', 'ORIGINAL PANCAKE HSE'])} {city}",
                        "Dining",
                        "Travel dining",
                    )
                if rng.random() < 0.4:
                    h.add("card", day, -round(rng.uniform(15, 45), 2), name("Uber"), "Transport/Rideshare", "Uber")
            else:
                # In Europe, Sam pays from the European account.
                payee, category, merchant = rng.choice(
                    [
                        ("REWE Markt GmbH", "Groceries", "REWE"),
                        ("EDEKA Center", "Groceries", "EDEKA"),
                        ("Café Einstein", "Dining", "Cafe Einstein"),
                        ("Bäckerei Kamps", "Dining", "Kamps"),
                        ("Vapiano Berlin", "Dining", "Vapiano"),
                    ]
                )
                h.add(
                    "eu", day, -round(rng.uniform(18, 85), 2), payee, category, merchant, memo="Kartenzahlung girocard"
                )
                if rng.random() < 0.5:
                    h.add(
                        "eu",
                        day,
                        -round(rng.uniform(3.2, 42), 2),
                        "DB Vertrieb GmbH",
                        "Travel",
                        "Deutsche Bahn",
                        memo="Fahrkarte",
                    )
        # Shopping: more around November/December.
        p_shop = 0.16 + (0.22 if (day.month == 11 and day.day >= 20) or day.month == 12 and day.day <= 20 else 0)
        if rng.random() < p_shop:
            shop = rng.choices(["Amazon", "Target", "REI"], [6, 3, 1])[0]
            amount = round(rng.uniform(9, 160) * (1.6 if day.month in (11, 12) else 1), 2)
            h.add("card", day, -amount, name(shop), "Shopping", shop)
            if shop == "Amazon" and rng.random() < 0.06:
                h.add(
                    "card",
                    day + dt.timedelta(days=rng.randint(5, 20)),
                    round(amount, 2),
                    "AMZN Mktp US REFUND",
                    "Income/Refunds",
                    "Amazon",
                )
        if rng.random() < 0.025:
            h.add("card", day, -round(rng.uniform(8, 60), 2), name("CVS"), "Health", "CVS")
        if rng.random() < 0.012:
            h.add("checking", day, -round(rng.choice([25, 30, 45, 60]), 2), name("Kaiser"), "Health", "Kaiser")
        if rng.random() < 0.02:
            h.add("card", day, -round(rng.uniform(35, 95), 2), name("Chewy"), "Pets", "Chewy")
        if rng.random() < 0.006:
            h.add("card", day, -round(rng.uniform(70, 260), 2), name("Banfield"), "Pets", "Banfield")
        if rng.random() < 0.018:
            h.add("card", day, -round(rng.uniform(22, 38), 2), name("Great Clips"), "Personal care", "Great Clips")
        if rng.random() < 0.02:
            place = rng.choice(["AMC", "Steam"])
            h.add("card", day, -round(rng.uniform(12, 60), 2), name(place), "Entertainment", place)
        if rng.random() < 0.004:
            h.add("card", day, -49.00, name("Coursera"), "Education", "Coursera")
        if day.month == 12 and day.day == 10 or rng.random() < 0.003:
            h.add(
                "card", day, -round(rng.choice([25, 50, 100]), 2), name("Red Cross"), "Gifts & donations", "Red Cross"
            )
        if rng.random() < 0.03 and away is None:
            amount = rng.choice([60, 80, 100, 120, 200])
            h.add(
                "checking",
                day,
                -amount,
                f"ATM WITHDRAWAL {rng.randint(1000, 9999)} TELEGRAPH AVE OAKLAND CA",
                "Cash",
                "ATM",
            )
    _travel_bookings(h, rng, name, trips)

    # -- the European account's own life ----------------------------------------
    for m in _month_starts():
        h.add(
            "eu",
            m.replace(day=1) + dt.timedelta(days=rng.randint(0, 2)),
            -4.90,
            "Sparkasse",
            "Fees & charges",
            "Sparkasse",
            memo="Kontoführungsentgelt",
            series="S-kontogebuehr",
        )
        h.add(
            "eu",
            m.replace(day=15),
            -19.99,
            "Vodafone GmbH",
            "Utilities",
            "Vodafone",
            memo=f"Rechnung {m.strftime('%m/%Y')}",
            series="S-vodafone",
        )
        if m.month in (3, 9):
            h.add(
                "eu",
                m.replace(day=11),
                -round(rng.uniform(140, 260), 2),
                "Deutsche Rentenversicherung",
                "Taxes",
                "Rentenversicherung",
                memo="Beitrag",
            )
    # Sam also shops online in euros, a few times a week.
    for day in _days(START, END):
        if rng.random() < 0.3:
            payee, category, merchant = rng.choice(
                [
                    ("Zalando SE", "Shopping", "Zalando"),
                    ("Amazon EU S.a.r.L.", "Shopping", "Amazon EU"),
                    ("Thalia Bücher GmbH", "Education", "Thalia"),
                    ("Flink SE", "Groceries", "Flink"),
                    ("Lieferando.de", "Dining", "Lieferando"),
                ]
            )
            h.add(
                "eu",
                day,
                -round(rng.uniform(9, 75), 2),
                payee,
                category,
                merchant,
                memo=f"Bestellung {rng.randint(100000, 999999)}",
            )
    series("S-kontogebuehr", "Sparkasse", "monthly", Decimal("4.90"), "eu", START)
    series("S-vodafone", "Vodafone", "monthly", Decimal("19.99"), "eu", START)

    # -- injected anomalies --------------------------------------------------------
    _inject_anomalies(h, rng, name)

    # -- fees, savings interest, transfers, card payments --------------------------
    _transfers_and_payments(h, rng)
    return h


def _trips(rng: random.Random) -> dict[dt.date, tuple[str, str]]:
    """Travel bursts: a summer trip to Seattle, a winter visit to family in Germany."""
    trips: dict[dt.date, tuple[str, str]] = {}
    for year in (2024, 2025, 2026):
        start = dt.date(year, 7, rng.randint(5, 15))
        for i in range(rng.randint(5, 8)):
            trips[start + dt.timedelta(days=i)] = ("SEATTLE WA", "USD")
    for year in (2023, 2024, 2025):
        start = dt.date(year, 12, rng.randint(20, 23))
        for i in range(rng.randint(8, 11)):
            trips[start + dt.timedelta(days=i)] = ("BERLIN", "EUR")
    return trips


def _travel_bookings(h: Household, rng: random.Random, name: _Namer, trips: dict) -> None:
    starts = sorted(d for d in trips if d - dt.timedelta(days=1) not in trips)
    for start in starts:
        city, currency = trips[start]
        booked = start - dt.timedelta(days=rng.randint(30, 60))
        fare = rng.uniform(380, 620) if currency == "USD" else rng.uniform(1900, 2600)
        h.add("card", booked, -round(fare, 2), name("United"), "Travel", "United")
        if currency == "USD":
            h.add(
                "card",
                start + dt.timedelta(days=1),
                -round(rng.uniform(700, 1300), 2),
                name(rng.choice(["Marriott", "Airbnb"])),
                "Travel",
                "Lodging",
            )
            h.add("card", start, -round(rng.uniform(240, 420), 2), name("Hertz"), "Travel", "Hertz")


def _mark(h: Household, tx: Tx, kind: str, why: str) -> None:
    tx.anomaly = kind
    h.anomalies.append(
        {
            "kind": kind,
            "account": ACCOUNTS[tx.account]["name"],
            "date": tx.date.isoformat(),
            "amount": str(tx.amount),
            "payee": tx.payee,
            "why": why,
        }
    )


def _inject_anomalies(h: Household, rng: random.Random, name: _Namer) -> None:
    def mark(tx: Tx, kind: str, why: str) -> None:
        _mark(h, tx, kind, why)

    # Duplicate charges: the same charge posted twice.
    for day, merchant, amount in (
        (dt.date(2024, 6, 8), "Whole Foods", -127.43),
        (dt.date(2025, 10, 17), "Chipotle", -23.85),
        (dt.date(2026, 5, 2), "Target", -84.20),
    ):
        payee = name(merchant)
        cat = {"Whole Foods": "Groceries", "Chipotle": "Dining", "Target": "Shopping"}[merchant]
        h.add("card", day, amount, payee, cat, merchant)
        mark(
            h.add("card", day + dt.timedelta(days=rng.choice([0, 1])), amount, payee, cat, merchant),
            "duplicate_charge",
            f"{merchant} charged twice for the same amount",
        )
    # A charge far above the merchant's usual amount.
    mark(
        h.add("card", dt.date(2025, 3, 9), -379.99, name("Comcast"), "Utilities", "Comcast"),
        "amount_spike",
        "Comcast usually charges 79.99",
    )
    mark(
        h.add("card", dt.date(2026, 8, 23), -1240.37, name("Whole Foods"), "Groceries", "Whole Foods"),
        "amount_spike",
        "ten times the usual grocery shop",
    )
    # A first-time merchant abroad, with a large amount (and the card's foreign fee).
    for day, payee, amount in (
        (dt.date(2025, 4, 26), "ZARA ESPANA SA MADRID ESP", -612.40),
        (dt.date(2026, 2, 13), "ELECTRONICS HUB LISBOA PRT", -1499.00),
    ):
        mark(
            h.add("card", day, amount, payee, "Shopping", payee.split()[0].title()),
            "new_merchant_abroad",
            "first purchase from this merchant, abroad",
        )
        h.add(
            "card",
            day + dt.timedelta(days=1),
            (Decimal(str(amount)) * Decimal("0.03")).quantize(CENT),
            "FOREIGN TRANSACTION FEE",
            "Fees & charges",
            "Card issuer",
        )
    # A fee spike: three overdraft fees in one week, and a late fee on the card.
    for i, day in enumerate((dt.date(2025, 8, 4), dt.date(2025, 8, 5), dt.date(2025, 8, 7))):
        mark(
            h.add("checking", day, -35.00, "OVERDRAFT ITEM FEE", "Fees & charges", "Bank"),
            "fee_spike",
            f"overdraft fee {i + 1} of 3 in a week",
        )
    mark(
        h.add("card", dt.date(2026, 1, 26), -39.00, "LATE FEE", "Fees & charges", "Card issuer"),
        "fee_spike",
        "late payment fee",
    )


def _transfers_and_payments(h: Household, rng: random.Random) -> None:
    group = 0

    def transfer(
        src: str,
        dst: str,
        day: dt.date,
        amount: Decimal,
        out_payee: str,
        in_payee: str,
        category: str = "Transfers",
        lag: int = 0,
    ) -> None:
        nonlocal group
        group += 1
        gid = f"T{group:04d}"
        h.add(src, day, -amount, out_payee, category, "Own account", transfer_group=gid)
        h.add(dst, day + dt.timedelta(days=lag), amount, in_payee, category, "Own account", transfer_group=gid)

    # Monthly saving, and a withdrawal from savings for the trips.
    for m in _month_starts():
        day = _on_or_after_weekday(m.replace(day=16))
        transfer(
            "checking",
            "savings",
            day,
            Decimal("600.00"),
            "ONLINE TRANSFER TO SAVINGS XXXXXX4821",
            "ONLINE TRANSFER FROM CHECKING XXXXXX1937",
            lag=rng.choice([0, 1]),
        )
        # Savings interest (APY ~4%), posted at month end.
    for year in (2024, 2025, 2026):
        transfer(
            "savings",
            "checking",
            dt.date(year, 6, 24),
            Decimal("2500.00"),
            "ONLINE TRANSFER TO CHECKING XXXXXX1937",
            "ONLINE TRANSFER FROM SAVINGS XXXXXX4821",
            lag=1,
        )
    # Euros saved on the European account move to checking through Wise each quarter:
    # a transfer between own accounts in two currencies (the amounts differ by the FX rate).
    for m in _month_starts():
        if m.month in (1, 4, 7, 10):
            day = _on_or_after_weekday(m.replace(day=20))
            eur = Decimal("2200.00")
            usd = (eur * Decimal(str(round(rng.uniform(1.05, 1.12), 4)))).quantize(CENT)
            group += 1
            gid = f"T{group:04d}"
            h.add(
                "eu",
                day,
                -eur,
                "Wise Europe SA",
                "Transfers",
                "Own account",
                memo="Überweisung eigenes Konto",
                transfer_group=gid,
            )
            h.add(
                "checking",
                _on_or_after_weekday(day + dt.timedelta(days=2)),
                usd,
                "WISE INC TRANSFER FROM EUR",
                "Transfers",
                "Own account",
                transfer_group=gid,
            )
    # Card payments: the statement closes on the 24th and is paid in full on the 14th.
    card_txs = sorted((t for t in h.txs if t.account == "card"), key=lambda t: t.date)
    close = dt.date(2023, 11, 24)
    while close <= END:
        prev_close = (close.replace(day=1) - dt.timedelta(days=1)).replace(day=24)
        owed = -sum((t.amount for t in card_txs if prev_close < t.date <= close), Decimal("0"))
        due = (close.replace(day=28) + dt.timedelta(days=4)).replace(day=14)
        if owed > 0 and due <= END:
            transfer(
                "checking",
                "card",
                due,
                owed,
                "CHASE CREDIT CRD AUTOPAY PPD ID: 4760039224",
                "AUTOMATIC PAYMENT - THANK YOU",
                lag=1,
            )
        close = (close.replace(day=28) + dt.timedelta(days=4)).replace(day=24)
    # Interest on savings: computed on the running balance, so it comes last.
    bal = ACCOUNTS["savings"]["opening"]
    sav = sorted((t for t in h.txs if t.account == "savings"), key=lambda t: t.date)
    i = 0
    for m in _month_starts():
        month_end = (m.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        while i < len(sav) and sav[i].date <= month_end:
            bal += sav[i].amount
            i += 1
        interest = (bal * Decimal("0.0033")).quantize(CENT)
        h.add(
            "savings",
            month_end,
            interest,
            "INTEREST PAYMENT",
            "Income/Interest",
            "Savings interest",
            series="S-interest",
        )
        bal += interest
    h.series["S-interest"] = {
        "series": "S-interest",
        "merchant": "Savings interest",
        "cadence": "monthly",
        "amount": "varies",
        "account": "Savings",
        "start": START.isoformat(),
        "end": "",
        "note": "interest",
    }


# -- writers --------------------------------------------------------------------------
def _finalise(h: Household) -> None:
    """Order each account's transactions and give them stable keys."""
    per: dict[str, list[Tx]] = defaultdict(list)
    for t in h.txs:
        if START <= t.date <= END:
            per[t.account].append(t)
    h.txs = []
    prefix = {"checking": "CHK", "card": "CC", "savings": "SAV", "eu": "EU"}
    for account in ACCOUNTS:
        rows = sorted(per[account], key=lambda t: (t.date, -t.amount, t.payee))
        for i, t in enumerate(rows, start=1):
            t.key = f"{prefix[account]}-{i:05d}"
        h.txs.extend(rows)


def _money_us(x: Decimal) -> str:
    return f"{x:.2f}"


def _money_eu(x: Decimal) -> str:
    s = f"{abs(x):,.2f}"
    return s.replace(",", "X").replace(".", ",").replace("X", ".")


def render_checking(txs: list[Tx]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["Date", "Description", "Amount (USD)", "Balance (USD)"])
    bal = ACCOUNTS["checking"]["opening"]
    rows = []
    for t in txs:
        bal += t.amount
        rows.append([t.date.strftime("%m/%d/%Y"), t.payee, _money_us(t.amount), _money_us(bal)])
    for r in reversed(rows):  # newest first, as US banks export
        w.writerow(r)
    return buf.getvalue()


def render_eu(txs: list[Tx]) -> str:
    bal = ACCOUNTS["eu"]["opening"]
    out = [
        "Kontoauszug;;;;;;;",
        "Kontoinhaber;Sam Rivera;;;;;;",
        "IBAN;DE89 3704 0044 0532 0130 00;;;;;;",
        f"Zeitraum;{START:%d.%m.%Y} - {END:%d.%m.%Y};;;;;;",
        "",
        "Buchungstag;Valutadatum;Buchungstext;Auftraggeber/Empfänger;Verwendungszweck;Soll;Haben;Währung",
    ]
    for t in txs:
        bal += t.amount
        kind = (
            "Gutschrift"
            if t.amount > 0
            else "Lastschrift"
            if "Rechnung" in t.memo or "Entgelt" in t.memo
            else "Kartenzahlung"
            if "Karte" in t.memo
            else "Überweisung"
        )
        soll = _money_eu(t.amount) if t.amount < 0 else ""
        haben = _money_eu(t.amount) if t.amount > 0 else ""
        fields = [f"{t.date:%d.%m.%Y}", f"{t.date:%d.%m.%Y}", kind, t.payee, t.memo, soll, haben, "EUR"]
        out.append(";".join(f'"{f}"' if ";" in f else f for f in fields))
    out.append(f"Kontostand am {END:%d.%m.%Y};;;;;;{_money_eu(bal)};EUR")
    return "\r\n".join(out) + "\r\n"


def _ofx_date(d: dt.date) -> str:
    return f"{d:%Y%m%d}120000.000[-8:PST]"


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_card_ofx(txs: list[Tx]) -> str:
    bal = sum((t.amount for t in txs), ACCOUNTS["card"]["opening"])
    trn = "\n".join(
        f"<STMTTRN><TRNTYPE>{'CREDIT' if t.amount > 0 else 'DEBIT'}</TRNTYPE><DTPOSTED>{_ofx_date(t.date)}"
        f"</DTPOSTED><TRNAMT>{t.amount:.2f}</TRNAMT><FITID>{t.key}</FITID><NAME>{_esc(t.payee[:32])}</NAME>"
        + (f"<MEMO>{_esc(t.payee)}</MEMO>" if len(t.payee) > 32 else "")
        + "</STMTTRN>"
        for t in txs
    )
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<?OFX OFXHEADER="200" VERSION="220" SECURITY="NONE" OLDFILEUID="NONE" NEWFILEUID="NONE"?>
<OFX>
<SIGNONMSGSRSV1><SONRS><STATUS><CODE>0</CODE><SEVERITY>INFO</SEVERITY></STATUS><DTSERVER>{_ofx_date(END)}</DTSERVER>
<LANGUAGE>ENG</LANGUAGE><FI><ORG>Chase</ORG><FID>10898</FID></FI></SONRS></SIGNONMSGSRSV1>
<CREDITCARDMSGSRSV1><CCSTMTTRNRS><TRNUID>1</TRNUID><STATUS><CODE>0</CODE><SEVERITY>INFO</SEVERITY></STATUS>
<CCSTMTRS><CURDEF>USD</CURDEF><CCACCTFROM><ACCTID>4266841234567890</ACCTID></CCACCTFROM>
<BANKTRANLIST><DTSTART>{_ofx_date(START)}</DTSTART><DTEND>{_ofx_date(END)}</DTEND>
{trn}
</BANKTRANLIST>
<LEDGERBAL><BALAMT>{bal:.2f}</BALAMT><DTASOF>{_ofx_date(END)}</DTASOF></LEDGERBAL>
</CCSTMTRS></CCSTMTTRNRS></CREDITCARDMSGSRSV1>
</OFX>
"""


def render_savings_ofx(txs: list[Tx]) -> str:
    bal = sum((t.amount for t in txs), ACCOUNTS["savings"]["opening"])
    trn = "\n".join(
        f"<STMTTRN><TRNTYPE>{'INT' if 'INTEREST' in t.payee else 'XFER'}<DTPOSTED>{t.date:%Y%m%d}"
        f"<TRNAMT>{t.amount:.2f}<FITID>{t.key}<NAME>{t.payee[:32]}</STMTTRN>"
        for t in txs
    )
    return f"""OFXHEADER:100
DATA:OFXSGML
VERSION:102
SECURITY:NONE
ENCODING:USASCII
CHARSET:1252
COMPRESSION:NONE
OLDFILEUID:NONE
NEWFILEUID:NONE

<OFX>
<SIGNONMSGSRSV1><SONRS><STATUS><CODE>0<SEVERITY>INFO</STATUS><DTSERVER>{END:%Y%m%d}<LANGUAGE>ENG
<FI><ORG>Ally Bank<FID>6157</FI></SONRS></SIGNONMSGSRSV1>
<BANKMSGSRSV1><STMTTRNRS><TRNUID>1<STATUS><CODE>0<SEVERITY>INFO</STATUS>
<STMTRS><CURDEF>USD
<BANKACCTFROM><BANKID>124003116<ACCTID>2204374821<ACCTTYPE>SAVINGS</BANKACCTFROM>
<BANKTRANLIST><DTSTART>{START:%Y%m%d}<DTEND>{END:%Y%m%d}
{trn}
</BANKTRANLIST>
<LEDGERBAL><BALAMT>{bal:.2f}<DTASOF>{END:%Y%m%d}</LEDGERBAL>
</STMTRS></STMTTRNRS></BANKMSGSRSV1>
</OFX>
"""


def render_truth(h: Household) -> dict[str, str]:
    tx_buf = io.StringIO()
    w = csv.writer(tx_buf, lineterminator="\n")
    w.writerow(
        [
            "key",
            "account",
            "date",
            "amount",
            "currency",
            "payee",
            "merchant",
            "category",
            "is_transfer",
            "transfer_group",
            "anomaly",
            "series",
        ]
    )
    for t in h.txs:
        w.writerow(
            [
                t.key,
                ACCOUNTS[t.account]["name"],
                t.date.isoformat(),
                f"{t.amount:.2f}",
                ACCOUNTS[t.account]["currency"],
                t.payee,
                t.merchant,
                t.category,
                "true" if t.transfer_group else "false",
                t.transfer_group,
                t.anomaly,
                t.series,
            ]
        )
    keyed = {(t.account, t.date.isoformat(), f"{t.amount:.2f}", t.payee): t.key for t in h.txs}
    an_buf = io.StringIO()
    w = csv.writer(an_buf, lineterminator="\n")
    w.writerow(["key", "kind", "account", "date", "amount", "payee", "why"])
    for a in h.anomalies:
        acct = next(k for k, v in ACCOUNTS.items() if v["name"] == a["account"])
        w.writerow(
            [
                keyed.get((acct, a["date"], a["amount"], a["payee"]), ""),
                a["kind"],
                a["account"],
                a["date"],
                a["amount"],
                a["payee"],
                a["why"],
            ]
        )
    rec_buf = io.StringIO()
    w = csv.writer(rec_buf, lineterminator="\n")
    w.writerow(["series", "merchant", "cadence", "amount", "account", "start", "end", "note", "transactions"])
    counts: dict[str, int] = defaultdict(int)
    for t in h.txs:
        if t.series:
            counts[t.series] += 1
    for sid in sorted(h.series):
        s = h.series[sid]
        w.writerow(
            [
                s["series"],
                s["merchant"],
                s["cadence"],
                s["amount"],
                s["account"],
                s["start"],
                s["end"],
                s["note"],
                counts[sid],
            ]
        )
    tr_buf = io.StringIO()
    w = csv.writer(tr_buf, lineterminator="\n")
    w.writerow(["transfer_group", "from_key", "to_key", "amount", "from_account", "to_account"])
    groups: dict[str, list[Tx]] = defaultdict(list)
    for t in h.txs:
        if t.transfer_group:
            groups[t.transfer_group].append(t)
    for gid in sorted(groups):
        pair = sorted(groups[gid], key=lambda t: t.amount)
        if len(pair) == 2:
            w.writerow(
                [
                    gid,
                    pair[0].key,
                    pair[1].key,
                    f"{pair[1].amount:.2f}",
                    ACCOUNTS[pair[0].account]["name"],
                    ACCOUNTS[pair[1].account]["name"],
                ]
            )

    def account_sum(key: str) -> Decimal:
        return sum((t.amount for t in h.txs if t.account == key), Decimal("0"))

    summary = {
        "seed": SEED,
        "start": START.isoformat(),
        "end": END.isoformat(),
        "transactions": len(h.txs),
        "accounts": {
            v["name"]: {
                "file": v["file"],
                "currency": v["currency"],
                "transactions": sum(1 for t in h.txs if t.account == k),
                "sum": f"{account_sum(k):.2f}",
                "opening_balance": f"{v['opening']:.2f}",
                "closing_balance": f"{v['opening'] + account_sum(k):.2f}",
            }
            for k, v in ACCOUNTS.items()
        },
        "anomalies": len(h.anomalies),
        "recurring_series": len(h.series),
        "transfer_pairs": len([g for g in groups.values() if len(g) == 2]),
    }
    return {
        "truth/transactions.csv": tx_buf.getvalue(),
        "truth/anomalies.csv": an_buf.getvalue(),
        "truth/recurring.csv": rec_buf.getvalue(),
        "truth/transfers.csv": tr_buf.getvalue(),
        "truth/summary.json": json.dumps(summary, indent=2) + "\n",
    }


def sample_files(seed: int = SEED) -> dict[str, bytes]:
    """Every sample file (relative path -> bytes): the four exports and the truth."""
    h = build_household(seed)
    _finalise(h)
    by = defaultdict(list)
    for t in h.txs:
        by[t.account].append(t)
    files = {
        f"exports/{ACCOUNTS['checking']['file']}": render_checking(by["checking"]).encode("utf-8"),
        f"exports/{ACCOUNTS['card']['file']}": render_card_ofx(by["card"]).encode("utf-8"),
        f"exports/{ACCOUNTS['savings']['file']}": render_savings_ofx(by["savings"]).encode("cp1252"),
        f"exports/{ACCOUNTS['eu']['file']}": render_eu(by["eu"]).encode("latin-1"),
    }
    files.update({k: v.encode("utf-8") for k, v in render_truth(h).items()})
    return files


def write_sample(directory: Path, seed: int = SEED) -> dict[str, Path]:
    """Write the sample files under ``directory``; returns their paths."""
    out = {}
    for rel, data in sample_files(seed).items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        out[rel] = path
    return out


EXPORT_ACCOUNTS = {f"exports/{v['file']}": v["name"] for v in ACCOUNTS.values()}


def label_from_truth(con: Any, truth_csv: str, *, until: dt.date | None = None, keys: set[str] | None = None) -> int:
    """Give stored transactions their truth categories as user labels (tests, demo,
    benchmarks): rows dated up to ``until``, or only the truth ``keys`` given."""
    import polars as pl

    truth = pl.read_csv(io.StringIO(truth_csv), infer_schema=False).with_columns(
        pl.col("date").str.to_date(), pl.col("amount").cast(pl.Decimal(18, 2))
    )
    if until is not None:
        truth = truth.filter(pl.col("date") <= until)
    if keys is not None:
        truth = truth.filter(pl.col("key").is_in(sorted(keys)))
    con.register("fa_truth", truth.to_arrow())
    try:
        # OFX rows carry the truth key as FITID; CSV rows match on account, date, amount
        # and payee, identical rows pairing up in order on both sides.
        by_fitid = con.execute(
            """
            UPDATE transactions SET category = g.category, category_source = 'user', category_confidence = 1.0,
                   labeled_at = current_timestamp
            FROM fa_truth g WHERE transactions.fitid = g.key
              AND coalesce(transactions.category_source, '') <> 'transfer-match'
            """
        ).fetchone()[0]
        by_row = con.execute(
            """
            WITH s AS (
                SELECT t.tx_id, a.name AS account, t.posted_date, t.amount, t.payee_raw,
                       row_number() OVER (PARTITION BY a.name, t.posted_date, t.amount, t.payee_raw
                                          ORDER BY t.tx_id) AS k
                FROM transactions t JOIN accounts a USING (account_id) WHERE t.fitid IS NULL
            ),
            g AS (
                SELECT *, row_number() OVER (PARTITION BY account, date, amount, payee ORDER BY key) AS k FROM fa_truth
            )
            UPDATE transactions SET category = g.category, category_source = 'user', category_confidence = 1.0,
                   labeled_at = current_timestamp
            FROM s JOIN g ON s.account = g.account AND s.posted_date = g.date AND s.amount = g.amount
                         AND s.payee_raw = g.payee AND s.k = g.k
            WHERE transactions.tx_id = s.tx_id AND coalesce(transactions.category_source, '') <> 'transfer-match'
            """
        ).fetchone()[0]
        return int(by_fitid) + int(by_row)
    finally:
        con.unregister("fa_truth")
