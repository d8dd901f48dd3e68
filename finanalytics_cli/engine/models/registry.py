"""The model registry: versions, authenticated artifacts, experiments, deployments.

Artifacts live inside the encrypted store. Each is authenticated with an HMAC-SHA256
keyed from the store's data key; an artifact whose HMAC does not verify is never
unpickled (MODEL_UNAVAILABLE, and commands fall back to a heuristic, saying so).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from dataclasses import dataclass
from typing import Any

from finanalytics_cli.engine.errors import InvalidInput, ModelUnavailable

MODEL_TYPES = (
    "category_classifier",
    "anomaly_detector",
    "spending_predictor",
    "budget_optimizer",
    "risk_scorer",
    "goal_recommender",
)
ENVIRONMENTS = ("staging", "production")
STRATEGIES = ("immediate", "canary", "shadow")


def artifact_key(data_key: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"finanalytics-artifact-v1").derive(data_key)


_TAG_V1 = "hmac-sha256:"  # the artifact alone (before 2026-12): upgraded at open
_TAG = "hmac-sha256-v2:"  # the model id, its type and the artifact


def _sign_v1(key: bytes, blob: bytes) -> str:
    return _TAG_V1 + hmac.new(key, blob, hashlib.sha256).hexdigest()


def _sign(key: bytes, blob: bytes, model_id: int, model_type: str) -> str:
    """The artifact's tag, bound to its row: an artifact copied into another model's row
    (an old, poisoned version put in place of the deployed one) fails to verify."""
    bound = f"{model_id}\x00{model_type}\x00".encode() + blob
    return _TAG + hmac.new(key, bound, hashlib.sha256).hexdigest()


def check_model_type(model_type: str) -> str:
    if model_type not in MODEL_TYPES:
        raise InvalidInput(f"unknown model type {model_type!r}; valid types: {', '.join(MODEL_TYPES)}")
    return model_type


@dataclass(frozen=True)
class ModelInfo:
    model_id: int
    model_type: str
    version: int
    algorithm: str
    status: str
    created_at: Any
    data_from: Any
    data_to: Any
    metrics: dict[str, Any]
    deployed: str | None


def register_model(
    con: Any,
    data_key: bytes,
    *,
    model_type: str,
    algorithm: str,
    features: list[str],
    hyperparameters: dict[str, Any],
    metrics: dict[str, Any],
    validation: dict[str, Any],
    data_from: Any,
    data_to: Any,
    model: Any,
) -> int:
    import joblib

    buf = io.BytesIO()
    joblib.dump(model, buf, compress=3)
    blob = buf.getvalue()
    version = con.execute(
        "SELECT coalesce(max(version), 0) + 1 FROM ml_models WHERE model_type = ?", [model_type]
    ).fetchone()[0]
    model_id = int(
        con.execute(
            """
        INSERT INTO ml_models (model_type, version, algorithm, features, hyperparameters, metrics, validation,
                               data_from, data_to, artifact, artifact_sha256, artifact_hmac, status)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'registered') RETURNING model_id
        """,
            [
                model_type,
                version,
                algorithm,
                json.dumps(features),
                json.dumps(hyperparameters, default=str),
                json.dumps(metrics, default=str),
                json.dumps(validation, default=str),
                data_from,
                data_to,
                blob,
                hashlib.sha256(blob).hexdigest(),
                "",  # signed below, once the row has its id
            ],
        ).fetchone()[0]
    )
    tag = _sign(artifact_key(data_key), blob, model_id, model_type)
    con.execute("UPDATE ml_models SET artifact_hmac = ? WHERE model_id = ?", [tag, model_id])
    return model_id


def load_model(con: Any, data_key: bytes, model_id: int) -> Any:
    """The unpickled model, after its HMAC verifies; MODEL_UNAVAILABLE otherwise."""
    import joblib

    row = con.execute(
        "SELECT artifact, artifact_hmac, model_type FROM ml_models WHERE model_id = ?", [model_id]
    ).fetchone()
    if row is None or row[0] is None:
        raise ModelUnavailable(
            f"model {model_id} has no stored artifact", fallback_strategy="merchant table and keyword rules"
        )
    blob, tag, model_type = bytes(row[0]), row[1] or "", row[2]
    if not hmac.compare_digest(_sign(artifact_key(data_key), blob, model_id, model_type), tag):
        from finanalytics_cli.privacy.audit import log_event

        # An artifact that fails its check was altered or moved: the user's audit log says so.
        log_event(con, "model_auth_failed", {"model_id": model_id, "model_type": model_type})
        raise ModelUnavailable(
            f"model {model_id}'s artifact failed authentication and was not loaded",
            fallback_strategy="merchant table and keyword rules",
        )
    try:
        model = joblib.load(io.BytesIO(blob))
    except Exception as exc:  # noqa: BLE001 - a damaged or incompatible artifact: fall back
        raise ModelUnavailable(
            f"model {model_id}'s artifact could not be loaded ({type(exc).__name__})",
            fallback_strategy="merchant table and keyword rules",
        ) from None
    from finanalytics_cli.privacy.audit import log_event

    log_event(con, "model_load", {"model_id": model_id, "model_type": row[2]})
    return model


def _verifies(key: bytes, blob: bytes, model_id: int, model_type: str, tag: str) -> bool:
    if tag.startswith(_TAG):
        return hmac.compare_digest(_sign(key, blob, model_id, model_type), tag)
    return tag.startswith(_TAG_V1) and hmac.compare_digest(_sign_v1(key, blob), tag)


def resign_artifacts(con: Any, old_key: bytes, new_key: bytes) -> int:
    """Re-sign verified artifacts under a new data key (key rotation), bound to their rows;
    an artifact that does not verify keeps its tag (and stays unloadable)."""
    n = 0
    old, new = artifact_key(old_key), artifact_key(new_key)
    for model_id, model_type, blob, tag in con.execute(
        "SELECT model_id, model_type, artifact, artifact_hmac FROM ml_models WHERE artifact IS NOT NULL"
    ).fetchall():
        blob = bytes(blob)
        if _verifies(old, blob, model_id, model_type, tag or ""):
            con.execute(
                "UPDATE ml_models SET artifact_hmac = ? WHERE model_id = ?",
                [_sign(new, blob, model_id, model_type), model_id],
            )
            n += 1
    return n


def upgrade_artifact_tags(con: Any, data_key: bytes) -> int:
    """Artifacts tagged before the tag bound the model id and type get the bound tag (when
    their old tag verifies); run when a store opens for writing."""
    key = artifact_key(data_key)
    n = 0
    for model_id, model_type, blob, tag in con.execute(
        "SELECT model_id, model_type, artifact, artifact_hmac FROM ml_models "
        "WHERE artifact IS NOT NULL AND artifact_hmac LIKE 'hmac-sha256:%'"
    ).fetchall():
        blob = bytes(blob)
        if hmac.compare_digest(_sign_v1(key, blob), tag):
            con.execute(
                "UPDATE ml_models SET artifact_hmac = ? WHERE model_id = ?",
                [_sign(key, blob, model_id, model_type), model_id],
            )
            n += 1
    return n


def record_experiment(
    con: Any,
    *,
    name: str | None,
    model_type: str,
    model_id: int | None,
    parameters: dict[str, Any],
    metrics: dict[str, Any],
    duration_s: float,
) -> int:
    return int(
        con.execute(
            "INSERT INTO experiments (name, model_type, model_id, parameters, metrics, duration_s) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING experiment_id",
            [
                name,
                model_type,
                model_id,
                json.dumps(parameters, default=str),
                json.dumps(metrics, default=str),
                round(duration_s, 3),
            ],
        ).fetchone()[0]
    )


@dataclass(frozen=True)
class TrainOutcome:
    """What a training run registered (the category classifier adds its own details)."""

    model_id: int
    experiment_id: int
    version: int
    algorithm: str
    metrics: dict[str, Any]
    data_from: Any
    data_to: Any
    labels: int
    duration_s: float
    candidates: dict[str, Any]


def record_run(
    con: Any,
    *,
    name: str | None,
    model_type: str,
    model_id: int,
    parameters: dict[str, Any],
    metrics: dict[str, Any],
    duration_s: float,
) -> tuple[int, int]:
    """Record a training run's experiment; returns (experiment_id, the model's version)."""
    exp_id = record_experiment(
        con,
        name=name,
        model_type=model_type,
        model_id=model_id,
        parameters=parameters,
        metrics=metrics,
        duration_s=duration_s,
    )
    version = con.execute("SELECT version FROM ml_models WHERE model_id = ?", [model_id]).fetchone()[0]
    return exp_id, int(version)


def register_trained(
    store: Any,
    *,
    model_type: str,
    algorithm: str,
    features: list[str],
    params: dict[str, Any],
    metrics: dict[str, Any],
    validation: dict[str, Any],
    model: Any,
    data_from: Any,
    data_to: Any,
    rows: int,
    started: float,
    experiment: str | None,
    deploy_if_first: bool = False,
) -> TrainOutcome:
    """The end of a single-model training run: register the model, deploy it to production
    when ``deploy_if_first`` and nothing serves yet, record the run, and say what happened."""
    import time

    con = store.con
    model_id = register_model(
        con,
        store.keys.active,
        model_type=model_type,
        algorithm=algorithm,
        features=features,
        hyperparameters=params,
        metrics=metrics,
        validation=validation,
        data_from=data_from,
        data_to=data_to,
        model=model,
    )
    if deploy_if_first and serving(con, model_type).production is None:
        deploy(con, model_id, "production")
    duration = time.perf_counter() - started
    exp_id, version = record_run(
        con,
        name=experiment,
        model_type=model_type,
        model_id=model_id,
        parameters=params,
        metrics=metrics,
        duration_s=duration,
    )
    return TrainOutcome(model_id, exp_id, version, algorithm, metrics, data_from, data_to, rows, round(duration, 2), {})


def list_models(con: Any) -> list[ModelInfo]:
    rows = con.execute(
        """
        SELECT m.model_id, m.model_type, m.version, m.algorithm, m.status, m.created_at, m.data_from, m.data_to,
               m.metrics,
               (SELECT string_agg(d.environment || ':' || d.strategy || ' ' || CAST(d.traffic_pct AS INTEGER) || '%',
                                  ', ')
                FROM deployments d WHERE d.model_id = m.model_id AND d.status = 'active')
        FROM ml_models m ORDER BY m.model_type, m.version
        """
    ).fetchall()
    return [ModelInfo(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], json.loads(r[8] or "{}"), r[9]) for r in rows]


def get_model(con: Any, model_id: int) -> dict[str, Any]:
    row = con.execute(
        "SELECT model_id, model_type, version, algorithm, features, hyperparameters, metrics, validation, "
        "data_from, data_to, status, created_at, octet_length(artifact) FROM ml_models WHERE model_id = ?",
        [model_id],
    ).fetchone()
    if row is None:
        raise InvalidInput(f"there is no model {model_id} (see `finanalytics models list`)")
    keys = [
        "model_id",
        "model_type",
        "version",
        "algorithm",
        "features",
        "hyperparameters",
        "metrics",
        "validation",
        "data_from",
        "data_to",
        "status",
        "created_at",
        "artifact_bytes",
    ]
    out = dict(zip(keys, row, strict=True))
    for k in ("features", "hyperparameters", "metrics", "validation"):
        out[k] = json.loads(out[k] or "null")
    return out


# -- deployments ----------------------------------------------------------------------
def deploy(con: Any, model_id: int, environment: str, traffic: float = 100.0, strategy: str = "immediate") -> dict:
    if environment not in ENVIRONMENTS:
        raise InvalidInput(f"--env must be one of {', '.join(ENVIRONMENTS)}")
    if strategy not in STRATEGIES:
        raise InvalidInput(f"--strategy must be one of {', '.join(STRATEGIES)}")
    if not 0 <= traffic <= 100:
        raise InvalidInput(f"--traffic {traffic} is outside 0..100")
    model = get_model(con, model_id)
    mtype = model["model_type"]
    if strategy == "canary" and traffic >= 100:
        strategy = "immediate"  # a canary at 100% is a full rollout
    if strategy == "canary" and traffic <= 0:
        raise InvalidInput("a canary needs a traffic share above 0")
    if strategy in ("canary", "shadow") and environment == "production" and not _active(con, mtype, "immediate"):
        raise InvalidInput(f"a {strategy} needs a model already serving {mtype} in production; deploy one first")
    if strategy == "immediate":
        traffic = 100.0
        con.execute(
            "UPDATE deployments SET status = 'retired', retired_at = current_timestamp "
            "WHERE model_type = ? AND environment = ? AND status = 'active'",
            [mtype, environment],
        )
    else:
        con.execute(
            "UPDATE deployments SET status = 'retired', retired_at = current_timestamp "
            "WHERE model_type = ? AND environment = ? AND strategy = ? AND status = 'active'",
            [mtype, environment, strategy],
        )
    dep_id = con.execute(
        "INSERT INTO deployments (model_id, model_type, environment, strategy, traffic_pct) VALUES (?, ?, ?, ?, ?) "
        "RETURNING deployment_id",
        [model_id, mtype, environment, strategy, traffic],
    ).fetchone()[0]
    con.execute("UPDATE ml_models SET status = 'deployed' WHERE model_id = ?", [model_id])
    return {
        "deployment_id": dep_id,
        "model_id": model_id,
        "model_type": mtype,
        "environment": environment,
        "strategy": strategy,
        "traffic_pct": traffic,
    }


def _active(con: Any, model_type: str, strategy: str, environment: str = "production") -> list[tuple]:
    return con.execute(
        "SELECT deployment_id, model_id, traffic_pct FROM deployments WHERE model_type = ? AND environment = ? "
        "AND strategy = ? AND status = 'active' ORDER BY deployment_id DESC",
        [model_type, environment, strategy],
    ).fetchall()


@dataclass(frozen=True)
class Serving:
    production: int | None
    canary: tuple[int, float] | None
    shadow: int | None


def serving(con: Any, model_type: str) -> Serving:
    prod = _active(con, model_type, "immediate")
    canary = _active(con, model_type, "canary")
    shadow = _active(con, model_type, "shadow")
    return Serving(
        prod[0][1] if prod else None, (canary[0][1], canary[0][2]) if canary else None, shadow[0][1] if shadow else None
    )


def rollback(con: Any, model_type: str) -> dict:
    check_model_type(model_type)
    current = _active(con, model_type, "immediate")
    if not current:
        raise ModelUnavailable(f"nothing serves {model_type} in production: nothing to roll back")
    previous = con.execute(
        "SELECT deployment_id, model_id FROM deployments WHERE model_type = ? AND environment = 'production' "
        "AND strategy = 'immediate' AND status = 'retired' AND model_id <> ? ORDER BY deployment_id DESC LIMIT 1",
        [model_type, current[0][1]],
    ).fetchone()
    if previous is None:
        raise ModelUnavailable(f"no earlier production model of {model_type} to roll back to")
    con.execute(
        "UPDATE deployments SET status = 'rolled_back', retired_at = current_timestamp "
        "WHERE model_type = ? AND environment = 'production' AND status = 'active'",
        [model_type],
    )
    dep_id = con.execute(
        "INSERT INTO deployments (model_id, model_type, environment, strategy, traffic_pct) "
        "VALUES (?, ?, 'production', 'immediate', 100) RETURNING deployment_id",
        [previous[1], model_type],
    ).fetchone()[0]
    return {
        "model_type": model_type,
        "rolled_back_model_id": current[0][1],
        "now_serving_model_id": previous[1],
        "deployment_id": dep_id,
    }


def routes_to_canary(tx_id: int, traffic_pct: float) -> bool:
    """Deterministic canary routing: the same transaction always takes the same path."""
    digest = hashlib.sha256(f"canary|{tx_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 10_000 < traffic_pct * 100
