"""`models train | list | performance | deploy | rollback | monitor`."""

from __future__ import annotations

from typing import Literal

import typer

from finanalytics_cli.commands._common import open_store, parse_period
from finanalytics_cli.output import Result, emit, message, stage_status, warn

# What each training stage is doing, for the spinner (a bar of fixed steps stopped at 60%).
STAGE_WORDS = {
    "features": "building the features",
    "validate": "validating on later data",
    "folds": "cross-validating over time",
    "fit": "fitting the model",
    "register": "registering the model",
    "forecast": "forecasting",
}

app = typer.Typer(
    help=(
        "Train, inspect, deploy, roll back and monitor the models trained on this machine."
        "\n\nExample: finanalytics models train category_classifier"
    ),
    no_args_is_help=True,
)


@app.command("train")
def train(
    model_type: str = typer.Argument(..., metavar="TYPE", help="The model type, e.g. category_classifier."),
    date_from: str = typer.Option(None, "--from", help="Train on data from this date (YYYY-MM-DD)."),
    date_to: str = typer.Option(None, "--to", help="Train on data up to this date (YYYY-MM-DD)."),
    param: list[str] = typer.Option([], "--param", help="KEY=VALUE, repeatable (see the error for valid keys)."),
    experiment: str = typer.Option(None, "--experiment", help="Name the experiment this run belongs to."),
    if_drift: bool = typer.Option(False, "--if-drift", help="Retrain only when `models monitor` advises it."),
    deploy_to: Literal["staging", "production"] | None = typer.Option(
        None, "--deploy", help="Deploy the new model right away: staging|production."
    ),
) -> None:
    """Train a model on this store's data, validate it on a time-based hold-out, register it.

    Example: finanalytics models train category_classifier --param C=10 --experiment tuning
    """
    from finanalytics_cli.engine.models import anomaly, category, planning, risk, spending
    from finanalytics_cli.engine.models.monitor import monitor
    from finanalytics_cli.engine.models.registry import check_model_type, deploy

    check_model_type(model_type)
    trainers = {
        "category_classifier": (category.parse_params, category.train_category_classifier),
        "anomaly_detector": (anomaly.parse_params, anomaly.train_anomaly_detector),
        "spending_predictor": (spending.parse_params, spending.train_spending_predictor),
        "risk_scorer": (risk.parse_params, risk.train_risk_scorer),
        "goal_recommender": (planning.parse_goal_params, planning.train_goal_recommender),
        "budget_optimizer": (planning.parse_budget_params, planning.train_budget_optimizer),
    }
    parse_params, trainer = trainers[model_type]
    params = parse_params(param)
    start, end = parse_period(date_from, date_to)
    reasons: list[str] | None = None
    with open_store() as store:
        if if_drift:
            report = monitor(store, model_type)
            if not report.retrain_advised:
                message("No retraining needed: no drift, accuracy holds.")
                emit(Result("models train", {"trained": False, "reasons": []}, meta={"if_drift": True}))
                return
            reasons = report.reasons
            message("Retraining: " + "; ".join(reasons))
        with stage_status(f"Training {model_type}") as show:

            def on_stage(stage: str) -> None:
                show(f"Training {model_type}: {STAGE_WORDS.get(stage, stage)}")

            with store.transaction():
                result = trainer(store, params, date_from=start, date_to=end, experiment=experiment, on_stage=on_stage)
                gate_failed = model_type == "category_classifier" and not result.metrics.get("beats_baseline", True)
                deploy_now = deploy_to and not (gate_failed and deploy_to == "production")
                deployed = deploy(store.con, result.model_id, deploy_to) if deploy_now else None
    summary = f"Registered {model_type} v{result.version} (model {result.model_id}, {result.algorithm})"
    if "accuracy" in result.metrics:
        summary += (
            f": accuracy {result.metrics['accuracy']:.1%}, macro-F1 {result.metrics['macro_f1']:.1%} on the hold-out"
        )
    message(summary + ".")
    if deploy_to == "production" and deployed is None:
        warn(
            f"not deployed: the model is {result.metrics.get('gate')}; categories stay as they are. "
            f"`finanalytics models deploy {result.model_id} --env production` deploys it anyway."
        )
    data = {
        "trained": True,
        "model_id": result.model_id,
        "version": result.version,
        "algorithm": result.algorithm,
        "labels": result.labels,
        "data_from": result.data_from,
        "data_to": result.data_to,
        "metrics": result.metrics,
        "candidates": {a: {k: v for k, v in m.items() if k != "per_class"} for a, m in result.candidates.items()},
        "experiment_id": result.experiment_id,
        "duration_s": result.duration_s,
        "deployment": deployed,
    }
    if reasons is not None:
        data["reasons"] = reasons
    emit(Result("models train", data, meta={"if_drift": True} if reasons is not None else {}))


@app.command("list")
def list_models() -> None:
    """List registered models with their versions, metrics and deployments.

    Example: finanalytics models list
    """
    from finanalytics_cli.engine.models.registry import list_models as _list

    with open_store(readonly=True) as store:
        rows = [
            {
                "model_id": m.model_id,
                "type": m.model_type,
                "version": m.version,
                "algorithm": m.algorithm,
                "accuracy": m.metrics.get("accuracy"),
                "macro_f1": m.metrics.get("macro_f1"),
                "data": f"{m.data_from} .. {m.data_to}",
                "created_at": m.created_at,
                "deployed": m.deployed or "",
            }
            for m in _list(store.con)
        ]
    emit(Result("models list", rows, title="Models"))


@app.command("performance")
def performance(model_id: int = typer.Argument(..., metavar="MODEL_ID")) -> None:
    """Metrics, per-fold validation, per-class precision/recall and feature importance.

    Example: finanalytics models performance 1
    """
    from finanalytics_cli.engine.models.category import readable_feature
    from finanalytics_cli.engine.models.registry import get_model

    with open_store(readonly=True) as store:
        info = get_model(store.con, model_id)
    validation = info.pop("validation") or {}
    per_class = [{"category": c, **v} for c, v in (validation.get("per_class") or {}).items()]
    data = {
        **{
            k: info[k]
            for k in (
                "model_id",
                "model_type",
                "version",
                "algorithm",
                "data_from",
                "data_to",
                "status",
                "created_at",
                "artifact_bytes",
            )
        },
        "metrics": info["metrics"],
        "hyperparameters": info["hyperparameters"],
        "holdout": validation.get("holdout"),
        "candidates": validation.get("candidates"),
        "folds": validation.get("folds", []),
        "per_class": per_class,
        # Models trained before features had readable names show them readable too.
        "feature_importance": [
            {**f, "feature": readable_feature(str(f.get("feature", "")))}
            for f in validation.get("feature_importance", [])
        ],
    }
    emit(Result("models performance", data, title=f"Model {model_id}"))


@app.command("deploy")
def deploy_cmd(
    model_id: int = typer.Argument(..., metavar="MODEL_ID"),
    env: Literal["staging", "production"] = typer.Option(..., "--env", help="staging or production."),
    traffic: float = typer.Option(100.0, "--traffic", help="Share of transactions (0-100) for a canary."),
    strategy: Literal["immediate", "canary", "shadow"] = typer.Option(
        "immediate", "--strategy", help="immediate | canary | shadow."
    ),
) -> None:
    """Deploy a model: immediately, as a canary on a share of transactions, or in shadow.

    Example: finanalytics models deploy 2 --env production --strategy canary --traffic 20
    """
    from finanalytics_cli.engine.models.registry import deploy

    with open_store() as store, store.transaction():
        data = deploy(store.con, model_id, env, traffic, strategy)
    message(f"Model {model_id} deployed to {data['environment']} ({data['strategy']}, {data['traffic_pct']:g}%).")
    emit(Result("models deploy", data))


@app.command("rollback")
def rollback_cmd(model_type: str = typer.Argument(..., metavar="TYPE")) -> None:
    """Put the previous production model of TYPE back in service.

    Example: finanalytics models rollback category_classifier
    """
    from finanalytics_cli.engine.models.registry import rollback

    with open_store() as store, store.transaction():
        data = rollback(store.con, model_type)
    emit(Result("models rollback", data))


@app.command("monitor")
def monitor_cmd() -> None:
    """Data drift (PSI), accuracy on labels given since training, confidence; advice.

    Example: finanalytics models monitor --json
    """
    from finanalytics_cli.engine.forecast import forecast_accuracy
    from finanalytics_cli.engine.models.monitor import monitor_all

    with open_store() as store:  # writable: the features of rows imported since are computed and kept
        reports = monitor_all(store)
        forecasts = forecast_accuracy(store.con)
    rows = [*reports, {"model_type": "spending_predictor", "forecast_error": forecasts}]
    emit(Result("models monitor", rows, title="Model monitoring"))
