"""Property-based: mutated CSV and OFX never produce anything but a clear error."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finanalytics_cli.engine.errors import AnalyticsError
from finanalytics_cli.engine.ingest import ImportOptions, Source, import_sources
from finanalytics_cli.engine.ingest.csv_reader import read_csv_export
from finanalytics_cli.engine.ingest.decode import decode_export
from finanalytics_cli.engine.ingest.importer import detect_format
from finanalytics_cli.engine.ingest.ofx import declared_encoding, read_statements
from tests.engine.ingest.ofx_fixtures import SGML_CHECKING, XML_TWO_STATEMENTS
from tests.engine.ingest.test_csv_layouts import GERMAN

SEEDS = [
    b'Date,Description,Amount,Balance\n01/15/2024,PAYROLL,"$2,450.00",3450.00\n01/16/2024,GROCER,(84.12),3365.88\n',
    GERMAN.encode("cp1252"),
    "Date\tDescription\tAmount\n2024-01-02\tCafé\t-3.50\n".encode("utf-16"),
    b"Datum;Naam;Af Bij;Bedrag\n20240105;AH;Af;23,45\n20240106;Werk;Bij;2500,00\n",
    SGML_CHECKING.encode("cp1252"),
    XML_TWO_STATEMENTS.encode("utf-8"),
]


@st.composite
def mutated(draw: Any) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        if not data:
            break
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "dup_line", "special"]))
        pos = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 20))]
        elif op == "truncate":
            del data[pos:]
        elif op == "dup_line":
            end = data.find(b"\n", pos)
            start = data.rfind(b"\n", 0, pos) + 1
            data[start:start] = data[start : end + 1 if end >= 0 else len(data)]
        else:
            token = draw(
                st.sampled_from(
                    [
                        b'"',
                        b";",
                        b",",
                        b"\t",
                        b"<",
                        b">",
                        b"</OFX>",
                        b"<STMTTRN>",
                        b"-",
                        b"(",
                        b"\r",
                        b"\xef\xbb\xbf",
                        b"\x00",
                        b"99/99/9999",
                        b"1.000,00",
                        b"&amp;",
                    ]
                )
            )
            data[pos:pos] = token
    return bytes(data)


def parse_only(data: bytes) -> None:
    src = Source("fuzz.dat", data)
    fmt = detect_format(src, "auto")
    if fmt == "ofx":
        text, _ = decode_export(data, src.name, declared_encoding(data))
        read_statements(text, src.name)
    else:
        text, enc = decode_export(data, src.name)
        read_csv_export(text, src.name, enc)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_exports_parse_or_fail_clearly(data: bytes) -> None:
    try:
        parse_only(data)
    except AnalyticsError as err:
        assert "fuzz.dat" in err.message


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400) | st.text(max_size=300).map(lambda t: t.encode("utf-8")))
def test_random_bytes_fail_clearly(data: bytes) -> None:
    try:
        parse_only(data)
    except AnalyticsError:
        pass


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import os

    from finanalytics_cli.engine.paths import resolve_paths
    from finanalytics_cli.engine.store import Store

    home = tmp_path_factory.mktemp("fuzz-home")
    old = os.environ.get("FINANALYTICS_HOME")
    os.environ["FINANALYTICS_HOME"] = str(home)
    os.environ.setdefault("FINANALYTICS_PASSPHRASE", "fuzzing passphrase")
    try:
        store = Store.create(resolve_paths())
    finally:
        if old is not None:
            os.environ["FINANALYTICS_HOME"] = old
    yield store
    store.close()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(mutated())
def test_mutated_exports_through_the_store(fuzz_store: Any, data: bytes) -> None:
    con = fuzz_store.con
    before = con.execute("SELECT count(*) FROM transactions").fetchone()[0]
    try:
        [r] = import_sources(fuzz_store, [Source("fuzz.dat", data)], ImportOptions(account="Fuzz"))
    except AnalyticsError:
        assert con.execute("SELECT count(*) FROM transactions").fetchone()[0] == before
        assert not con.execute("SELECT count(*) FROM imports WHERE status = 'running'").fetchone()[0]
        return
    after = con.execute("SELECT count(*) FROM transactions").fetchone()[0]
    assert after == before + r.added
    assert (
        con.execute("SELECT count(*) FROM transactions WHERE amount IS NULL OR posted_date IS NULL").fetchone()[0] == 0
    )


@st.composite
def statement_with_balance(draw: Any) -> tuple[str, list[int], bool]:
    """A CSV with a running balance; sometimes its balances or amounts are scrambled."""
    n = draw(st.integers(4, 25))
    cents = draw(st.lists(st.integers(-500_00, 500_00).filter(lambda c: c != 0), min_size=n, max_size=n))
    balance = draw(st.integers(0, 10_000_00))
    rows = []
    for i, c in enumerate(cents):
        balance += c
        rows.append([f"2024-01-{i + 1:02d}", f"SHOP {i}", c, balance])
    corrupt = draw(st.booleans())
    if corrupt:
        for i in draw(st.sets(st.integers(0, n - 1), min_size=max(2, n // 3), max_size=n)):
            rows[i][3] += draw(st.integers(1, 99_00))
    descending = draw(st.booleans())
    if descending:
        rows.reverse()
    lines = ["Date,Description,Amount,Balance"] + [f"{d},{p},{a / 100:.2f},{b / 100:.2f}" for d, p, a, b in rows]
    return "\n".join(lines) + "\n", cents, corrupt


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(statement_with_balance())
def test_a_balance_that_disagrees_is_never_imported_silently(case: tuple[str, list[int], bool]) -> None:
    from decimal import Decimal

    import polars as pl

    text, cents, corrupt = case
    parsed = read_csv_export(text, "b.csv", "utf-8")
    got = sorted(parsed.frame["amount"].to_list())
    # Measured here, independently of the reader: steps of the stored balance the stored
    # amounts fail to reproduce, in file order (either direction).
    frame = parsed.frame.select("amount", "balance")
    up = frame.select((pl.col("balance").diff() == pl.col("amount")).sum()).item()
    down = frame.select((-pl.col("balance").diff() == pl.col("amount").shift(1)).sum()).item()
    misses = frame.height - 1 - max(up, down)
    if misses > 0.1 * (frame.height - 1):
        assert parsed.warnings, "the balance disagrees but the import says nothing"
    if not corrupt:
        # A consistent file is read exactly, with no warning.
        assert got == sorted(Decimal(c) / 100 for c in cents)
        assert not parsed.warnings
