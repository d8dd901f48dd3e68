"""Federated learning of a shared category classifier, without sharing a transaction.

The shared model is a nearest-centroid classifier over hashed character n-grams of the
merchant and payee (a feature space every member computes alike, with no vocabulary to
exchange), for the public taxonomy's top-level categories. Its parameters are sums: per
category, the sum of the members' L2-normalized feature vectors and the number of
labeled transactions. A member's update is those sums over its own labels, so
replacing one labeled transaction moves the update by at most ``SENSITIVITY`` = 2 in
L2 (sqrt(2) in the feature sums, sqrt(2) in the counts), whatever the number of labels:
Gaussian noise calibrated to that public constant through OpenDP makes the update
(epsilon, delta)-DP per transaction, the same unit as the other DP releases, charged to
the member's privacy budget. The noise scale reveals nothing about the store.

Rounds: the aggregator signs a round file (Ed25519) naming the round, a fresh random
nonce, the base model, the epsilon every update spends and every member's public keys. A member checks that signature
against the aggregator key it trusts, and sends one update per round nonce (the store
refuses a second: two updates under the same masks would reveal their difference).

Secure aggregation: the update is fixed-point encoded modulo 2^48 and masked with one
ChaCha20 stream per other member, keyed by HKDF of the X25519 secret the two share, the
round nonce and the round file's digest, added by one and subtracted by the other; the
masks cancel in the sum, so the aggregator learns only the sum (provided the roster's
other members are real households and not the aggregator's own keys: the member is shown
the roster's fingerprints to check out of band; its DP guarantee holds either way, the
noise is its own). The member signs the
update with its Ed25519 identity key, and it is encrypted for the aggregator (X25519 +
HKDF + AES-GCM). The aggregator checks every signature against the round's roster, that
each member sent exactly one update, and that the sum is one honest members can send;
the shared model file it writes is signed with its own Ed25519 key, and members import
only a model signed by the aggregator they name. What the sum check cannot stop: one
member may send sums as large as MAX_LABELS plausible labels and so outweigh the others
(secure aggregation hides each update, so no per-member bound is checked); importing
measures the model out of sample and deploying it is the user's decision.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finanalytics_cli.engine.errors import InsufficientData, InvalidInput

N_FEATURES = 2**10
SCALE = 2**16  # fixed-point scale of the masked encoding
MOD = 2**48  # the masked domain: fixed-point sums up to +-2^47 / SCALE = +-2^31
SENSITIVITY = 2.0  # L2 change of one update when one labelled transaction is replaced
DELTA = 1e-6
MIN_UPDATE_EPSILON, MAX_UPDATE_EPSILON = 0.1, 10.0  # the epsilons an update may declare
MIN_LABELS = 20  # to send an update (fewer is mostly noise; the guarantee holds for any n)
MAX_LABELS = 100_000  # per member: bounds what an honest update can hold
TEMPERATURE = 10.0  # cosine similarity to class-score scale
DENOISE = 2.0  # feature sums are soft-thresholded at this many noise sigmas
OWN_WEIGHT = 20.0  # an importing store's own label counts this many times in the sums
FORMAT = "finanalytics-federated-update-v3"  # v3: signed, round nonce, class sums
MODEL_FORMAT = "finanalytics-federated-model-v2"
ROUND_FORMAT = "finanalytics-federated-round-v1"
KEY_PRIVATE = "finanalytics-federated-private-v2"
KEY_PUBLIC = "finanalytics-federated-public-v2"
_SIGN_ROUND = b"finanalytics-round-v1\n"
_SIGN_UPDATE = b"finanalytics-update-v3\n"
_SIGN_MODEL = b"finanalytics-model-v2\n"


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _unb64(s: str) -> bytes:
    return base64.b64decode(s.encode(), validate=True)


def _canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def public_classes() -> list[str]:
    from finanalytics_cli.engine.taxonomy import taxonomy_rows

    return sorted(name for name, parent, _, kind in taxonomy_rows() if parent is None and kind != "transfer")


def _vectorizer() -> Any:
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(
        analyzer="char_wb", ngram_range=(3, 5), n_features=N_FEATURES, alternate_sign=False, norm="l2"
    )


def _texts(merchants: list[str | None], payees: list[str | None]) -> list[str]:
    return [re.sub(r"\d+", " ", f"{m or ''} {p or ''}".lower()) for m, p in zip(merchants, payees, strict=True)]


def features(merchants: list[str | None], payees: list[str | None]) -> Any:
    """The public feature map: non-negative, L2-normalized hashed n-grams (a sparse matrix)."""
    return _vectorizer().transform(_texts(merchants, payees))


# -- identities ---------------------------------------------------------------------------
def fingerprint(x25519: bytes, ed25519: bytes) -> str:
    return hashlib.sha256(x25519 + ed25519).hexdigest()[:16]


_KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Identity:
    """A member's or the aggregator's public keys: X25519 (masks, encryption) and Ed25519
    (signatures)."""

    x25519: bytes
    ed25519: bytes

    @property
    def fp(self) -> str:
        return fingerprint(self.x25519, self.ed25519)

    def doc(self) -> dict[str, str]:
        return {"x25519": _b64(self.x25519), "ed25519": _b64(self.ed25519), "fp": self.fp}

    def x_key(self) -> Any:
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

        return X25519PublicKey.from_public_bytes(self.x25519)

    def verify(self, label: bytes, body: dict[str, Any], signature: Any) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            sig = _unb64(signature) if isinstance(signature, str) else b""
            Ed25519PublicKey.from_public_bytes(self.ed25519).verify(sig, label + _canonical(body))
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True


@dataclass(frozen=True)
class PrivateIdentity:
    x: Any = field(repr=False)  # X25519PrivateKey
    ed: Any = field(repr=False)  # Ed25519PrivateKey
    public: Identity

    def sign(self, label: bytes, body: dict[str, Any]) -> str:
        return _b64(self.ed.sign(label + _canonical(body)))


def _raw_public(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _raw_private(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def keygen(out: Path, name: str) -> dict[str, str]:
    """A member's or the aggregator's keys: NAME.key (private, 0600) and NAME.pub (to share),
    each holding an X25519 and an Ed25519 key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from finanalytics_cli.engine.files import resolve_output, write_user_file

    if not _KEY_NAME.match(name or ""):
        raise InvalidInput(
            f"--name {name[:40]!r} is not a plain file name: 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if not str(out).strip():
        raise InvalidInput("--out is empty: give the directory for the key pair")
    out = out.expanduser()
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"--out {str(out)!r} is not a directory (keygen writes NAME.key and NAME.pub into one)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create {out}: {exc.strerror}") from None
    key_path = resolve_output(out / f"{name}.key", option="--out")
    pub_path = resolve_output(out / f"{name}.pub", option="--out")
    if key_path.exists() or pub_path.exists():
        raise InvalidInput(f"{key_path} or {pub_path} already exists: refusing to overwrite a key")
    x, ed = X25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    public = Identity(_raw_public(x.public_key()), _raw_public(ed.public_key()))
    private_doc = {"kind": KEY_PRIVATE, "x25519": _b64(_raw_private(x)), "ed25519": _b64(_raw_private(ed))}
    write_user_file(key_path, json.dumps({**private_doc, "fp": public.fp}).encode(), overwrite=False)
    try:
        public_doc = json.dumps({"kind": KEY_PUBLIC, **public.doc()}) + "\n"
        write_user_file(pub_path, public_doc.encode(), mode=0o644, overwrite=False)
    except BaseException:
        key_path.unlink(missing_ok=True)  # a pair or nothing
        raise
    return {"private_key": str(key_path), "public_key": str(pub_path), "fingerprint": public.fp}


def _key_doc(path: Path, kind: str) -> dict[str, Any]:
    from finanalytics_cli.engine.files import read_user_file

    data = read_user_file(path, max_bytes=64 * 1024, option="key file")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        doc = None
    if isinstance(doc, dict) and doc.get("kind") in ("x25519-private", "x25519-public"):
        raise InvalidInput(
            f"{path} is a key from an older finanalytics, without a signing key: make new keys with "
            "`federated keygen` and share the new .pub files"
        )
    if not isinstance(doc, dict) or doc.get("kind") != kind:
        raise InvalidInput(
            f"{path} is not a {'private' if 'private' in kind else 'public'} key from `federated keygen`"
        )
    return doc


def _identity_of(doc: Any, where: str) -> Identity:
    try:
        ident = Identity(_unb64(doc["x25519"]), _unb64(doc["ed25519"]))
        if len(ident.x25519) != 32 or len(ident.ed25519) != 32 or ident.x25519 == bytes(32):
            raise ValueError  # an all-zero X25519 key gives no shared secret
        if doc.get("fp") not in (None, ident.fp):
            raise ValueError
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        Ed25519PublicKey.from_public_bytes(ident.ed25519)
        ident.x_key()
    except (ValueError, KeyError, TypeError, AttributeError):
        raise InvalidInput(f"{where} holds no valid public keys") from None
    return ident


def read_public(path: Path) -> Identity:
    return _identity_of(_key_doc(path, KEY_PUBLIC), str(path))


def read_private(path: Path) -> PrivateIdentity:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    doc = _key_doc(path, KEY_PRIVATE)
    try:
        xb, eb = _unb64(doc["x25519"]), _unb64(doc["ed25519"])
        if len(xb) != 32 or len(eb) != 32 or xb == bytes(32):
            raise ValueError
        x, ed = X25519PrivateKey.from_private_bytes(xb), Ed25519PrivateKey.from_private_bytes(eb)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise InvalidInput(f"{path} is not a private key from `federated keygen`") from None
    return PrivateIdentity(x, ed, Identity(_raw_public(x.public_key()), _raw_public(ed.public_key())))


def _hkdf(secret: bytes, info: bytes, length: int = 32) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(secret)


def _read_json(path: Path, what: str, max_bytes: int) -> dict[str, Any]:
    from finanalytics_cli.engine.files import read_user_file

    data = read_user_file(path, max_bytes=max_bytes, option=what)
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        doc = None
    if not isinstance(doc, dict):
        raise InvalidInput(f"{path} is not a federated {what}")
    return doc


def _signed_doc(
    path: Path, what: str, max_bytes: int, fmt: str, label: bytes, aggregator: Identity, maker: str
) -> dict[str, Any]:
    """A round or model file's body (signature removed), after its format and the
    aggregator's signature check."""
    doc = _read_json(path, what, max_bytes)
    signature = doc.pop("signature", None)
    if doc.get("format") != fmt:
        raise InvalidInput(f"{path} is not a federated {what} (from `{maker}`)")
    if not aggregator.verify(label, doc, signature):
        raise InvalidInput(f"{path} is not signed by the aggregator key given: altered, or from another aggregator")
    return doc


# -- rounds -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Round:
    name: str
    nonce: bytes
    aggregator: Identity
    members: tuple[Identity, ...]
    base: str
    digest: str
    epsilon: float

    def member(self, fp: str) -> Identity | None:
        return next((m for m in self.members if m.fp == fp), None)


def new_round(
    aggregator_key: Path, members: list[Path], name: str, base_path: Path | None, out: Path, epsilon: float = 8.0
) -> dict[str, Any]:
    """The aggregator's signed round file: name, a fresh nonce, the base model, the roster."""
    from finanalytics_cli.engine.files import resolve_output, write_user_file

    if not name or len(name) > 60:
        raise InvalidInput("--name names the round (1-60 characters)")
    if not MIN_UPDATE_EPSILON <= epsilon <= MAX_UPDATE_EPSILON:
        raise InvalidInput(f"--epsilon of a round must be {MIN_UPDATE_EPSILON:g} to {MAX_UPDATE_EPSILON:g}")
    agg = read_private(aggregator_key)
    roster = [read_public(m) for m in members]
    fps = [m.fp for m in roster]
    if len(roster) < 2 or len(set(fps)) != len(fps):
        raise InvalidInput("a round needs at least two members' public keys (--member), each once")
    if agg.public.fp in fps:
        raise InvalidInput("the aggregator cannot be a member of its own round")
    base = load_model_file(base_path, agg.public) if base_path else zero_model()
    target = resolve_output(out)
    body = {
        "format": ROUND_FORMAT,
        "round": name,
        "nonce": _b64(os.urandom(32)),
        "aggregator": agg.public.doc(),
        "members": [m.doc() for m in sorted(roster, key=lambda m: m.fp)],
        "base": base.digest(),
        "epsilon": float(epsilon),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    doc = {**body, "signature": agg.sign(_SIGN_ROUND, body)}
    write_user_file(target, (json.dumps(doc, indent=1) + "\n").encode(), mode=0o644, overwrite=False)
    return {
        "round_file": str(target),
        "round": name,
        "epsilon": float(epsilon),
        "members": sorted(fps),
        "digest": _digest(body),
    }


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical(body)).hexdigest()[:32]


def load_round(path: Path, aggregator: Identity) -> Round:
    """The round file, after its signature verifies against the aggregator's key."""
    doc = _signed_doc(path, "round file", 4 * 2**20, ROUND_FORMAT, _SIGN_ROUND, aggregator, "federated round")
    try:
        if _identity_of(doc["aggregator"], str(path)) != aggregator:
            raise ValueError
        name, nonce, base, epsilon = doc["round"], _unb64(doc["nonce"]), doc["base"], float(doc["epsilon"])
        if not MIN_UPDATE_EPSILON <= epsilon <= MAX_UPDATE_EPSILON:
            raise ValueError
        members = tuple(_identity_of(m, str(path)) for m in doc["members"])
        if not (isinstance(name, str) and 1 <= len(name) <= 60 and len(nonce) == 32 and isinstance(base, str)):
            raise ValueError
        if len(members) < 2 or len({m.fp for m in members}) != len(members):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(f"{path} is not a valid round file") from None
    return Round(name, nonce, aggregator, members, base, _digest(doc), epsilon)


# -- the model --------------------------------------------------------------------------
@dataclass
class FederatedModel:
    """The shared classifier; `predict` has the category model's interface.

    ``sums`` (classes x N_FEATURES) and ``counts`` are the noisy sums of the members'
    labeled feature vectors per category; a class scores by the cosine of a
    transaction's features with its centroid, plus the log of its share of the labels."""

    classes: list[str]
    sums: Any
    counts: Any
    round: str
    members: int
    round_digest: str = ""
    own_labels: int = 0  # the importing store's own labels added to the sums (fine-tuning)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A shared model registered before the class-sum format (logistic weights) cannot
        # predict: refusing to load it makes the store fall back to the keyword rules.
        if "sums" not in state or "counts" not in state:
            raise ValueError("a federated model from an older finanalytics: import a new shared model")
        self.__dict__.update(state)

    def _usable(self) -> Any:
        import numpy as np

        norms = np.linalg.norm(self.sums, axis=1)
        # A category nobody labelled holds noise only: its centroid points anywhere.
        return (self.counts >= 1.0) & (norms > 0)

    def scores(self, x: Any) -> Any:
        import numpy as np

        usable = self._usable()
        norms = np.linalg.norm(self.sums, axis=1)
        centroids = self.sums / np.where(norms > 0, norms, 1.0)[:, None]
        cos = np.asarray(x @ centroids.T)
        counts = np.clip(self.counts, 0.0, None)
        prior = np.log((counts + 1.0) / (counts.sum() + len(self.classes)))
        z = TEMPERATURE * cos + prior
        return np.where(usable[None, :], z, -np.inf) if usable.any() else z

    def predict_proba(self, frame: Any) -> Any:
        import numpy as np

        z = self.scores(features(frame["merchant"].to_list(), frame["payee_raw"].to_list()))
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, frame: Any) -> tuple[list[str], list[float]]:
        proba = self.predict_proba(frame)
        best = proba.argmax(axis=1)
        return [self.classes[i] for i in best], [float(proba[r, i]) for r, i in enumerate(best)]

    def predict_x(self, x: Any) -> list[str]:
        return [self.classes[i] for i in self.scores(x).argmax(axis=1)]

    @property
    def classes_(self) -> list[str]:
        return self.classes

    def explain(self, frame: Any, top: int = 8) -> list[dict[str, Any]]:
        labels, confs = self.predict(frame)
        return [
            {"predicted": lab, "confidence": round(c, 4), "features": [], "note": "hashed features of a shared model"}
            for lab, c in zip(labels, confs, strict=True)
        ]

    def digest(self) -> str:
        blob = self.sums.astype("<f8").tobytes() + self.counts.astype("<f8").tobytes()
        return hashlib.sha256(blob + json.dumps(self.classes).encode()).hexdigest()[:16]

    def plus(self, sums: Any, counts: Any, own_labels: int) -> FederatedModel:
        """This model with a store's own (exact) label sums added, each own label counting
        ``OWN_WEIGHT`` times (its own merchants and spellings matter most): fine-tuned."""
        return FederatedModel(
            self.classes,
            self.sums + OWN_WEIGHT * sums,
            self.counts + OWN_WEIGHT * counts,
            self.round,
            self.members,
            self.round_digest,
            own_labels,
        )


def zero_model() -> FederatedModel:
    import numpy as np

    classes = public_classes()
    return FederatedModel(classes, np.zeros((len(classes), N_FEATURES)), np.zeros(len(classes)), "initial", 0)


def class_sums(x: Any, labels: list[str], classes: list[str]) -> tuple[Any, Any]:
    """Per class, the sum of the feature rows and the number of rows."""
    import numpy as np
    import scipy.sparse as sp

    index = {c: i for i, c in enumerate(classes)}
    rows = np.array([index[c] for c in labels], dtype=np.int64)
    onehot = sp.csr_matrix((np.ones(len(rows)), (rows, np.arange(len(rows)))), shape=(len(classes), len(rows)))
    sums = np.asarray((onehot @ x).todense()) if len(rows) else np.zeros((len(classes), x.shape[1]))
    return sums, np.bincount(rows, minlength=len(classes)).astype(np.float64)


def local_model(x: Any, labels: list[str]) -> FederatedModel:
    """The same classifier from one store's own labels only (no noise: nothing leaves)."""
    classes = public_classes()
    sums, counts = class_sums(x, labels, classes)
    return FederatedModel(classes, sums, counts, "local", 0, "", len(labels))


def save_model(model: FederatedModel, out: Path, signer: PrivateIdentity) -> dict[str, Any]:
    body = {
        "format": MODEL_FORMAT,
        "classes": model.classes,
        "n_features": N_FEATURES,
        "round": model.round,
        "round_digest": model.round_digest,
        "members": model.members,
        "aggregator": signer.public.doc(),
        "sums": _b64(model.sums.astype("<f8").tobytes()),
        "counts": _b64(model.counts.astype("<f8").tobytes()),
    }
    doc = {**body, "signature": signer.sign(_SIGN_MODEL, body)}
    from finanalytics_cli.engine.files import write_user_file

    # The shared model is for the group (0644); like an update, it never replaces a file
    # (an input of the round, say).
    write_user_file(out, json.dumps(doc).encode(), mode=0o644, overwrite=False)
    return {"model": str(out), "digest": model.digest(), "members": model.members, "round": model.round}


def load_model_file(path: Path, aggregator: Identity) -> FederatedModel:
    """A shared model, after its signature verifies against the aggregator's key."""
    import numpy as np

    doc = _signed_doc(path, "model file", 64 * 2**20, MODEL_FORMAT, _SIGN_MODEL, aggregator, "federated aggregate")
    try:
        classes, members, round_id = doc["classes"], doc["members"], doc["round"]
        if not (isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)):
            raise ValueError("classes")
        if not (isinstance(members, int) and not isinstance(members, bool) and 1 <= members <= 10_000):
            raise ValueError("members")
        if not (isinstance(round_id, str) and len(round_id) <= 60 and isinstance(doc["round_digest"], str)):
            raise ValueError("round")
        sums = np.frombuffer(_unb64(doc["sums"]), dtype="<f8").reshape(len(classes), N_FEATURES)
        counts = np.frombuffer(_unb64(doc["counts"]), dtype="<f8").reshape(len(classes))
        if not (np.isfinite(sums).all() and np.isfinite(counts).all()):
            raise ValueError("values")
        if max(np.abs(counts).max(initial=0.0), np.abs(sums).max(initial=0.0)) > members * MAX_LABELS:
            raise ValueError("values")  # absurd sums: poisoned or broken
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError):
        raise InvalidInput(f"{path} is not an intact federated model file") from None
    return FederatedModel(classes, sums.copy(), counts.copy(), round_id, members, doc["round_digest"])


# -- the update -----------------------------------------------------------------------------
@dataclass
class Labelled:
    """A store's own labels, oldest first."""

    x: Any  # features
    labels: list[str]  # top-level categories
    dates: list[dt.date]
    keyword: list[str]  # what the built-in keyword rules say, for the baseline


def local_data(con: Any, *, minimum: int = MIN_LABELS) -> Labelled:
    from finanalytics_cli.engine.categories import keyword_category

    # The user's own labels only, whether or not the row was later matched as a transfer:
    # whether a row is in the set then depends on that row alone. (Transfer matching and
    # rules look at other rows: replacing one transaction could add or drop many labels
    # through them, beyond the sensitivity the noise is calibrated to.)
    rows = con.execute(
        "SELECT merchant, payee_raw, split_part(category, '/', 1), posted_date, memo FROM transactions "
        "WHERE category IS NOT NULL AND category_source = 'user' ORDER BY posted_date, tx_id"
    ).fetchall()
    classes = set(public_classes())
    rows = [r for r in rows if r[2] in classes]
    if len(rows) < minimum:
        raise InsufficientData(f"a federated update needs {minimum} labeled transactions; this store has {len(rows)}")
    return Labelled(
        features([r[0] for r in rows], [r[1] for r in rows]),
        [r[2] for r in rows],
        [r[3] for r in rows],
        [(keyword_category(r[1], r[4]) or "Uncategorized").split("/")[0] for r in rows],
    )


def noise_scale(epsilon: float, delta: float = DELTA) -> float:
    """The Gaussian scale for (epsilon, delta)-DP of one update: public inputs only."""
    import opendp.combinators as C
    import opendp.measurements as M
    from opendp.domains import atom_domain, vector_domain
    from opendp.metrics import l2_distance
    from opendp.mod import binary_search_param, enable_features

    enable_features("contrib")
    space = (vector_domain(atom_domain(T=float, nan=False)), l2_distance(T=float))

    def make(scale: float) -> Any:
        return C.make_fix_delta(C.make_zCDP_to_approxDP(M.make_gaussian(*space, scale=scale)), delta)

    return float(binary_search_param(make, d_in=SENSITIVITY, d_out=(epsilon, delta)))


def _noised(update: Any, scale: float) -> Any:
    import numpy as np
    import opendp.measurements as M
    from opendp.domains import atom_domain, vector_domain
    from opendp.metrics import l2_distance
    from opendp.mod import enable_features

    enable_features("contrib")
    meas = M.make_gaussian(vector_domain(atom_domain(T=float, nan=False)), l2_distance(T=float), scale=scale)
    return np.asarray(meas(update.ravel().tolist())).reshape(update.shape)


def _mask(secret: bytes, nonce: bytes, round_digest: str, size: int) -> Any:
    """The pairwise mask: ``size`` uniform values mod 2^48 from ChaCha20 (a CSPRNG), keyed by
    HKDF of the pair's X25519 secret, the round's nonce and the round file's digest: a new
    round file, even of the same name, gives new masks."""
    import numpy as np
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

    key = _hkdf(secret, b"finanalytics-mask-v3:" + nonce + round_digest.encode(), 32)
    stream = Cipher(algorithms.ChaCha20(key, b"\x00" * 16), mode=None).encryptor()
    return np.frombuffer(stream.update(b"\x00" * (8 * size)), dtype="<u8") % np.uint64(MOD)


def _encode(values: Any) -> Any:
    import numpy as np

    fixed = np.round(values.ravel() * SCALE).astype(np.int64)
    return (fixed % MOD).astype(np.uint64)


def _decode(total: Any) -> Any:
    import numpy as np

    signed = total.astype(np.int64)
    signed[signed >= MOD // 2] -= MOD
    return signed.astype(np.float64) / SCALE


def export_update(
    store: Any, recipient: Path, member_key: Path, round_path: Path, epsilon: float, base_path: Path | None = None
) -> tuple[bytes, dict[str, Any]]:
    """Sum, noise, mask, sign and encrypt this store's labels: the bytes of the update file.
    ``epsilon`` must be the round's (every member's noise is then known to the aggregator,
    which bounds what an honest sum can be)."""
    import numpy as np
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    me = read_private(member_key)
    agg = read_public(recipient)
    rnd = load_round(round_path, agg)
    if rnd.member(me.public.fp) is None:
        raise InvalidInput(f"your key ({me.public.fp}) is not a member of round {rnd.name!r}")
    if epsilon != rnd.epsilon:
        raise InvalidInput(f"round {rnd.name!r} is run at epsilon {rnd.epsilon:g}; --epsilon {epsilon:g} differs")
    base = load_model_file(base_path, agg) if base_path else zero_model()
    if base.digest() != rnd.base:
        raise InvalidInput(f"--base is not the base model of round {rnd.name!r} (give the model the round names)")
    own = local_data(store.con)
    labels, dates = own.labels, own.dates
    sums, counts = class_sums(own.x, labels, base.classes)
    update = np.hstack([sums, counts[:, None]])
    # The whole noise for this member's guarantee: it holds for its update alone, whatever
    # the other members add, and so also for the sum (post-processing).
    scale = noise_scale(epsilon)
    encoded = _encode(_noised(update, scale))
    for peer in rnd.members:
        if peer.fp == me.public.fp:
            continue
        try:
            secret = me.x.exchange(peer.x_key())
        except ValueError:  # a low-order point: no shared secret
            raise InvalidInput(f"member {peer.fp}'s key in the round file gives no shared secret") from None
        mask = _mask(secret, rnd.nonce, rnd.digest, encoded.size)
        encoded = (encoded + mask) % MOD if me.public.fp < peer.fp else (encoded + (MOD - mask)) % MOD
    payload = {
        "format": FORMAT,
        "round": rnd.name,
        "round_digest": rnd.digest,
        "member": me.public.fp,
        "base": base.digest(),
        "classes": base.classes,
        "n_features": N_FEATURES,
        "epsilon": epsilon,
        "delta": DELTA,
        "update": _b64(encoded.astype("<u8").tobytes()),
    }
    payload["signature"] = me.sign(_SIGN_UPDATE, payload)
    eph = X25519PrivateKey.generate()
    header = {"format": FORMAT, "to": agg.fp, "ephemeral": _b64(_raw_public(eph.public_key()))}
    aad = json.dumps(header, sort_keys=True).encode()
    key = _hkdf(eph.exchange(agg.x_key()), b"finanalytics-federated-v3:" + aad)
    nonce = os.urandom(12)
    ciphertext = AESGCM(key).encrypt(nonce, json.dumps(payload).encode(), aad)
    blob = json.dumps({"header": header, "nonce": _b64(nonce), "ciphertext": _b64(ciphertext)}).encode()
    info = {
        "round": rnd.name,
        "round_digest": rnd.digest,
        "round_nonce": _b64(rnd.nonce),
        "member": me.public.fp,
        "members": len(rnd.members),
        # Secure aggregation hides an update from the aggregator only if the other members
        # are real households: check these fingerprints with them, out of band.
        "roster": sorted(m.fp for m in rnd.members),
        "labels": len(labels),
        "labels_until": max(dates),
        "epsilon": epsilon,
        "delta": DELTA,
        "sensitivity": SENSITIVITY,
        "noise_scale": round(scale, 6),
    }
    return blob, info


def write_update(
    store: Any,
    recipient: Path,
    member_key: Path,
    round_path: Path,
    epsilon: float | None,
    base_path: Path | None,
    out: Path,
) -> dict[str, Any]:
    """Check the privacy budget and that this store has not sent an update for this round,
    make the update, record the release, the round and the audit entry in one transaction
    and commit it; then write the file (0600). A refused update spends nothing and writes
    nothing; a charged update whose file fails to be written is lost (and so is its round:
    ask the aggregator for a new round file)."""
    from finanalytics_cli.engine.files import resolve_output, write_user_file
    from finanalytics_cli.privacy.audit import append
    from finanalytics_cli.privacy.dp import check_budget, record_release

    rnd = load_round(round_path, read_public(recipient))
    if epsilon is None:
        epsilon = rnd.epsilon
    if not MIN_UPDATE_EPSILON <= epsilon <= MAX_UPDATE_EPSILON:
        raise InvalidInput(f"--epsilon for an update must be {MIN_UPDATE_EPSILON:g} to {MAX_UPDATE_EPSILON:g}")
    target = resolve_output(out)  # refused before any budget is spent
    if os.path.lexists(target):
        raise InvalidInput(f"{out} already exists")
    with store.transaction():
        sent = store.con.execute(
            "SELECT exported_at FROM federated_rounds WHERE round_nonce = ?", [_b64(rnd.nonce)]
        ).fetchone()
        if sent is not None:
            raise InvalidInput(
                f"this store already sent an update for round {rnd.name!r} ({sent[0]:%Y-%m-%d %H:%M}); a second "
                "update under the same masks would reveal the difference of the two: ask the aggregator for a new "
                "round file"
            )
        check_budget(store.con, epsilon, DELTA)
        blob, info = export_update(store, recipient, member_key, round_path, epsilon, base_path)
        store.con.execute(
            "INSERT INTO federated_rounds (round_nonce, round_name, round_digest, labels, labels_until, epsilon) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [info["round_nonce"], info["round"], info["round_digest"], info["labels"], info["labels_until"], epsilon],
        )
        record_release(
            store.con,
            f"federated update, round {info['round']}",
            "OpenDP Gaussian (zCDP -> approximate DP) on the per-category label sums",
            epsilon,
            info["delta"],
            {"sensitivity": SENSITIVITY, "noise_scale": info["noise_scale"]},
        )
        append(store.con, "export", {"command": "federated export-update", "epsilon": epsilon, "round": info["round"]})
    # The charge has committed: only now does the update exist outside the store. A file
    # that then fails to be written is epsilon lost, never a release without its charge.
    write_user_file(target, blob, overwrite=False)
    info.pop("round_nonce")
    return info


def _open_update(path: Path, me: PrivateIdentity) -> dict[str, Any]:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    doc = _read_json(path, "update file", 64 * 2**20)
    try:
        header = doc["header"]
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ValueError
        nonce, ciphertext = _unb64(doc["nonce"]), _unb64(doc["ciphertext"])
        if len(nonce) != 12:
            raise ValueError
        eph = X25519PublicKey.from_public_bytes(_unb64(header["ephemeral"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise InvalidInput(f"{path} is not a federated update file (of this version)") from None
    if header.get("to") != me.public.fp:
        raise InvalidInput(f"{path} is encrypted for another key ({str(header.get('to'))[:20]}), not this aggregator's")
    aad = json.dumps(header, sort_keys=True).encode()
    try:
        key = _hkdf(me.x.exchange(eph), b"finanalytics-federated-v3:" + aad)
        payload = json.loads(AESGCM(key).decrypt(nonce, ciphertext, aad))
    except (InvalidTag, ValueError):  # ValueError: a low-order (all-zero) ephemeral key
        raise InvalidInput(f"{path} failed authentication: it was altered or not made for this key") from None
    if not isinstance(payload, dict):
        raise InvalidInput(f"{path} is not a federated update file")
    return payload


def aggregate(
    files: list[Path], aggregator_key: Path, round_path: Path, base_path: Path | None = None
) -> FederatedModel:
    """Decrypt, check each update's signature against the round's roster, add the masked
    updates (the masks cancel), check the sum is one honest members can send, and add it
    to the base model."""
    import numpy as np

    me = read_private(aggregator_key)
    rnd = load_round(round_path, me.public)
    base = load_model_file(base_path, me.public) if base_path else zero_model()
    if base.digest() != rnd.base:
        raise InvalidInput(f"--base is not the base model of round {rnd.name!r}")
    if len(files) < 2:
        raise InvalidInput("aggregation needs the updates of at least two members")
    seen: dict[str, Path] = {}
    payloads = []
    for f in files:
        p = _open_update(f, me)
        signature = p.pop("signature", None)
        member = rnd.member(str(p.get("member")))
        if member is None:
            raise InvalidInput(f"{f}: its sender {str(p.get('member'))[:20]!r} is not a member of round {rnd.name!r}")
        if not member.verify(_SIGN_UPDATE, p, signature):
            raise InvalidInput(f"{f}: its signature does not verify: it was not made by member {member.fp}")
        if p.get("round_digest") != rnd.digest:
            raise InvalidInput(f"{f}: it belongs to another round than {round_path}")
        if p.get("base") != rnd.base or p.get("classes") != base.classes or p.get("n_features") != N_FEATURES:
            raise InvalidInput(f"{f}: it was made from another base model or category list")
        if member.fp in seen:
            raise InvalidInput(f"member {member.fp} sent more than one update ({seen[member.fp]} and {f})")
        seen[member.fp] = f
        payloads.append(p)
    missing = sorted(m.fp for m in rnd.members if m.fp not in seen)
    if missing:
        raise InvalidInput(
            f"the updates of {', '.join(missing)} are missing: the masks only cancel when every member's "
            "update is there"
        )
    size = len(base.classes) * (N_FEATURES + 1)
    total = np.zeros(size, dtype=np.uint64)
    variance = 0.0
    for p in payloads:
        vec = np.frombuffer(_unb64(p["update"]), dtype="<u8")
        if vec.size != size or (vec >= MOD).any():
            raise InvalidInput("an update has the wrong size or values outside the encoding")
        total = (total + vec) % MOD
        if p.get("epsilon") != rnd.epsilon:
            raise InvalidInput(f"an update declares epsilon {p.get('epsilon')!r}, not the round's {rnd.epsilon:g}")
        variance += noise_scale(rnd.epsilon) ** 2
    summed = _decode(total).reshape(len(base.classes), N_FEATURES + 1)
    sums, counts = summed[:, :-1], summed[:, -1]
    sigma = math.sqrt(variance)
    _check_honest(sums, counts, len(payloads), sigma)
    # Denoising (post-processing, so the guarantee is untouched): the true sums are never
    # negative and most hashed features of a category are zero; a coordinate below
    # DENOISE x sigma is mostly noise, and noise in thousands of coordinates would swamp
    # the centroid of every category with few labels.
    sums = np.clip(sums - DENOISE * sigma, 0.0, None)
    counts = np.clip(counts, 0.0, None)
    return FederatedModel(
        base.classes, base.sums + sums, base.counts + counts, rnd.name, len(payloads) + base.members, rnd.digest
    )


def _check_honest(sums: Any, counts: Any, members: int, sigma: float) -> None:
    """What honest members' noisy sums satisfy (each labeled vector is non-negative with
    norm 1): counts between 0 and members x MAX_LABELS, no feature sum far below zero, and
    each category's feature sum no longer than its count; all up to 6 sigma of the noise.
    A member who sends anything else (every coordinate 2^31-1, say) is poisoning the model."""
    import numpy as np

    slack = 6.0 * sigma
    row_slack = 6.0 * sigma * math.sqrt(sums.shape[1]) + slack
    norms = np.linalg.norm(sums, axis=1)
    bad = (
        (counts < -slack).any()
        or (counts > members * MAX_LABELS + slack).any()
        or (sums < -slack).any()
        or (norms > np.clip(counts, 0, None) + row_slack).any()
    )
    if bad:
        raise InvalidInput(
            "the updates add up to sums no honest members can send (counts out of range or feature sums longer than "
            "their counts): one of them is malformed or poisoned; the round is refused"
        )


# -- importing the shared model ---------------------------------------------------------------
def evaluate_import(con: Any, model: FederatedModel, holdout_share: float = 0.2) -> dict[str, Any]:
    """Out-of-sample accuracy on this store's later labels: of the shared model, of the
    shared model plus this store's earlier labels, of those earlier labels alone and of the
    keyword rules. Labels this store sent in an update are never scored (the model has
    seen them): only labels posted after the newest one sent; a store that sent none has
    its newest ``holdout_share`` of labels held out."""
    sent_until = con.execute("SELECT max(labels_until) FROM federated_rounds").fetchone()[0]
    try:
        own = local_data(con, minimum=1)
    except InsufficientData:
        return {"evaluated_on": 0, "note": "no labels to measure the model on"}
    dates = own.dates
    if sent_until is not None:
        cut = sum(d <= sent_until for d in dates)
        how = f"labels posted after {sent_until}, the newest this store sent in an update"
    else:
        cut = int(len(dates) * (1 - holdout_share))
        while 0 < cut < len(dates) and dates[cut] == dates[cut - 1]:
            cut += 1  # a day's labels on one side
        how = f"the newest {len(dates) - cut} of this store's labels (from {dates[min(cut, len(dates) - 1)]})"
    if len(dates) - cut < 10:
        return {
            "evaluated_on": len(dates) - cut,
            "note": "fewer than 10 labels out of sample: label more to measure it",
        }
    truth, train_labels = own.labels[cut:], own.labels[:cut]
    x_test, x_train = own.x[cut:], own.x[:cut]

    def acc(predicted: list[str]) -> float:
        return round(sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(truth), 4)

    sums, counts = class_sums(x_train, train_labels, model.classes)
    return {
        "evaluated_on": len(truth),
        "evaluation": how,
        "accuracy_shared": acc(model.predict_x(x_test)),
        "accuracy_shared_plus_own": acc(model.plus(sums, counts, cut).predict_x(x_test)),
        "accuracy_own_only": acc(local_model(x_train, train_labels).predict_x(x_test)) if cut else None,
        "accuracy_keyword_rules": acc(own.keyword[cut:]),
    }


def import_model(store: Any, path: Path, aggregator: Path) -> dict[str, Any]:
    """Register the shared model, plus this store's own labels (fine-tuning), as a
    category_classifier challenger with its out-of-sample accuracy (it is not deployed:
    `models deploy` decides)."""
    from finanalytics_cli.engine.models.registry import register_model

    model = load_model_file(path, read_public(aggregator))
    if model.classes != public_classes():
        raise InvalidInput(f"{path} was made for another category list")
    con = store.con
    metrics: dict[str, Any] = {"members": model.members, **evaluate_import(con, model)}
    try:
        own = local_data(con, minimum=1)
        sums, counts = class_sums(own.x, own.labels, model.classes)
        final = model.plus(sums, counts, len(own.labels))
    except InsufficientData:
        final = model
    metrics["own_labels_added"] = final.own_labels
    metrics["accuracy"] = metrics.get("accuracy_shared_plus_own")
    model_id = register_model(
        con,
        store.keys.active,
        model_type="category_classifier",
        algorithm="federated_centroid",
        features=["hashed character 3-5-grams of merchant and payee"],
        hyperparameters={"n_features": N_FEATURES, "round": model.round, "members": model.members},
        metrics=metrics,
        validation={"source": str(path.name), "digest": model.digest(), "round_digest": model.round_digest},
        data_from=None,
        data_to=None,
        model=final,
    )
    from finanalytics_cli.privacy.audit import append

    append(con, "model_import", {"model_id": model_id, "model_type": "category_classifier"})
    return {"model_id": model_id, "metrics": metrics, "digest": model.digest()}
