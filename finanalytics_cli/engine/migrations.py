"""Named, ordered schema migrations, recorded in ``schema_migrations``.

Append new migrations to :data:`MIGRATIONS`; never edit or reorder applied ones.
A store holding a migration this list does not know was written by a newer version.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from finanalytics_cli.engine.errors import SchemaTooNew

Migration = Callable[[Any], None]

MONEY = "DECIMAL(18,2)"


def m001_initial(con: Any) -> None:
    """The design's tables."""
    from finanalytics_cli.engine.taxonomy import taxonomy_rows

    statements = [
        "CREATE SEQUENCE seq_accounts START 1",
        "CREATE SEQUENCE seq_imports START 1",
        "CREATE SEQUENCE seq_transactions START 1",
        "CREATE SEQUENCE seq_rules START 1",
        "CREATE SEQUENCE seq_insights START 1",
        "CREATE SEQUENCE seq_models START 1",
        "CREATE SEQUENCE seq_deployments START 1",
        "CREATE SEQUENCE seq_experiments START 1",
        "CREATE SEQUENCE seq_predictions START 1",
        "CREATE SEQUENCE seq_goals START 1",
        "CREATE SEQUENCE seq_budgets START 1",
        "CREATE SEQUENCE seq_ledger START 1",
        """CREATE TABLE users (
            user_id VARCHAR PRIMARY KEY,
            display_name VARCHAR,
            base_currency VARCHAR(3) NOT NULL DEFAULT 'USD',
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
        """CREATE TABLE accounts (
            account_id INTEGER PRIMARY KEY DEFAULT nextval('seq_accounts'),
            user_id VARCHAR NOT NULL,
            name VARCHAR NOT NULL UNIQUE,
            institution VARCHAR,
            account_type VARCHAR NOT NULL DEFAULT 'checking',
            currency VARCHAR(3) NOT NULL DEFAULT 'USD',
            external_id VARCHAR,
            opening_balance DECIMAL(18,2) NOT NULL DEFAULT 0,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
        """CREATE TABLE imports (
            import_id INTEGER PRIMARY KEY DEFAULT nextval('seq_imports'),
            account_id INTEGER,
            source_name VARCHAR NOT NULL,
            source_sha256 VARCHAR NOT NULL,
            source_format VARCHAR NOT NULL,
            layout VARCHAR,
            rows_read INTEGER NOT NULL DEFAULT 0,
            rows_added INTEGER NOT NULL DEFAULT 0,
            rows_duplicate INTEGER NOT NULL DEFAULT 0,
            rows_rejected INTEGER NOT NULL DEFAULT 0,
            status VARCHAR NOT NULL DEFAULT 'done',
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            undone_at TIMESTAMP)""",
        """CREATE TABLE transactions (
            tx_id BIGINT PRIMARY KEY DEFAULT nextval('seq_transactions'),
            account_id INTEGER NOT NULL,
            import_id INTEGER,
            posted_date DATE NOT NULL,
            amount DECIMAL(18,2) NOT NULL,
            currency VARCHAR(3) NOT NULL,
            payee_raw VARCHAR,
            merchant VARCHAR,
            memo VARCHAR,
            category VARCHAR,
            category_source VARCHAR,
            category_confidence DOUBLE,
            fitid VARCHAR,
            fingerprint VARCHAR NOT NULL,
            occurrence INTEGER NOT NULL DEFAULT 0,
            is_pending BOOLEAN NOT NULL DEFAULT false,
            is_transfer BOOLEAN NOT NULL DEFAULT false,
            transfer_tx_id BIGINT,
            balance DECIMAL(18,2),
            raw_row VARCHAR,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
        "CREATE INDEX idx_tx_account_date ON transactions(account_id, posted_date)",
        """CREATE TABLE rejected_rows (
            import_id INTEGER NOT NULL,
            line_no INTEGER,
            reason VARCHAR NOT NULL,
            raw_row VARCHAR)""",
        """CREATE TABLE categories (
            name VARCHAR PRIMARY KEY,
            parent VARCHAR,
            is_essential BOOLEAN NOT NULL DEFAULT false,
            kind VARCHAR NOT NULL DEFAULT 'expense',
            is_builtin BOOLEAN NOT NULL DEFAULT false)""",
        """CREATE TABLE rules (
            rule_id INTEGER PRIMARY KEY DEFAULT nextval('seq_rules'),
            field VARCHAR NOT NULL DEFAULT 'merchant',
            pattern VARCHAR NOT NULL,
            category VARCHAR NOT NULL,
            priority INTEGER NOT NULL DEFAULT 100,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
        # The design's FinancialProfile.
        f"""CREATE TABLE financial_profiles (
            user_id VARCHAR PRIMARY KEY,
            monthly_income {MONEY},
            monthly_expenses {MONEY},
            currency VARCHAR(3) NOT NULL DEFAULT 'USD',
            savings_rate DOUBLE,
            emergency_fund_months DOUBLE,
            debt_to_income DOUBLE,
            risk_tolerance VARCHAR,
            financial_goals VARCHAR,
            updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
        # The design's FinancialInsight.
        """CREATE TABLE financial_insights (
            insight_id INTEGER PRIMARY KEY DEFAULT nextval('seq_insights'),
            user_id VARCHAR,
            insight_type VARCHAR NOT NULL,
            title VARCHAR NOT NULL,
            description VARCHAR NOT NULL,
            impact VARCHAR NOT NULL,
            confidence DOUBLE,
            actionable BOOLEAN NOT NULL DEFAULT true,
            recommendations VARCHAR,
            data VARCHAR,
            fingerprint VARCHAR,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            expires_at TIMESTAMP,
            dismissed_at TIMESTAMP)""",
        # The design's MLModel; artifacts live inside the encrypted store.
        """CREATE TABLE ml_models (
            model_id INTEGER PRIMARY KEY DEFAULT nextval('seq_models'),
            model_type VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            algorithm VARCHAR NOT NULL,
            features VARCHAR,
            hyperparameters VARCHAR,
            metrics VARCHAR,
            data_from DATE,
            data_to DATE,
            artifact BLOB,
            artifact_sha256 VARCHAR,
            status VARCHAR NOT NULL DEFAULT 'registered',
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            UNIQUE (model_type, version))""",
        """CREATE TABLE deployments (
            deployment_id INTEGER PRIMARY KEY DEFAULT nextval('seq_deployments'),
            model_id INTEGER NOT NULL,
            model_type VARCHAR NOT NULL,
            environment VARCHAR NOT NULL,
            strategy VARCHAR NOT NULL DEFAULT 'immediate',
            traffic_pct DOUBLE NOT NULL DEFAULT 100,
            status VARCHAR NOT NULL DEFAULT 'active',
            deployed_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            retired_at TIMESTAMP)""",
        """CREATE TABLE experiments (
            experiment_id INTEGER PRIMARY KEY DEFAULT nextval('seq_experiments'),
            name VARCHAR,
            model_type VARCHAR NOT NULL,
            model_id INTEGER,
            parameters VARCHAR,
            metrics VARCHAR,
            duration_s DOUBLE,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
        # The design's feature store: (name, value, timestamp, version) per entity.
        """CREATE TABLE features (
            entity_type VARCHAR NOT NULL,
            entity_id VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            value DOUBLE,
            value_text VARCHAR,
            ts TIMESTAMP NOT NULL,
            version INTEGER NOT NULL DEFAULT 1,
            computed_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
        """CREATE TABLE model_predictions (
            prediction_id BIGINT PRIMARY KEY DEFAULT nextval('seq_predictions'),
            model_id INTEGER,
            model_type VARCHAR NOT NULL,
            entity_type VARCHAR,
            entity_id VARCHAR,
            target_date DATE,
            value DOUBLE,
            lower_80 DOUBLE,
            upper_80 DOUBLE,
            lower_95 DOUBLE,
            upper_95 DOUBLE,
            confidence DOUBLE,
            payload VARCHAR,
            actual DOUBLE,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
        f"""CREATE TABLE goals (
            goal_id INTEGER PRIMARY KEY DEFAULT nextval('seq_goals'),
            name VARCHAR NOT NULL UNIQUE,
            target_amount {MONEY} NOT NULL,
            currency VARCHAR(3) NOT NULL DEFAULT 'USD',
            target_date DATE NOT NULL,
            priority INTEGER NOT NULL DEFAULT 3,
            account_id INTEGER,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
        f"""CREATE TABLE budgets (
            budget_id INTEGER PRIMARY KEY DEFAULT nextval('seq_budgets'),
            category VARCHAR NOT NULL,
            period VARCHAR NOT NULL DEFAULT 'month',
            amount {MONEY} NOT NULL,
            currency VARCHAR(3) NOT NULL DEFAULT 'USD',
            valid_from DATE NOT NULL,
            valid_to DATE,
            source VARCHAR,
            accepted_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
        """CREATE TABLE privacy_ledger (
            entry_id INTEGER PRIMARY KEY DEFAULT nextval('seq_ledger'),
            query VARCHAR NOT NULL,
            mechanism VARCHAR NOT NULL,
            epsilon DOUBLE NOT NULL,
            delta DOUBLE NOT NULL DEFAULT 0,
            bounds VARCHAR,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
        """CREATE TABLE audit_log (
            seq BIGINT PRIMARY KEY,
            ts TIMESTAMP NOT NULL DEFAULT current_timestamp,
            action VARCHAR NOT NULL,
            details VARCHAR,
            prev_hash VARCHAR NOT NULL,
            hash VARCHAR NOT NULL)""",
    ]
    for sql in statements:
        con.execute(sql)
    con.executemany(
        "INSERT INTO categories (name, parent, is_essential, kind, is_builtin) VALUES (?, ?, ?, ?, true)",
        taxonomy_rows(),
    )
    con.execute("INSERT INTO users (user_id, display_name) VALUES ('local', 'Local user')")


def m002_import_tracking(con: Any) -> None:
    """Saved CSV maps per account, balance anchors, and pending rows replaced on posting."""
    con.execute("ALTER TABLE accounts ADD COLUMN csv_map VARCHAR")
    # An ART index costs more on every bulk insert than it saves: DuckDB's zone maps
    # already prune by date for analytical scans.
    con.execute("DROP INDEX IF EXISTS idx_tx_account_date")
    con.execute(
        f"""CREATE TABLE balances (
            account_id INTEGER NOT NULL,
            as_of DATE NOT NULL,
            amount {MONEY} NOT NULL,
            currency VARCHAR(3) NOT NULL,
            source VARCHAR NOT NULL,
            import_id INTEGER,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"""
    )
    # A pending row that later posts is moved here (not deleted), so `import undo` of
    # the posting import can put it back.
    con.execute(
        "CREATE TABLE superseded_transactions AS SELECT *, NULL::BIGINT AS superseded_by_tx, "
        "NULL::INTEGER AS superseded_by_import, NULL::TIMESTAMP AS superseded_at FROM transactions WHERE false"
    )


def m003_models(con: Any) -> None:
    """Labels, rules with amount ranges, authenticated model artifacts."""
    con.execute("ALTER TABLE transactions ADD COLUMN labeled_at TIMESTAMP")
    con.execute("ALTER TABLE transactions ADD COLUMN category_model_id INTEGER")
    con.execute("ALTER TABLE superseded_transactions ADD COLUMN labeled_at TIMESTAMP")
    con.execute("ALTER TABLE superseded_transactions ADD COLUMN category_model_id INTEGER")
    con.execute(f"ALTER TABLE rules ADD COLUMN amount_min {MONEY}")
    con.execute(f"ALTER TABLE rules ADD COLUMN amount_max {MONEY}")
    con.execute("ALTER TABLE ml_models ADD COLUMN artifact_hmac VARCHAR")
    con.execute("ALTER TABLE ml_models ADD COLUMN validation VARCHAR")
    con.execute("CREATE INDEX idx_features_entity ON features(entity_type, entity_id, version)")


def m004_insights(con: Any) -> None:
    """Insight lifecycle (shown, dismissed, accepted) and a small key-value state."""
    con.execute("ALTER TABLE financial_insights ADD COLUMN accepted_at TIMESTAMP")
    con.execute("ALTER TABLE financial_insights ADD COLUMN shown_count INTEGER DEFAULT 0")
    con.execute("ALTER TABLE financial_insights ADD COLUMN subject VARCHAR")
    con.execute("ALTER TABLE financial_insights ADD COLUMN currency VARCHAR(3)")
    con.execute("ALTER TABLE financial_insights ADD COLUMN expected_impact DOUBLE")
    con.execute("ALTER TABLE financial_insights ADD COLUMN baseline_monthly DOUBLE")
    con.execute(
        "CREATE TABLE app_state (key VARCHAR PRIMARY KEY, value VARCHAR, updated_at TIMESTAMP "
        "NOT NULL DEFAULT current_timestamp)"
    )


def m005_planning(con: Any) -> None:
    """Goals remember what was saved outside a linked account; accepted budgets are grouped;
    cards keep their credit limit."""
    con.execute(f"ALTER TABLE goals ADD COLUMN saved_amount {MONEY} DEFAULT 0")
    con.execute("ALTER TABLE budgets ADD COLUMN budget_set VARCHAR")
    con.execute(f"ALTER TABLE accounts ADD COLUMN credit_limit {MONEY}")


def _md5_number_of_hex(column: str) -> str:
    """SQL: the md5_number() of an md5 hex text: the digest's bytes read little-endian."""
    rev = " || ".join(f"substr({column}, {31 - 2 * i}, 2)" for i in range(16))  # the bytes, last first
    return (
        f"((('0x' || substr({rev}, 1, 16))::UBIGINT::UHUGEINT << 64) "
        f"| ('0x' || substr({rev}, 17, 16))::UBIGINT::UHUGEINT)"
    )


def m006_transactions_unkeyed(con: Any) -> None:
    """``transactions`` without the PRIMARY KEY index on tx_id, and fingerprints as numbers.

    The index cost about a second of CPU per million imported rows (and its memory) and
    answered no query: DuckDB's zone maps prune the scans. Ids stay unique by
    construction: the store's only writer of rows (``loader.load_batch``, under the
    store's exclusive lock) numbers them after the largest id of ``transactions`` and
    ``superseded_transactions``; tests/engine/test_store.py checks it. A fingerprint is
    the same md5 as before, kept as its 128-bit number (``md5_number``) rather than 32
    hex characters: half the bytes, and no string compression to try on every insert.
    DuckDB cannot drop a key in place, so the table is rebuilt, in this migration's
    transaction."""
    con.execute(
        f"""CREATE TABLE transactions_m006 (
            tx_id BIGINT NOT NULL DEFAULT nextval('seq_transactions'),
            account_id INTEGER NOT NULL,
            import_id INTEGER,
            posted_date DATE NOT NULL,
            amount {MONEY} NOT NULL,
            currency VARCHAR(3) NOT NULL,
            payee_raw VARCHAR,
            merchant VARCHAR,
            memo VARCHAR,
            category VARCHAR,
            category_source VARCHAR,
            category_confidence DOUBLE,
            fitid VARCHAR,
            fingerprint UHUGEINT NOT NULL,
            occurrence INTEGER NOT NULL DEFAULT 0,
            is_pending BOOLEAN NOT NULL DEFAULT false,
            is_transfer BOOLEAN NOT NULL DEFAULT false,
            transfer_tx_id BIGINT,
            balance {MONEY},
            raw_row VARCHAR,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            labeled_at TIMESTAMP,
            category_model_id INTEGER)"""
    )
    con.execute(
        f"INSERT INTO transactions_m006 SELECT * REPLACE ({_md5_number_of_hex('fingerprint')} AS fingerprint) "
        "FROM transactions ORDER BY tx_id"
    )
    con.execute("DROP TABLE transactions")
    con.execute("ALTER TABLE transactions_m006 RENAME TO transactions")
    con.execute(
        "ALTER TABLE superseded_transactions ALTER COLUMN fingerprint TYPE UHUGEINT "
        f"USING {_md5_number_of_hex('fingerprint')}"
    )


def m008_mcc(con: Any) -> None:
    """A transaction keeps the merchant category code its file gave (OFX ``<SIC>``, an MCC
    column): the built-in merchant knowledge reads it before the descriptor."""
    con.execute("ALTER TABLE transactions ADD COLUMN mcc VARCHAR")
    con.execute("ALTER TABLE superseded_transactions ADD COLUMN mcc VARCHAR")


def m007_federated_rounds(con: Any) -> None:
    """The federated rounds this store sent an update to: a round (its nonce) gets one
    update only (a second with the same masks would reveal the difference of the two),
    and the date of the newest label sent marks which labels are still out-of-sample."""
    con.execute(
        """CREATE TABLE federated_rounds (
            round_nonce VARCHAR PRIMARY KEY,
            round_name VARCHAR NOT NULL,
            round_digest VARCHAR NOT NULL,
            labels INTEGER NOT NULL,
            labels_until DATE,
            epsilon DOUBLE NOT NULL,
            exported_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"""
    )


MIGRATIONS: list[tuple[str, Migration]] = [
    ("m001_initial", m001_initial),
    ("m002_import_tracking", m002_import_tracking),
    ("m003_models", m003_models),
    ("m004_insights", m004_insights),
    ("m005_planning", m005_planning),
    ("m006_transactions_unkeyed", m006_transactions_unkeyed),
    ("m007_federated_rounds", m007_federated_rounds),
    ("m008_mcc", m008_mcc),
]

SCHEMA_VERSION = len(MIGRATIONS)


def applied_migrations(con: Any) -> list[str]:
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_migrations' "
        "AND database_name = current_database()"
    ).fetchone()[0]
    if not exists:
        return []
    return [r[0] for r in con.execute("SELECT name FROM schema_migrations ORDER BY version").fetchall()]


def pending_migrations(con: Any) -> list[tuple[int, str, Migration]]:
    """Migrations still to apply; SCHEMA_TOO_NEW when the store knows more than we do."""
    applied = applied_migrations(con)
    known = [name for name, _ in MIGRATIONS]
    unknown = [name for name in applied if name not in known]
    if unknown or len(applied) > len(known):
        raise SchemaTooNew(
            f"this store has schema version {len(applied)} (newest migration {applied[-1]!r}); "
            f"this finanalytics knows up to {len(known)}: upgrade finanalytics to open it",
            details={"store_schema_version": len(applied), "supported_schema_version": len(known)},
        )
    return [(i + 1, name, fn) for i, (name, fn) in enumerate(MIGRATIONS) if name not in applied]


def migrate(con: Any) -> list[str]:
    """Apply pending migrations, each in its own transaction. Returns their names."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "name VARCHAR NOT NULL UNIQUE, applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
    )
    done = []
    for version, name, fn in pending_migrations(con):
        con.execute("BEGIN TRANSACTION")
        try:
            fn(con)
            con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name])
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):  # the first error is the one to report
                con.execute("ROLLBACK")
            raise
        done.append(name)
    return done
