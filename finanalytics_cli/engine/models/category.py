"""The category classifier: merchant/memo text, amount, sign, dates and account -> category.

Text features are character n-grams (robust to store numbers, truncation and the many
spellings banks print) and word n-grams; numeric features come from the feature store.
Candidates (logistic regression; LightGBM when there is enough data) are compared on a
time-based hold-out, the best by macro-F1 is refit on every label, registered, and can be
deployed. Probabilities of the logistic model are calibrated by construction (log loss);
the hold-out's expected calibration error is reported.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from finanalytics_cli.engine.errors import InsufficientData, InvalidInput
from finanalytics_cli.engine.models.params import FIT_THREADS, parse_model_params

MODEL_TYPE = "category_classifier"
MIN_LABELS = 20
MIN_SUPPORT = 3  # labels a category needs before the model may predict it
MIN_CATEGORIES = 3  # categories with MIN_SUPPORT labels a model needs to serve
NUMERIC = ("log_abs_amount", "is_credit", "day_of_month", "weekday", "merchant_prior_count")
PARAMS: dict[str, tuple[type, Any, str]] = {
    "algorithm": (str, "auto", "auto | logreg | lightgbm"),
    "C": (float, 20.0, "inverse regularisation of the logistic model"),
    "min_df": (int, 1, "minimum documents per n-gram"),
    "char_ngram_max": (int, 5, "longest character n-gram"),
    "holdout": (float, 0.2, "share of the labelled period (the most recent) held out for validation"),
    "threshold": (float, 0.5, "confidence below which a prediction is not served"),
    "n_estimators": (int, 300, "LightGBM trees"),
}
_DIGITS = re.compile(r"\d+")
_PUNCT = re.compile(r"[^\w&]+")


def parse_params(pairs: list[str]) -> dict[str, Any]:
    out = parse_model_params(pairs, PARAMS, MODEL_TYPE)
    if out["algorithm"] not in ("auto", "logreg", "lightgbm"):
        raise InvalidInput("--param algorithm must be auto, logreg or lightgbm")
    if not 0.05 <= out["holdout"] <= 0.5:
        raise InvalidInput("--param holdout must be between 0.05 and 0.5")
    if not 0 <= out["threshold"] <= 1:
        raise InvalidInput("--param threshold must be between 0 and 1")
    return out


def normalise_text(payee: str | None, merchant: str | None, memo: str | None) -> str:
    text = f"{merchant or ''} | {payee or ''} | {memo or ''}".lower()
    return " ".join(_PUNCT.sub(" ", _DIGITS.sub(" ", text)).split())


class CategoryModel:
    """Vectoriser + classifier, picklable, with calibrated probabilities and explanations."""

    def __init__(self, algorithm: str, params: dict[str, Any]) -> None:
        self.algorithm = algorithm
        self.params = params
        self.classes_: list[str] = []

    # -- features -----------------------------------------------------------------
    def _texts(self, frame: Any) -> list[str]:
        return [
            normalise_text(p, m, o)
            for p, m, o in zip(
                frame["payee_raw"].to_list(), frame["merchant"].to_list(), frame["memo"].to_list(), strict=True
            )
        ]

    def _matrix(self, frame: Any, fit: bool) -> Any:
        import numpy as np
        from scipy import sparse

        texts = self._texts(frame)
        if fit:
            from sklearn.feature_extraction.text import TfidfVectorizer
            from sklearn.preprocessing import OneHotEncoder, StandardScaler

            self.char = TfidfVectorizer(
                analyzer="char_wb",
                ngram_range=(2, self.params["char_ngram_max"]),
                min_df=self.params["min_df"],
                sublinear_tf=True,
            )
            self.word = TfidfVectorizer(
                analyzer="word",
                ngram_range=(1, 2),
                min_df=self.params["min_df"],
                token_pattern=r"(?u)\b[^\W\d_]{2,}\b",
                sublinear_tf=True,
            )
            self.onehot = OneHotEncoder(handle_unknown="ignore")
            self.scaler = StandardScaler()
            parts = [self.char.fit_transform(texts), self.word.fit_transform(texts)]
        else:
            parts = [self.char.transform(texts), self.word.transform(texts)]
        from finanalytics_cli.engine.categories import keyword_categories

        # The built-in keyword rule's guess is a feature too: with few labels the model
        # learns when to trust it.
        keyword = [k or "-" for k in keyword_categories(frame["payee_raw"].to_list(), frame["memo"].to_list())]
        cats = np.array(
            [
                [str(a), str(c), k]
                for a, c, k in zip(frame["account_id"].to_list(), frame["currency"].to_list(), keyword, strict=True)
            ]
        )
        nums = np.column_stack([frame[c].fill_null(0).to_numpy().astype(float) for c in NUMERIC])
        nums[:, 4] = np.log1p(nums[:, 4])
        if fit:
            parts += [self.onehot.fit_transform(cats), sparse.csr_matrix(self.scaler.fit_transform(nums))]
        else:
            parts += [self.onehot.transform(cats), sparse.csr_matrix(self.scaler.transform(nums))]
        return sparse.hstack(parts).tocsr()

    def feature_names(self) -> list[str]:
        return (
            [f"char:{t}" for t in self.char.get_feature_names_out()]
            + [f"word:{t}" for t in self.word.get_feature_names_out()]
            + [f"onehot:{t}" for t in self.onehot.get_feature_names_out(["account", "currency", "keyword"])]
            + list(NUMERIC)
        )

    # -- fit / predict -----------------------------------------------------------------
    def fit(self, frame: Any, labels: list[str]) -> CategoryModel:
        x = self._matrix(frame, fit=True)
        weights = merchant_weights(frame)
        self.classes_ = sorted(set(labels))
        from collections import Counter

        self.support_ = dict(Counter(labels))  # labels per category: what the model may predict
        if self.algorithm == "lightgbm":
            import lightgbm as lgb

            self.clf = lgb.LGBMClassifier(
                n_estimators=self.params["n_estimators"],
                learning_rate=0.1,
                num_leaves=31,
                min_child_samples=3,
                colsample_bytree=0.5,
                n_jobs=FIT_THREADS,
                verbose=-1,
                random_state=7,
            )
            self.clf.fit(x.astype("float32"), labels, sample_weight=weights)
        else:
            from sklearn.linear_model import LogisticRegression

            self.clf = LogisticRegression(C=self.params["C"], max_iter=3000)
            self.clf.fit(x, labels, sample_weight=weights)
        self.classes_ = [str(c) for c in self.clf.classes_]
        return self

    def predict_proba(self, frame: Any) -> Any:
        x = self._matrix(frame, fit=False)
        if self.algorithm == "lightgbm":
            x = x.astype("float32")
        return self.clf.predict_proba(x)

    def predict(self, frame: Any) -> tuple[list[str], list[float]]:
        proba = self.predict_proba(frame)
        best = proba.argmax(axis=1)
        return [self.classes_[i] for i in best], [float(proba[r, i]) for r, i in enumerate(best)]

    def explain(self, frame: Any, top: int = 8) -> list[dict[str, Any]]:
        """For each row: the predicted category and the features that pushed it most."""
        import numpy as np

        x = self._matrix(frame, fit=False)
        names = self.feature_names()
        labels, confs = self.predict(frame)
        out = []
        for r in range(x.shape[0]):
            cls = self.classes_.index(labels[r])
            row = x.getrow(r)
            if self.algorithm == "lightgbm":
                contrib = self.clf.predict_proba(row.astype("float32"), pred_contrib=True)
                k = len(names) + 1
                weights = np.asarray(contrib)[0][cls * k : cls * k + len(names)] if contrib.ndim == 2 else contrib[0]
                scores = {names[i]: float(weights[i]) for i in row.indices}
            else:
                coef = self.clf.coef_[cls] if self.clf.coef_.shape[0] > 1 else self.clf.coef_[0]
                scores = {names[i]: float(coef[i] * v) for i, v in zip(row.indices, row.data, strict=True)}
            ranked = sorted(scores.items(), key=lambda kv: -kv[1])[:top]
            out.append(
                {
                    "category": labels[r],
                    "confidence": round(confs[r], 4),
                    "drivers": [{"feature": n, "weight": round(w, 4)} for n, w in ranked],
                }
            )
        return out


# -- training ---------------------------------------------------------------------------
@dataclass
class TrainResult:
    model_id: int
    experiment_id: int
    version: int
    algorithm: str
    metrics: dict[str, Any]
    candidates: dict[str, dict[str, Any]]
    baselines: dict[str, float]
    data_from: dt.date
    data_to: dt.date
    labels: int
    duration_s: float
    validation: dict[str, Any] = field(default_factory=dict)


MERCHANT_CAP_SHARE = 0.05
MERCHANT_CAP_MIN = 25


def merchant_weights(frame: Any) -> Any:
    """Sample weights that cap any one merchant's influence on training at the weight of
    max(25, 5% of the rows) transactions: a flood of labels on one merchant (a mistake or
    poisoning) cannot dominate the model."""
    import numpy as np

    keys = [
        (m or p or "").lower() for m, p in zip(frame["merchant"].to_list(), frame["payee_raw"].to_list(), strict=True)
    ]
    cap = max(MERCHANT_CAP_MIN, MERCHANT_CAP_SHARE * len(keys))
    counts: dict[str, int] = {}
    for k in keys:
        counts[k] = counts.get(k, 0) + 1
    return np.asarray([min(1.0, cap / counts[k]) for k in keys])


def labelled_frame(con: Any, date_from: dt.date | None = None, date_to: dt.date | None = None) -> Any:
    from finanalytics_cli.engine.features import ensure_features, feature_frame

    ensure_features(con)
    # The user's labels only: a rule's output is the rule's judgment, not ground truth, and a
    # model trained on three rules' outputs learns three categories and puts everything
    # else (rent, payroll) into them.
    where = ["t.category_source = 'user'", "t.category IS NOT NULL"]
    params: list[Any] = []
    if date_from:
        where.append("t.posted_date >= ?")
        params.append(date_from)
    if date_to:
        where.append("t.posted_date <= ?")
        params.append(date_to)
    return feature_frame(con, " AND ".join(where), params)


def evaluate(labels: list[str], predicted: list[str], confidence: list[float] | None = None) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    classes = sorted(set(labels) | set(predicted))
    p, r, f, s = precision_recall_fscore_support(labels, predicted, labels=classes, zero_division=0)
    out: dict[str, Any] = {
        "accuracy": round(float(accuracy_score(labels, predicted)), 4),
        "macro_f1": round(
            float(f1_score(labels, predicted, labels=sorted(set(labels)), average="macro", zero_division=0)), 4
        ),
        "n": len(labels),
        "per_class": {
            c: {
                "precision": round(float(p[i]), 3),
                "recall": round(float(r[i]), 3),
                "f1": round(float(f[i]), 3),
                "support": int(s[i]),
            }
            for i, c in enumerate(classes)
        },
    }
    if confidence is not None and labels:
        out["ece"] = round(_ece(labels, predicted, confidence), 4)
    return out


def _ece(labels: list[str], predicted: list[str], confidence: list[float], bins: int = 10) -> float:
    """Expected calibration error: |accuracy - confidence| averaged over confidence bins."""
    total = 0.0
    n = len(labels)
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, c in enumerate(confidence) if lo < c <= hi or (b == 0 and c == 0)]
        if idx:
            acc = sum(labels[i] == predicted[i] for i in idx) / len(idx)
            conf = sum(confidence[i] for i in idx) / len(idx)
            total += len(idx) / n * abs(acc - conf)
    return total


def baselines(train: Any, test: Any) -> dict[str, float]:
    from collections import Counter

    from finanalytics_cli.engine.categories import keyword_category

    truth = test["category"].to_list()
    majority = Counter(train["category"].to_list()).most_common(1)[0][0]
    kw = [
        keyword_category(p, m) or majority
        for p, m in zip(test["payee_raw"].to_list(), test["memo"].to_list(), strict=True)
    ]
    return {
        "majority": round(sum(t == majority for t in truth) / len(truth), 4),
        "keyword": round(sum(t == k for t, k in zip(truth, kw, strict=True)) / len(truth), 4),
    }


def _time_split(frame: Any, share: float) -> tuple[Any, Any]:
    cut = max(1, int(frame.height * (1 - share)))
    return frame.head(cut), frame.tail(frame.height - cut)


def train_category_classifier(
    store: Any,
    params: dict[str, Any],
    *,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    experiment: str | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> TrainResult:
    """Validate data, build features, train candidates, validate on time, register."""
    from finanalytics_cli.engine.models.registry import record_run, register_model

    stage = on_stage or (lambda s: None)
    started = time.perf_counter()
    con = store.con
    stage("features")
    frame = labelled_frame(con, date_from, date_to)
    from collections import Counter

    support = Counter(frame["category"].to_list())
    served = sorted(c for c, n in support.items() if n >= MIN_SUPPORT)
    if frame.height < MIN_LABELS or len(served) < MIN_CATEGORIES:
        raise InsufficientData(
            f"training the category classifier needs at least {MIN_LABELS} labels you gave, with {MIN_SUPPORT} or "
            f"more in each of at least {MIN_CATEGORIES} categories; the store has {frame.height} in "
            f"{len(support)} categories, {len(served)} with {MIN_SUPPORT}+ (a model that knows fewer categories "
            "would put every other transaction into them). Label with `finanalytics tx label` or import your "
            "past categories with --category-column; rules keep working without a model",
            details={"needed": MIN_LABELS, "have": frame.height, "categories_with_support": len(served)},
        )
    train, test = _time_split(frame, params["holdout"])
    algorithms = ["logreg", "lightgbm"] if params["algorithm"] == "auto" else [params["algorithm"]]
    if params["algorithm"] == "auto" and train.height < 300:
        algorithms = ["logreg"]  # boosting needs more data than a handful of labels
    candidates: dict[str, dict[str, Any]] = {}
    for algo in algorithms:
        stage(f"validate {algo}")
        t0 = time.perf_counter()
        model = CategoryModel(algo, params).fit(train, train["category"].to_list())
        predicted, conf = model.predict(test)
        metrics = evaluate(test["category"].to_list(), predicted, conf)
        metrics["fit_seconds"] = round(time.perf_counter() - t0, 2)
        candidates[algo] = metrics
    best = max(candidates, key=lambda a: (candidates[a]["macro_f1"], candidates[a]["accuracy"]))
    stage("folds")
    folds = _rolling_folds(frame, best, params)
    stage("fit")
    final = CategoryModel(best, params).fit(frame, frame["category"].to_list())
    importance = _importance(final)
    base = baselines(train, test)
    metrics = {k: v for k, v in candidates[best].items() if k != "per_class"}
    metrics.update(
        {
            "baseline_majority_accuracy": base["majority"],
            "baseline_keyword_accuracy": base["keyword"],
            "beats_baseline": metrics["accuracy"] > max(base.values()),
            # Labels per category; the model never serves a category with fewer than MIN_SUPPORT.
            "support": dict(sorted(support.items(), key=lambda kv: -kv[1])),
            "categories_served": len(served),
        }
    )
    validation = {
        "holdout": {"from": str(test["posted_date"].min()), "to": str(test["posted_date"].max()), "n": test.height},
        "per_class": candidates[best]["per_class"],
        "folds": folds,
        "candidates": {a: {k: v for k, v in m.items() if k != "per_class"} for a, m in candidates.items()},
        "feature_importance": importance,
    }
    stage("register")
    data_from, data_to = frame["posted_date"].min(), frame["posted_date"].max()
    model_id = register_model(
        con,
        store.keys.active,
        model_type=MODEL_TYPE,
        algorithm=best,
        features=["text:char_ngrams", "text:word_ngrams", "account", "currency", *NUMERIC],
        hyperparameters=params,
        metrics=metrics,
        validation=validation,
        data_from=data_from,
        data_to=data_to,
        model=final,
    )
    duration = time.perf_counter() - started
    exp_id, version = record_run(
        con,
        name=experiment,
        model_type=MODEL_TYPE,
        model_id=model_id,
        parameters=params,
        metrics=metrics,
        duration_s=duration,
    )
    return TrainResult(
        model_id,
        exp_id,
        version,
        best,
        metrics,
        candidates,
        base,
        data_from,
        data_to,
        frame.height,
        round(duration, 2),
        validation,
    )


def _rolling_folds(frame: Any, algorithm: str, params: dict[str, Any], k: int = 3) -> list[dict[str, Any]]:
    """Expanding-window folds over time: train on the past, validate on the next slice."""
    out = []
    n = frame.height
    for i in range(k):
        cut, end = int(n * (0.4 + 0.2 * i)), int(n * (0.6 + 0.2 * i))
        train, test = frame.head(cut), frame.slice(cut, end - cut)
        if train.height < MIN_LABELS or test.height == 0 or len(set(train["category"].to_list())) < 2:
            continue
        model = CategoryModel(algorithm, params).fit(train, train["category"].to_list())
        predicted, _ = model.predict(test)
        m = evaluate(test["category"].to_list(), predicted)
        out.append(
            {
                "fold": i + 1,
                "train_to": str(train["posted_date"].max()),
                "test_to": str(test["posted_date"].max()),
                "accuracy": m["accuracy"],
                "macro_f1": m["macro_f1"],
                "n": m["n"],
            }
        )
    return out


def _importance(model: CategoryModel, top: int = 20) -> list[dict[str, Any]]:
    import numpy as np

    names = model.feature_names()
    if model.algorithm == "lightgbm":
        weights = np.asarray(model.clf.feature_importances_, dtype=float)
    else:
        weights = np.abs(model.clf.coef_).max(axis=0)
    order = np.argsort(-weights)[:top]
    return [{"feature": names[i], "importance": round(float(weights[i]), 4)} for i in order]
