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
_NUMERIC_WORDS = {
    "log_abs_amount": "amount (size)",
    "is_credit": "money in",
    "day_of_month": "day of the month",
    "weekday": "weekday",
    "merchant_prior_count": "times the merchant was seen before",
}


def readable_feature(name: str) -> str:
    """A model feature as a person reads it: 'text "uber"', 'keyword rule: Dining',
    'currency: USD', 'account #1', 'money in' (names already readable stay as they are)."""
    kind, sep, rest = name.partition(":")
    if sep and kind == "char":
        return f'text "{rest}"'
    if sep and kind == "word":
        return f'word "{rest}"'
    if sep and kind == "onehot":
        field_, _, value = rest.partition("_")
        if field_ == "keyword":
            return "keyword rule: " + ("none" if value in ("-", "") else value)
        if field_ == "account":
            return f"account #{value}"
        return f"{field_}: {value}"
    return _NUMERIC_WORDS.get(name, name)


PARAMS: dict[str, tuple[type, Any, str]] = {
    "algorithm": (str, "auto", "auto | logreg | lightgbm"),
    "C": (float, 20.0, "inverse regularisation of the logistic model"),
    "min_df": (int, 1, "minimum documents per n-gram"),
    "char_ngram_max": (int, 5, "longest character n-gram"),
    "holdout": (float, 0.2, "share of the labeled period (the most recent) held out for validation"),
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


CHAR_FEATURES = 2**18  # hashed character n-grams
WORD_FEATURES = 2**16  # hashed word uni- and bigrams


def normalised_texts(frame: Any) -> Any:
    """``normalise_text`` of every row, vectorised (a polars String Series)."""
    import polars as pl

    cols = [pl.col(c).cast(pl.String).fill_null("") for c in ("merchant", "payee_raw", "memo")]
    return frame.select(
        pl.concat_str([cols[0], pl.lit(" | "), cols[1], pl.lit(" | "), cols[2]])
        .str.to_lowercase()
        # digits, then every run of non-word characters to one space: one regex pass
        .str.replace_all(r"(?:[^\w&]|\d)+", " ")
        .str.strip_chars(" ")
        .alias("text")
    ).to_series()


@dataclass
class RawFeatures:
    """What a row contributes before anything is fitted: hashed n-gram counts (stateless),
    the categorical columns and the numeric ones. Texts repeat (a merchant's receipts, store
    numbers aside), so the n-grams are hashed once per distinct text: ``counts`` has a row
    per distinct text and ``inverse`` maps each row to its text. Built once per training
    run and sliced for the hold-out, the folds and the final fit."""

    counts: Any
    inverse: Any
    cats: Any  # object array (for the one-hot encoder)
    nums: Any
    cat_frame: Any  # the same categorical columns as a polars frame (fast lookups)

    def rows(self, start: int, stop: int) -> RawFeatures:
        return RawFeatures(
            self.counts,
            self.inverse[start:stop],
            self.cats[start:stop],
            self.nums[start:stop],
            self.cat_frame.slice(start, stop - start),
        )

    def take(self, idx: Any) -> RawFeatures:
        return RawFeatures(self.counts, self.inverse[idx], self.cats[idx], self.nums[idx], self.cat_frame[idx])

    def __len__(self) -> int:
        return len(self.inverse)


def _hashers(char_ngram_max: int) -> tuple[Any, Any]:
    from sklearn.feature_extraction.text import HashingVectorizer

    char = HashingVectorizer(
        analyzer="char_wb",
        ngram_range=(2, char_ngram_max),
        n_features=CHAR_FEATURES,
        alternate_sign=False,
        norm=None,
    )
    word = HashingVectorizer(
        analyzer="word",
        ngram_range=(1, 2),
        n_features=WORD_FEATURES,
        alternate_sign=False,
        norm=None,
        token_pattern=r"(?u)\b[^\W\d_]{2,}\b",
    )
    return char, word


KEYWORD_COLUMN = "keyword_guess"  # a feature frame's column with the keyword rules' guess, when computed already


def raw_features(frame: Any, char_ngram_max: int = 5) -> RawFeatures:
    import numpy as np
    import polars as pl
    from scipy import sparse

    from finanalytics_cli.engine.categories import keyword_series

    texts = normalised_texts(frame)
    distinct = texts.unique().sort()
    # each row's index among the sorted distinct texts
    inverse = texts.replace_strict(distinct, pl.int_range(distinct.len(), eager=True), return_dtype=pl.Int64)
    inverse = inverse.to_numpy()
    char, word = _hashers(char_ngram_max)
    distinct_texts = distinct.to_list()
    counts = sparse.hstack([char.transform(distinct_texts), word.transform(distinct_texts)]).tocsr()
    # The built-in keyword rule's guess is a feature too: with few labels the model
    # learns when to trust it.
    if KEYWORD_COLUMN in frame.columns:
        keyword = frame[KEYWORD_COLUMN]
    else:
        keyword = keyword_series(frame["payee_raw"], frame["memo"])
    cat_frame = pl.DataFrame(
        {
            "account": frame["account_id"].cast(pl.String).fill_null("None"),
            "currency": frame["currency"].cast(pl.String).fill_null("None"),
            "keyword": keyword.fill_null("-"),
        }
    )
    cats = np.column_stack([cat_frame[c].to_numpy().astype(object) for c in cat_frame.columns]).reshape(-1, 3)
    nums = np.column_stack([frame[c].fill_null(0).to_numpy().astype(float) for c in NUMERIC]).reshape(-1, len(NUMERIC))
    nums[:, 4] = np.log1p(nums[:, 4])
    return RawFeatures(counts, inverse.reshape(-1), cats, nums, cat_frame)


class CategoryModel:
    """Hashed n-grams + categorical + numeric features -> a logistic model (trained by
    stochastic gradient descent: seconds for 100,000 labels) or LightGBM. Picklable, with
    probabilities and explanations."""

    def __init__(self, algorithm: str, params: dict[str, Any]) -> None:
        self.algorithm = algorithm
        self.params = params
        self.classes_: list[str] = []
        self.hashed = True

    # -- storage ------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """Pickled with the logistic weights sparse: of the 300,000 hashed n-gram columns
        only those of the training texts are non-zero (SGD's L2 decay keeps a zero weight
        zero), so the artifact loads in milliseconds instead of inflating 80 MB."""
        import copy

        import numpy as np
        from scipy import sparse

        state = self.__dict__.copy()
        clf = state.get("clf")
        coef = getattr(clf, "coef_", None)
        if isinstance(coef, np.ndarray) and coef.ndim == 2:
            clf = copy.copy(clf)
            clf.coef_ = sparse.csr_matrix(coef)
            state["clf"], state["sparse_coef"] = clf, True
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state.pop("sparse_coef", False):
            state["clf"].coef_ = state["clf"].coef_.toarray()
        self.__dict__.update(state)

    # -- features -----------------------------------------------------------------
    def _matrix(self, frame: Any, fit: bool, raw: RawFeatures | None = None) -> Any:
        from scipy import sparse

        if not getattr(self, "hashed", False):
            return self._legacy_matrix(frame)
        raw = raw if raw is not None else raw_features(frame, self.params["char_ngram_max"])
        if fit:
            from sklearn.feature_extraction.text import TfidfTransformer
            from sklearn.preprocessing import OneHotEncoder, StandardScaler

            self.tfidf = TfidfTransformer(sublinear_tf=True).fit(raw.counts[raw.inverse])
            self.onehot = OneHotEncoder(handle_unknown="ignore").fit(raw.cats)
            self.scaler = StandardScaler().fit(raw.nums)
        parts = [
            self.tfidf.transform(raw.counts)[raw.inverse],
            self.onehot.transform(raw.cats),
            sparse.csr_matrix(self.scaler.transform(raw.nums)),
        ]
        return sparse.hstack(parts).tocsr()

    def _linear_best(self, raw: RawFeatures, chunk: int = 200_000) -> tuple[Any, Any]:
        """The logistic model's best class and its probability per row, without building
        the row matrix: the text part of the score is computed once per distinct text, the
        one-hot part is a row of weights looked up per category value, the numeric part per
        row, in chunks (a million rows in about a second)."""
        import numpy as np
        import polars as pl
        from scipy import sparse
        from scipy.special import expit

        coef, intercept = self.clf.coef_, self.clf.intercept_
        n_text = self.tfidf.idf_.shape[0]
        # Only the n-gram columns these texts have: a small product, not the whole weight matrix.
        x = self.tfidf.transform(raw.counts).tocsr()
        used = np.unique(x.indices)
        x = sparse.csr_matrix((x.data, np.searchsorted(used, x.indices), x.indptr), shape=(x.shape[0], len(used)))
        text_scores = np.asarray(x @ np.ascontiguousarray(coef[:, used].T))
        # Per categorical column: each row's index among the encoder's categories (a value
        # it never saw points at a row of zeros, as handle_unknown="ignore" encodes it).
        lookups, offset = [], n_text
        for j, values in enumerate(self.onehot.categories_):
            weights = np.vstack([coef[:, offset : offset + len(values)].T, np.zeros((1, coef.shape[0]))])
            offset += len(values)
            codes = raw.cat_frame.to_series(j).replace_strict(
                [str(v) for v in values], list(range(len(values))), default=len(values), return_dtype=pl.Int64
            )
            lookups.append((weights, codes.to_numpy()))
        best = np.empty(len(raw), dtype=np.int64)
        proba = np.empty(len(raw))
        for lo in range(0, len(raw), chunk):
            hi = min(len(raw), lo + chunk)
            part = raw.rows(lo, hi)
            d = text_scores[part.inverse]
            for weights, codes in lookups:
                d += weights[codes[lo:hi]]
            d += self.scaler.transform(part.nums) @ coef[:, offset:].T
            d += intercept
            if coef.shape[0] == 1:  # two classes: one decision function
                p1 = expit(d[:, 0])
                best[lo:hi] = p1 > 0.5
                proba[lo:hi] = np.where(p1 > 0.5, p1, 1 - p1)
            else:  # one-vs-rest probabilities, normalised (what SGDClassifier.predict_proba does)
                e = expit(d, out=d)
                top = e.argmax(axis=1)  # of the probabilities, as predict_proba's (ties alike)
                best[lo:hi] = top
                proba[lo:hi] = e[np.arange(hi - lo), top] / e.sum(axis=1)
        return best, proba

    def _legacy_matrix(self, frame: Any) -> Any:
        """Models registered before hashing (fitted TF-IDF vocabularies) still predict."""
        import numpy as np
        from scipy import sparse

        from finanalytics_cli.engine.categories import keyword_categories

        texts = [
            normalise_text(p, m, o)
            for p, m, o in zip(
                frame["payee_raw"].to_list(), frame["merchant"].to_list(), frame["memo"].to_list(), strict=True
            )
        ]
        keyword = [k or "-" for k in keyword_categories(frame["payee_raw"].to_list(), frame["memo"].to_list())]
        cats = np.array(
            [
                [str(a), str(c), k]
                for a, c, k in zip(frame["account_id"].to_list(), frame["currency"].to_list(), keyword, strict=True)
            ]
        )
        nums = np.column_stack([frame[c].fill_null(0).to_numpy().astype(float) for c in NUMERIC])
        nums[:, 4] = np.log1p(nums[:, 4])
        parts = [self.char.transform(texts), self.word.transform(texts)]
        parts += [self.onehot.transform(cats), sparse.csr_matrix(self.scaler.transform(nums))]
        return sparse.hstack(parts).tocsr()

    def _names(self, texts: list[str]) -> dict[int, str]:
        """Column index -> a readable name: the n-grams of ``texts`` that hash there, then
        the one-hot and numeric columns."""
        if not getattr(self, "hashed", False):
            names = (
                [f"char:{t}" for t in self.char.get_feature_names_out()]
                + [f"word:{t}" for t in self.word.get_feature_names_out()]
                + [f"onehot:{t}" for t in self.onehot.get_feature_names_out(["account", "currency", "keyword"])]
                + list(NUMERIC)
            )
            return dict(enumerate(names))
        from sklearn.feature_extraction.text import HashingVectorizer

        char, word = _hashers(self.params["char_ngram_max"])
        out: dict[int, str] = {}
        for vec, kind, offset in ((char, "char", 0), (word, "word", CHAR_FEATURES)):
            analyse = vec.build_analyzer()
            grams = sorted({g for t in texts for g in analyse(t)})
            if grams:
                # Each gram hashed as one token, by the same hasher: its column.
                one = HashingVectorizer(analyzer=lambda g: [g], n_features=vec.n_features, alternate_sign=False)
                m = one.transform(grams).tocsr()
                for i, g in enumerate(grams):
                    out.setdefault(offset + int(m.indices[m.indptr[i]]), f"{kind}:{g}")
        base = CHAR_FEATURES + WORD_FEATURES
        extra = list(self.onehot.get_feature_names_out(["account", "currency", "keyword"]))
        for i, n in enumerate(extra):
            out[base + i] = f"onehot:{n}"
        for i, n in enumerate(NUMERIC):
            out[base + len(extra) + i] = n
        return out

    # -- fit / predict -----------------------------------------------------------------
    def fit(self, frame: Any, labels: list[str], raw: RawFeatures | None = None) -> CategoryModel:
        """Fit on ``frame``'s rows, each merchant's influence capped (``merchant_weights``);
        a merchant with many labels is represented by a weighted sample of its rows
        (``training_sample``), so 100,000 labels train in seconds."""
        from collections import Counter

        self.support_ = dict(Counter(labels))  # labels per category: what the model may predict
        raw = raw if raw is not None else raw_features(frame, self.params["char_ngram_max"])
        idx, weights = training_sample(frame, labels)
        frame, raw, labels = frame[idx], raw.take(idx), [labels[i] for i in idx]
        x = self._matrix(frame, fit=True, raw=raw)
        self.classes_ = sorted(set(labels))
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
            from sklearn.linear_model import SGDClassifier

            # Logistic loss, L2 penalty equivalent to LogisticRegression(C): alpha = 1 / (C n).
            self.clf = SGDClassifier(
                loss="log_loss",
                alpha=1.0 / (self.params["C"] * max(1.0, float(weights.sum()))),
                max_iter=SGD_EPOCHS,
                tol=1e-3,
                random_state=7,
            )
            import warnings

            from sklearn.exceptions import ConvergenceWarning

            with warnings.catch_warnings():
                # A few epochs are enough for a calibrated hold-out (measured); not converging
                # to the last decimal is expected, and the hold-out says how good it is.
                warnings.simplefilter("ignore", ConvergenceWarning)
                self.clf.fit(x, labels, sample_weight=weights)
        self.classes_ = [str(c) for c in self.clf.classes_]
        return self

    def predict_proba(self, frame: Any, raw: RawFeatures | None = None) -> Any:
        x = self._matrix(frame, fit=False, raw=raw)
        if self.algorithm == "lightgbm":
            x = x.astype("float32")
        return self.clf.predict_proba(x)

    def predict(self, frame: Any, raw: RawFeatures | None = None) -> tuple[list[str], list[float]]:
        if getattr(self, "hashed", False) and self.algorithm == "logreg":
            raw = raw if raw is not None else raw_features(frame, self.params["char_ngram_max"])
            best, conf = self._linear_best(raw)
            classes = self.classes_
            return [classes[i] for i in best.tolist()], conf.tolist()
        proba = self.predict_proba(frame, raw)
        best = proba.argmax(axis=1)
        return [self.classes_[i] for i in best], [float(proba[r, i]) for r, i in enumerate(best)]

    def explain(self, frame: Any, top: int = 8) -> list[dict[str, Any]]:
        """For each row: the predicted category and the features that pushed it most."""
        import numpy as np

        x = self._matrix(frame, fit=False)
        labels, confs = self.predict(frame)
        texts = normalised_texts(frame).to_list()
        out = []
        for r in range(x.shape[0]):
            names = self._names([texts[r]])
            cls = self.classes_.index(labels[r])
            row = x.getrow(r)
            if self.algorithm == "lightgbm":
                contrib = self.clf.predict_proba(row.astype("float32"), pred_contrib=True)
                k = x.shape[1] + 1
                weights = np.asarray(contrib)[0][cls * k : cls * k + x.shape[1]] if contrib.ndim == 2 else contrib[0]
                scores = {names.get(i, f"hash:{i}"): float(weights[i]) for i in row.indices}
            else:
                coef = self.clf.coef_[cls] if self.clf.coef_.shape[0] > 1 else self.clf.coef_[0]
                scores = {
                    names.get(i, f"hash:{i}"): float(coef[i] * v) for i, v in zip(row.indices, row.data, strict=True)
                }
            ranked = sorted(scores.items(), key=lambda kv: -kv[1])[:top]
            out.append(
                {
                    "category": labels[r],
                    "confidence": round(confs[r], 4),
                    "drivers": [{"feature": readable_feature(n), "weight": round(w, 4)} for n, w in ranked],
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


EXAMPLES_PER_MERCHANT = 20  # rows of one merchant and category a fit sees (weighted up to its share)
SGD_EPOCHS = 20


def training_sample(frame: Any, labels: list[str]) -> tuple[Any, Any]:
    """Row indices and weights of a fit: every (merchant, category) pair keeps at most
    EXAMPLES_PER_MERCHANT of its rows, spread evenly over time, and their weights add up to
    the pair's capped weight (``merchant_weights``). Fifty receipts of one coffee shop teach
    what ten teach; the total influence of each merchant is unchanged."""
    import numpy as np

    capped = merchant_weights(frame)
    keys = [
        ((m or p or "").lower(), c)
        for m, p, c in zip(frame["merchant"].to_list(), frame["payee_raw"].to_list(), labels, strict=True)
    ]
    groups: dict[tuple[str, str], list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    idx: list[int] = []
    weights: list[float] = []
    for rows in groups.values():
        total = float(capped[rows].sum())
        if len(rows) > EXAMPLES_PER_MERCHANT:
            step = len(rows) / EXAMPLES_PER_MERCHANT
            rows = [rows[int(j * step)] for j in range(EXAMPLES_PER_MERCHANT)]
        idx.extend(rows)
        weights.extend([total / len(rows)] * len(rows))
    order = np.argsort(np.asarray(idx), kind="stable")
    return np.asarray(idx)[order], np.asarray(weights)[order]


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


def _time_cut(n: int, share: float) -> int:
    """Rows before the cut train, the most recent ``share`` validate (rows are in date order)."""
    return max(1, int(n * (1 - share)))


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
    raw = raw_features(frame, params["char_ngram_max"])  # once: the hold-out, folds and final fit slice it
    cut = _time_cut(frame.height, params["holdout"])
    train, test = frame.head(cut), frame.tail(frame.height - cut)
    raw_train, raw_test = raw.rows(0, cut), raw.rows(cut, frame.height)
    # The logistic model on hashed n-grams is the default: on the sample household LightGBM
    # was within one hold-out transaction of it at ten times the time (BENCHMARKS.md), so it
    # is trained only when asked for (--param algorithm=lightgbm).
    algorithms = ["logreg"] if params["algorithm"] == "auto" else [params["algorithm"]]
    candidates: dict[str, dict[str, Any]] = {}
    fitted: dict[str, CategoryModel] = {}
    for algo in algorithms:
        stage(f"validate {algo}")
        t0 = time.perf_counter()
        model = CategoryModel(algo, params).fit(train, train["category"].to_list(), raw_train)
        predicted, conf = model.predict(test, raw_test)
        metrics = evaluate(test["category"].to_list(), predicted, conf)
        metrics["fit_seconds"] = round(time.perf_counter() - t0, 2)
        candidates[algo] = metrics
        fitted[algo] = model
    best = max(candidates, key=lambda a: (candidates[a]["macro_f1"], candidates[a]["accuracy"]))
    gate = holdout_gate(store, test, fitted[best], raw_test, params["threshold"])
    stage("folds")
    folds = _rolling_folds(frame, raw, best, params)
    stage("fit")
    final = CategoryModel(best, params).fit(frame, frame["category"].to_list(), raw)
    importance = _importance(final, frame)
    base = baselines(train, test)
    metrics = {k: v for k, v in candidates[best].items() if k != "per_class"}
    metrics.update(
        {
            "baseline_majority_accuracy": base["majority"],
            "baseline_keyword_accuracy": base["keyword"],
            # The gate: what categorize would serve with this model (rules > model > built-in
            # knowledge) against what it serves without it, and against the model serving
            # now, on the hold-out of your labels (every row, uncategorised counts wrong).
            "pipeline_accuracy": gate["pipeline"],
            "fallback_accuracy": gate["fallback"],
            "serving_model_accuracy": gate["serving"],
            "beats_baseline": gate["promote"],
            "gate": gate["reason"],
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


def holdout_gate(store: Any, test: Any, model: CategoryModel, raw_test: RawFeatures, threshold: float) -> dict:
    """Promote a model only if categorization with it beats categorization without it on the
    hold-out of the user's labels, measured the same way on every row (a row left
    uncategorized counts as wrong), and is not worse than the model serving now (which may
    have seen these rows: the comparison favors it)."""
    from finanalytics_cli.engine.categorize import builtin_categories, rule_categories, served
    from finanalytics_cli.engine.models.registry import load_model, serving

    con = store.con
    truth = test["category"].to_list()
    rules = rule_categories(con, test)
    builtin, _ = builtin_categories(test)
    fallback = [r or b for r, b in zip(rules, builtin, strict=True)]

    def accuracy(m: Any, raw: RawFeatures | None) -> float:
        pred, conf = m.predict(test, raw) if raw is not None else m.predict(test)
        learned = (
            {c for c, n in getattr(m, "support_", {}).items() if n >= MIN_SUPPORT} if hasattr(m, "support_") else None
        )
        got = [
            r or (p if ok else b)
            for r, p, ok, b in zip(rules, pred, served(pred, conf, builtin, learned, threshold), builtin, strict=True)
        ]
        return round(sum(g == t for g, t in zip(got, truth, strict=True)) / len(truth), 4)

    pipeline = accuracy(model, raw_test)
    base = round(sum(f == t for f, t in zip(fallback, truth, strict=True)) / len(truth), 4)
    current = None
    route = serving(con, MODEL_TYPE)
    if route.production is not None:
        try:
            current = accuracy(load_model(con, store.keys.active, route.production), None)
        except Exception:  # noqa: BLE001 - an unloadable serving model is no bar to beat
            current = None
    if pipeline <= base:
        reason = f"not better than categorizing without it ({pipeline:.1%} vs {base:.1%} on the hold-out)"
    elif current is not None and pipeline < current:
        reason = f"worse than the model serving now ({pipeline:.1%} vs {current:.1%} on the hold-out)"
    else:
        reason = f"better than without it ({pipeline:.1%} vs {base:.1%})" + (
            f" and not worse than the model serving now ({current:.1%})" if current is not None else ""
        )
    promote = pipeline > base and (current is None or pipeline >= current)
    return {"pipeline": pipeline, "fallback": base, "serving": current, "promote": promote, "reason": reason}


def _rolling_folds(
    frame: Any, raw: RawFeatures, algorithm: str, params: dict[str, Any], k: int = 3
) -> list[dict[str, Any]]:
    """Expanding-window folds over time: train on the past, validate on the next slice."""
    out = []
    n = frame.height
    for i in range(k):
        cut, end = int(n * (0.4 + 0.2 * i)), int(n * (0.6 + 0.2 * i))
        train, test = frame.head(cut), frame.slice(cut, end - cut)
        if train.height < MIN_LABELS or test.height == 0 or len(set(train["category"].to_list())) < 2:
            continue
        model = CategoryModel(algorithm, params).fit(train, train["category"].to_list(), raw.rows(0, cut))
        predicted, _ = model.predict(test, raw.rows(cut, end))
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


def _importance(model: CategoryModel, frame: Any, top: int = 20) -> list[dict[str, Any]]:
    import numpy as np

    if model.algorithm == "lightgbm":
        weights = np.asarray(model.clf.feature_importances_, dtype=float)
    else:
        weights = np.abs(model.clf.coef_).max(axis=0)
    order = np.argsort(-weights)[:top]
    names = model._names(sorted(set(normalised_texts(frame).to_list())))
    return [
        {"feature": readable_feature(names.get(int(i), f"hash:{i}")), "importance": round(float(weights[i]), 4)}
        for i in order
    ]
