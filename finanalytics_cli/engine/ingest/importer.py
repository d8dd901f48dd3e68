"""The import pipeline for one or many files."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from finanalytics_cli.engine.errors import AnalyticsError, InvalidInput
from finanalytics_cli.engine.ingest.camt import looks_like_camt, read_camt
from finanalytics_cli.engine.ingest.csv_reader import ParsedExport, read_csv_export
from finanalytics_cli.engine.ingest.currency import UNKNOWN as UNKNOWN_CURRENCY
from finanalytics_cli.engine.ingest.decode import decode_export
from finanalytics_cli.engine.ingest.layout import load_map
from finanalytics_cli.engine.ingest.loader import batch_frame, load_batch, match_transfers, transaction_columns
from finanalytics_cli.engine.ingest.mt940 import looks_like_mt940, read_mt940
from finanalytics_cli.engine.ingest.ofx import declared_encoding, looks_like_ofx, read_statements
from finanalytics_cli.engine.ingest.qif import looks_like_qif, read_qif
from finanalytics_cli.engine.ledger import ensure_account

FORMATS = ("auto", "csv", "ofx", "qfx", "qif", "camt", "mt940")
MAX_FILE_BYTES = 512 * 1024 * 1024
_MAP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SKIP_DIR_FILES = {".DS_Store", "Thumbs.db", "desktop.ini"}


@dataclass(frozen=True)
class Source:
    """One export to import: a display name and its bytes."""

    name: str
    data: bytes


@dataclass
class ImportOptions:
    account: str | None = None
    format: str = "auto"
    map: str | None = None  # a TOML file path or the name of a saved map
    save_map: str | None = None
    dry_run: bool = False
    strict: bool = False
    maps_dir: Path | None = None
    category_column: str | None = None  # a CSV column holding the user's own categories
    drop_memos: bool = False  # data minimisation: keep no memo (nor the raw line holding it)
    currency: str | None = None  # the currency of CSV files that do not say theirs


@dataclass
class FileImport:
    """What happened to one file."""

    file: str
    status: str  # imported | dry-run | failed
    format: str | None = None
    accounts: list[str] = field(default_factory=list)
    import_id: int | None = None
    read: int = 0
    added: int = 0
    duplicate: int = 0
    rejected: int = 0
    pending_matched: int = 0
    transfers_matched: int = 0
    summary_lines_skipped: int = 0
    layout: dict[str, Any] | None = None
    checks: dict[str, Any] = field(default_factory=dict)
    rejected_rows: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    saved_map: str | None = None
    labels_imported: int = 0
    labels_unknown: list[str] = field(default_factory=list)
    # Checks that disagree but did not stop the import; shown in the output and in `import list`.
    warnings: list[str] = field(default_factory=list)
    currency: str | None = None
    currency_source: str | None = None  # where the currency came from (a column, a header, the account...)
    balance_records: int = 0  # opening/closing balance and turnover rows taken out


# -- reading sources --------------------------------------------------------------------
def sources_from_paths(paths: list[str], stdin: BinaryIO | None = None) -> list[Source]:
    """Files, directories (every non-hidden file in them, sorted) or '-' for stdin."""
    if not paths:
        raise InvalidInput("no file given: pass one or more files, directories, or - for standard input")
    out: list[Source] = []
    for p in paths:
        if p == "-":
            if stdin is None:
                raise InvalidInput("- (standard input) is not available here")
            out.append(Source("<stdin>", stdin.read(MAX_FILE_BYTES + 1)))
            continue
        path = Path(p).expanduser()
        if path.is_dir():
            files = sorted(
                f
                for f in path.rglob("*")
                if f.is_file()
                and not any(part.startswith(".") for part in f.relative_to(path).parts)
                and f.name not in _SKIP_DIR_FILES
            )
            if not files:
                raise InvalidInput(f"{p}: the directory holds no files")
            out.extend(_read_file(f) for f in files)
        elif path.exists():
            out.append(_read_file(path))
        else:
            raise InvalidInput(f"{p}: no such file or directory")
    return out


def _read_file(path: Path) -> Source:
    import stat

    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):  # /dev/zero, a FIFO: no end, or no writer
            raise InvalidInput(f"{path}: not a regular file (a device, pipe or socket); export the data to a file")
        size = st.st_size
        if size > MAX_FILE_BYTES:
            raise InvalidInput(f"{path}: {size // 2**20} MiB is larger than the {MAX_FILE_BYTES // 2**20} MiB limit")
        return Source(str(path), path.read_bytes())
    except PermissionError:
        raise InvalidInput(f"{path}: permission denied") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be read ({exc.strerror})") from None


# -- format detection -------------------------------------------------------------------
def detect_format(source: Source, requested: str) -> str:
    if requested not in FORMATS:
        raise InvalidInput(f"unknown import format {requested!r}; use one of {', '.join(FORMATS)}")
    if requested in ("ofx", "qfx"):
        return "ofx"
    if requested in ("csv", "qif", "camt", "mt940"):
        return requested
    data = source.data
    if looks_like_ofx(data):
        return "ofx"
    if looks_like_qif(data):
        return "qif"
    if looks_like_camt(data):
        return "camt"
    if looks_like_mt940(data[:4096].replace(b"\r\n", b"\n")):
        return "mt940"
    head = data[:4096]
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    unsupported = [
        (stripped.startswith(b"%PDF"), "a PDF statement"),
        (stripped.startswith(b"PK\x03\x04"), "a ZIP or Excel (.xlsx) file; export CSV instead"),
        (stripped.startswith(b"\xd0\xcf\x11\xe0"), "an old Excel (.xls) file; export CSV instead"),
        (
            stripped.startswith(b"074") and len(stripped.split(b"\n", 1)[0].strip()) >= 120,
            "a GPC (ABO) statement (not supported); export CSV or OFX",
        ),
        (stripped.startswith(b"{") or stripped.startswith(b"["), "a JSON file, not a bank export"),
        (
            stripped.startswith(b"<") and not stripped.upper().startswith(b"<OFX"),
            "an XML/HTML file that is neither OFX nor an ISO 20022 CAMT statement",
        ),
    ]
    for hit, what in unsupported:
        if hit:
            raise InvalidInput(f"{source.name}: {what}")
    return "csv"


# -- the pipeline -----------------------------------------------------------------------
def import_sources(
    store: Any, sources: list[Source], options: ImportOptions, on_file: Callable[[FileImport], None] | None = None
) -> list[FileImport]:
    """Import each source in its own transaction. Failures are reported, not raised,
    unless there is a single source (then its error propagates)."""
    _check_options(options)
    results = []
    for src in sources:
        try:
            result = import_one(store, src, options)
        except AnalyticsError as err:
            if len(sources) == 1:
                raise
            result = FileImport(file=src.name, status="failed", error=err.to_dict())
        results.append(result)
        if on_file:
            on_file(result)
    return results


def mask_account_id(account_id: str | None, data_key: bytes) -> str | None:
    """An account number as stored: a keyed hash (so the same account is recognized on the
    next import) and the last four digits (so people can tell accounts apart)."""
    if not account_id:
        return account_id
    if account_id.startswith("acct:"):
        return account_id
    import hmac as _hmac

    tag = _hmac.new(data_key, b"account-id:" + account_id.strip().encode(), hashlib.sha256).hexdigest()[:16]
    return f"acct:{tag}:****{account_id.strip()[-4:]}"


def _check_options(options: ImportOptions) -> None:
    if options.format not in FORMATS:
        raise InvalidInput(f"unknown import format {options.format!r}; use one of {', '.join(FORMATS)}")
    if options.save_map is not None and not _MAP_NAME.match(options.save_map):
        raise InvalidInput(f"invalid map name {options.save_map!r}: letters, digits, '.', '_', '-'")
    if options.account is not None and not options.account.strip():
        raise InvalidInput("--account needs a non-empty name")


def _map_overrides(store: Any, options: ImportOptions, account: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """The --map overrides (file or saved name), or the account's saved map."""
    ref = options.map
    source = None
    if ref is None and account:
        row = store.con.execute("SELECT csv_map FROM accounts WHERE name = ?", [account]).fetchone()
        if row and row[0]:
            ref = row[0]
    if ref is None:
        return None, None
    path = Path(ref).expanduser()
    if not path.is_file() and options.maps_dir is not None and _MAP_NAME.match(ref):
        path = options.maps_dir / f"{ref}.toml"
    if not path.is_file():
        raise InvalidInput(f"map {ref!r}: no such file, and no saved map of that name")
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"map {ref!r} cannot be read: {exc}") from None
    return load_map(text, source), source


def import_one(store: Any, src: Source, options: ImportOptions) -> FileImport:
    fmt = detect_format(src, options.format)
    result = FileImport(file=src.name, status="dry-run" if options.dry_run else "imported", format=fmt)
    con = store.con
    if fmt == "ofx":
        text, encoding = decode_export(src.data, src.name, declared_encoding(src.data))
        statements = read_statements(text, src.name)
        for st in statements:  # data minimisation: never store a full account number
            st.account_id = mask_account_id(st.account_id, store.keys.active)
        parsed = None
    elif fmt == "camt":
        statements = read_camt(src.data, src.name)
        for st in statements:
            st.account_id = mask_account_id(st.account_id, store.keys.active)
        encoding = "xml"
        parsed = None
    elif fmt == "mt940":
        text, encoding = decode_export(src.data, src.name, None)
        statements = read_mt940(text, src.name)
        for st in statements:
            st.account_id = mask_account_id(st.account_id, store.keys.active)
        parsed = None
    elif fmt == "qif":
        text, encoding = decode_export(src.data, src.name, None)
        statements = read_qif(text, src.name, options.currency)
        if len(statements) == 1 and not options.account and not statements[0].name:
            raise InvalidInput(f"{src.name}: which account is this QIF export from? pass --account NAME")
        parsed = None
    else:
        account = options.account.strip() if options.account else None
        overrides, map_source = _map_overrides(store, options, account)
        if options.category_column:
            overrides = {**(overrides or {}), "category_column": options.category_column}
        declared = (overrides or {}).pop("encoding", None)
        text, encoding = decode_export(src.data, src.name, declared)
        utf8 = src.data if encoding in ("utf-8", "utf-8-sig", "ascii") else None
        parsed = read_csv_export(text, src.name, encoding, overrides, data=utf8)
        del text  # the parsed frame holds what is needed
        if map_source:
            parsed.layout["map"] = map_source
        if options.currency:  # for files that do not say theirs; one that says another is refused
            if parsed.currency is None:
                parsed.currency, parsed.currency_source = options.currency, "--currency"
            elif parsed.currency != options.currency:
                raise InvalidInput(
                    f"{src.name}: the file is in {parsed.currency} (from {parsed.currency_source}), not "
                    f"{options.currency} as --currency says: check the file, or name its currency in a --map"
                )
        # Data minimisation: an account number is kept only as a keyed hash and its last digits.
        parsed.account_hint = mask_account_id(parsed.account_hint, store.keys.active)
        account = _csv_account(store, options, parsed, src.name)
    sha = hashlib.sha256(src.data).hexdigest()
    con.execute("BEGIN TRANSACTION")
    try:
        import_id = con.execute(
            "INSERT INTO imports (source_name, source_sha256, source_format, status) VALUES (?, ?, ?, 'running') "
            "RETURNING import_id",
            [os.path.basename(src.name), sha, fmt],
        ).fetchone()[0]
        result.import_id = import_id
        if parsed is not None:
            _load_csv(con, parsed, account, import_id, result)
        else:
            _load_ofx(con, statements, options.account, import_id, result, encoding)
        if options.drop_memos:
            con.execute("UPDATE transactions SET memo = NULL, raw_row = NULL WHERE import_id = ?", [import_id])
        if options.strict and result.rejected:
            first = "; ".join(f"line {r['line_no']}: {r['reason']}" for r in result.rejected_rows[:3])
            raise InvalidInput(
                f"{src.name}: {result.rejected} row(s) rejected and --strict is set ({first}); nothing was imported"
            )
        result.transfers_matched = match_transfers(con, import_id)
        account_id = None
        if len(result.accounts) == 1:
            account_id = con.execute("SELECT account_id FROM accounts WHERE name = ?", [result.accounts[0]]).fetchone()[
                0
            ]
        con.execute(
            "UPDATE imports SET account_id = ?, layout = ?, rows_read = ?, rows_added = ?, rows_duplicate = ?, "
            "rows_rejected = ?, status = 'done' WHERE import_id = ?",
            [
                account_id,
                json.dumps(
                    {
                        "layout": result.layout,
                        "checks": result.checks,
                        "accounts": result.accounts,
                        "warnings": result.warnings,
                        "currency": result.currency,
                        "currency_source": result.currency_source,
                    },
                    default=str,
                ),
                result.read,
                result.added,
                result.duplicate,
                result.rejected,
                import_id,
            ],
        )
        if options.save_map:
            if parsed is None:
                raise InvalidInput(f"--save-map applies to CSV files only ({fmt.upper()} needs no map)")
            result.saved_map = _save_map(con, options, parsed, result.accounts[0])
        if options.dry_run:
            con.execute("ROLLBACK")
            result.import_id = None
        else:
            con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):  # the first error is the one to report
            con.execute("ROLLBACK")
        raise
    return result


def _csv_account(store: Any, options: ImportOptions, parsed: ParsedExport, name: str) -> str:
    """The account a CSV file belongs to: --account, else the account number the file names.

    Never the "only account" of the store by default: a file goes there only when it names
    no account number and its currency is known and the same.
    """
    con = store.con
    if options.account:
        return options.account.strip()
    if parsed.account_hint:
        row = con.execute("SELECT name FROM accounts WHERE external_id = ? LIMIT 1", [parsed.account_hint]).fetchone()
        if row:
            return row[0]
        return f"Account ****{parsed.account_hint[-4:]}"
    rows = con.execute("SELECT name, currency FROM accounts ORDER BY account_id").fetchall()
    if len(rows) == 1 and parsed.currency and rows[0][1] == parsed.currency:
        parsed.warnings.append(
            f"no --account given: imported into {rows[0][0]!r}, the store's one {parsed.currency} account"
        )
        return rows[0][0]
    known = f" (accounts: {', '.join(r[0] for r in rows)})" if rows else ""
    raise InvalidInput(f"{name}: which account is this CSV export from? pass --account NAME{known}")


def _account_currency(con: Any, account: str, parsed: ParsedExport, name: str) -> tuple[str, str | None]:
    """The currency rows of this file take, and where it came from; refuses a mismatch."""
    row = con.execute("SELECT currency FROM accounts WHERE name = ?", [account]).fetchone()
    stated = parsed.currency
    if row is None:
        return stated or UNKNOWN_CURRENCY, parsed.currency_source
    existing = row[0]
    if stated is None:
        return existing, (None if existing == UNKNOWN_CURRENCY else f"the account {account!r}")
    if existing not in (UNKNOWN_CURRENCY, stated):
        raise InvalidInput(
            f"{name}: the file is in {stated} (from {parsed.currency_source}), but account {account!r} is in "
            f"{existing}: pass --account with the right account (a new name creates one), or --currency "
            f"{existing} if the file's evidence is wrong"
        )
    return stated, parsed.currency_source


def _record_rejects(con: Any, import_id: int, rejected: list[tuple[int, str, str]], result: FileImport) -> None:
    if rejected:
        con.executemany(
            "INSERT INTO rejected_rows (import_id, line_no, reason, raw_row) VALUES (?, ?, ?, ?)",
            [(import_id, ln, reason, raw) for ln, reason, raw in rejected],
        )
    result.rejected += len(rejected)
    room = max(0, 20 - len(result.rejected_rows))  # a sample in the output; all are stored
    result.rejected_rows.extend({"line_no": ln, "reason": reason} for ln, reason, _ in rejected[:room])


def _load_csv(con: Any, parsed: ParsedExport, account: str, import_id: int, result: FileImport) -> None:
    frame = parsed.frame
    currency, source = _account_currency(con, account, parsed, result.file)
    account_id = ensure_account(
        con,
        account,
        currency=currency,
        external_id=parsed.account_hint,
    )
    acct_currency = con.execute("SELECT currency FROM accounts WHERE account_id = ?", [account_id]).fetchone()[0]
    if acct_currency == UNKNOWN_CURRENCY and currency != UNKNOWN_CURRENCY:
        # The account's earlier files did not say; this one does: the account is in it.
        n = con.execute(
            "SELECT count(*) FROM transactions WHERE account_id = ? AND currency = ?", [account_id, UNKNOWN_CURRENCY]
        ).fetchone()[0]
        con.execute("UPDATE accounts SET currency = ? WHERE account_id = ?", [currency, account_id])
        con.execute(
            "UPDATE transactions SET currency = ? WHERE account_id = ? AND currency = ?",
            [currency, account_id, UNKNOWN_CURRENCY],
        )
        if n:
            parsed.warnings.append(
                f"{n} earlier row(s) of {account!r} whose files did not say a currency are now {currency}"
            )
        acct_currency = currency
    result.currency, result.currency_source = acct_currency, source
    if acct_currency == UNKNOWN_CURRENCY:
        parsed.warnings.append(
            "the file does not say its currency: amounts are stored with currency XXX (unknown); "
            'say it with --currency CODE (or currency = "EUR" in a --map)'
        )
    if "category_label" in frame.columns and frame["category_label"].drop_nulls().len():
        frame = _apply_labels(con, frame, result)
    stats = load_batch(con, account_id, import_id, frame, acct_currency)
    if result.labels_imported:
        con.execute(
            "UPDATE transactions SET labeled_at = current_timestamp WHERE import_id = ? AND category_source = 'user'",
            [import_id],
        )
    _record_rejects(con, import_id, [(r.line_no, r.reason, r.raw_row) for r in parsed.rejected], result)
    result.accounts = [account]
    result.read = stats.read + len(parsed.rejected)
    result.added, result.duplicate, result.pending_matched = stats.added, stats.duplicate, stats.pending_matched
    result.summary_lines_skipped = parsed.skipped_lines
    result.layout, result.checks = parsed.layout, parsed.checks
    result.balance_records = len(parsed.excluded)
    if parsed.excluded:
        result.checks["balance_records"] = [
            {k: (str(v) if v is not None else None) for k, v in r.items()} for r in parsed.excluded[:20]
        ]
    result.warnings.extend(parsed.warnings)
    closing = parsed.checks.get("closing_balance")
    if closing:
        con.execute(
            "INSERT INTO balances (account_id, as_of, amount, currency, source, import_id) "
            "VALUES (?, ?, ?, ?, 'csv-closing-line', ?)",
            [account_id, closing["date"], closing["amount"], acct_currency, import_id],
        )
    bal = parsed.checks.get("balance", {})
    if bal.get("checked") and bal.get("mismatches", 1) <= 0.1 * bal["checked"] and frame.height:
        # The chronologically last row's balance anchors the account's balance.
        last = frame.tail(1) if bal.get("row_order") == "ascending" else frame.head(1)
        row = last.row(0, named=True)
        if row["balance"] is not None:
            con.execute(
                "INSERT INTO balances (account_id, as_of, amount, currency, source, import_id) "
                "VALUES (?, ?, ?, ?, 'csv', ?)",
                [account_id, row["posted_date"], row["balance"], acct_currency, import_id],
            )


def _apply_labels(con: Any, frame: Any, result: FileImport) -> Any:
    """Map a column of the user's own categories onto the taxonomy: they become labels."""
    import polars as pl

    from finanalytics_cli.engine.categories import resolve_category

    mapping: dict[str, str | None] = {}
    for value in frame["category_label"].drop_nulls().unique().to_list():
        try:
            mapping[value] = resolve_category(con, value) if value else None
        except InvalidInput:
            mapping[value] = None
            result.labels_unknown.append(value)
    labels = frame["category_label"].replace_strict(mapping, default=None, return_dtype=pl.String)
    result.labels_imported = int(labels.drop_nulls().len())
    return frame.with_columns(
        labels.alias("category"),
        pl.when(labels.is_not_null()).then(pl.lit("user")).otherwise(None).alias("category_source"),
    )


def _load_ofx(
    con: Any, statements: list[Any], account: str | None, import_id: int, result: FileImport, encoding: str
) -> None:

    result.layout = {"encoding": encoding, "statements": len(statements)}
    result.checks["statements"] = []
    for st in statements:
        name = _ofx_account_name(con, st, account, len(statements))
        kind = {"creditcard": "credit_card", "investment": "investment"}.get(
            st.kind, (st.account_type or "checking").lower()
        )
        account_id = ensure_account(
            con, name, currency=st.currency, account_type=kind, institution=st.org, external_id=st.account_id
        )
        if st.account_id:
            con.execute(
                "UPDATE accounts SET external_id = coalesce(external_id, ?) WHERE account_id = ?",
                [st.account_id, account_id],
            )
        acct_currency = con.execute("SELECT currency FROM accounts WHERE account_id = ?", [account_id]).fetchone()[0]
        if acct_currency != st.currency and UNKNOWN_CURRENCY not in (acct_currency, st.currency):
            raise InvalidInput(
                f"{result.file}: the statement is in {st.currency} ({st.currency_source or 'CURDEF'}), but account "
                f"{name!r} is in "
                f"{acct_currency}: pass --account with the right account"
            )
        result.warnings.extend(st.warnings)
        if st.currency == UNKNOWN_CURRENCY and acct_currency != UNKNOWN_CURRENCY:
            st.currency = acct_currency  # a format that does not say (QIF): the account's
            st.currency_source = f"the account {name!r}"
            for t in st.transactions:
                t["currency"] = acct_currency
        result.currency = st.currency
        result.currency_source = st.currency_source or ("the OFX CURDEF" if st.currency != UNKNOWN_CURRENCY else None)
        if st.currency == UNKNOWN_CURRENCY and result.format == "qif":
            result.warnings.append(
                f"{result.file}: QIF files do not say their currency: amounts are stored with currency XXX "
                "(unknown); say it with --currency CODE"
            )
        frame = batch_frame(st.transactions)
        stats = load_batch(con, account_id, import_id, frame, result.currency)
        _record_rejects(con, import_id, st.rejected, result)
        result.read += stats.read + len(st.rejected)
        result.added += stats.added
        result.duplicate += stats.duplicate
        result.pending_matched += stats.pending_matched
        result.accounts.append(name)
        if st.ledger_balance is not None:
            as_of = st.ledger_date or (max(t["posted_date"] for t in st.transactions) if st.transactions else None)
            if as_of is not None:
                con.execute(
                    "INSERT INTO balances (account_id, as_of, amount, currency, source, import_id) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [account_id, as_of, st.ledger_balance, st.currency, result.format or "ofx", import_id],
                )
        if st.kind == "creditcard" and st.available_balance is not None and st.ledger_balance is not None:
            # Available credit plus what is owed is the card's limit.
            limit = st.available_balance + max(-st.ledger_balance, 0)
            if limit > 0:
                con.execute("UPDATE accounts SET credit_limit = ? WHERE account_id = ?", [limit, account_id])
        result.checks["statements"].append(
            {
                "account": name,
                "type": st.kind,
                "currency": st.currency,
                "transactions": stats.read,
                "ledger_balance": st.ledger_balance,
            }
        )


def _ofx_account_name(con: Any, st: Any, account: str | None, n_statements: int) -> str:
    tail = (st.account_id or "")[-4:]
    if account and n_statements == 1:
        return account.strip()
    if st.name:  # the file names its accounts (QIF !Account)
        return st.name.strip()
    if st.account_id:
        row = con.execute(
            "SELECT name FROM accounts WHERE external_id = ? ORDER BY account_id LIMIT 1", [st.account_id]
        ).fetchone()
        if row:
            return row[0]
    label = {"creditcard": "credit card", "investment": "investment"}.get(st.kind, (st.account_type or "bank").lower())
    # e.g. "First Test Bank checking 4567": typeable for --account, unique per account number.
    base = account.strip() if account else (st.org or "")
    name = " ".join(part for part in (base, label, tail) if part)
    return name[0].upper() + name[1:]


def _save_map(con: Any, options: ImportOptions, parsed: ParsedExport, account: str) -> str:
    from finanalytics_cli.privacy.keys import write_private_file

    if options.maps_dir is None:
        raise InvalidInput("no directory for saved maps")
    assert options.save_map is not None
    other = con.execute(
        "SELECT name FROM accounts WHERE csv_map = ? AND name <> ? ORDER BY name LIMIT 1", [options.save_map, account]
    ).fetchone()
    if other:
        raise InvalidInput(
            f"--save-map {options.save_map!r} is the saved map of account {other[0]!r}: choose another name "
            "(saving would change how that account's files are read)"
        )
    path = options.maps_dir / f"{options.save_map}.toml"
    if options.dry_run:  # a dry run stores nothing, not even the map
        return f"{path} (not written: --dry-run)"
    options.maps_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private_file(path, (parsed.map_toml or "").encode("utf-8"))
    con.execute("UPDATE accounts SET csv_map = ? WHERE name = ?", [options.save_map, account])
    return str(path)


# -- history and undo -------------------------------------------------------------------
def list_imports(con: Any) -> list[dict[str, Any]]:
    """The import history; ``warnings`` are the checks that disagreed when the file came in."""
    rows = con.execute(
        """
        SELECT i.import_id, i.created_at, i.source_name, i.source_format, coalesce(a.name, '(several)'),
               i.rows_read, i.rows_added, i.rows_duplicate, i.rows_rejected, i.status, i.undone_at, i.layout
        FROM imports i LEFT JOIN accounts a USING (account_id)
        WHERE i.status <> 'running' ORDER BY i.import_id
        """
    ).fetchall()
    keys = [
        "import_id",
        "imported_at",
        "file",
        "format",
        "account",
        "read",
        "added",
        "duplicate",
        "rejected",
        "status",
        "undone_at",
    ]
    out = []
    for r in rows:
        item = dict(zip(keys, r[:-1], strict=True))
        try:
            stored = json.loads(r[-1]) if r[-1] else {}
        except ValueError:
            stored = {}
        item["currency"] = stored.get("currency")
        item["warnings"] = stored.get("warnings") or []
        out.append(item)
    return out


def undo_import(store: Any, import_id: int, dry_run: bool = False) -> dict[str, Any]:
    """Remove everything one import added, restoring pending rows it replaced
    (``dry_run``: only count what would go)."""
    con = store.con
    row = con.execute("SELECT status, source_name FROM imports WHERE import_id = ?", [import_id]).fetchone()
    if row is None:
        raise InvalidInput(f"there is no import {import_id} (see `finanalytics import list`)")
    if row[0] == "undone":
        raise InvalidInput(f"import {import_id} ({row[1]}) was already undone")
    removed, labels = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE category_source IN ('user', 'user-flagged')) "
        "FROM transactions WHERE import_id = ?",
        [import_id],
    ).fetchone()
    restored = con.execute(
        "SELECT count(*) FROM superseded_transactions WHERE superseded_by_import = ?", [import_id]
    ).fetchone()[0]
    out = {
        "import_id": import_id,
        "file": row[1],
        "transactions_removed": int(removed),
        "labels_removed": int(labels),
        "pending_restored": int(restored),
    }
    if dry_run:
        return out
    with store.transaction():
        con.execute(
            """
            UPDATE transactions SET is_transfer = false, transfer_tx_id = NULL,
                   category = CASE WHEN category_source = 'transfer-match' THEN NULL ELSE category END,
                   category_source = CASE WHEN category_source = 'transfer-match' THEN NULL ELSE category_source END
            WHERE transfer_tx_id IN (SELECT tx_id FROM transactions WHERE import_id = ?)
              AND import_id IS DISTINCT FROM ?
            """,
            [import_id, import_id],
        )
        con.execute("DELETE FROM transactions WHERE import_id = ?", [import_id])
        col_list = ", ".join(transaction_columns(con))
        con.execute(
            f"INSERT INTO transactions ({col_list}) SELECT {col_list} FROM superseded_transactions "
            "WHERE superseded_by_import = ?",
            [import_id],
        )
        con.execute("DELETE FROM superseded_transactions WHERE superseded_by_import = ?", [import_id])
        con.execute("DELETE FROM balances WHERE import_id = ?", [import_id])
        con.execute("DELETE FROM rejected_rows WHERE import_id = ?", [import_id])
        con.execute(
            "UPDATE imports SET status = 'undone', undone_at = current_timestamp WHERE import_id = ?", [import_id]
        )
    return out
