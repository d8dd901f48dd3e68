"""Federated learning of a shared category classifier, without sharing a transaction.

The shared model is a multinomial logistic regression over hashed character n-grams of
the merchant and payee (a feature space every member computes alike, with no vocabulary
to exchange) and the public taxonomy's top-level categories.

A member trains locally from the current shared model (full-batch gradient descent; each
example's gradient has norm at most sqrt(2) because the features are L2-normalised), so
replacing one transaction moves the trained weights by at most 2*lr*steps*sqrt(2)/n. The
update (trained minus shared weights) is clipped to an L2 norm and Gaussian noise is
added through OpenDP for (epsilon, delta)-DP per transaction, the same unit as the other
DP releases, charged to the member's privacy budget.

Secure aggregation: the update is fixed-point encoded modulo 2^32 and masked with one
pseudo-random vector per other member, derived from the X25519 secret the two share and
the round's name, added by one and subtracted by the other; the masks cancel in the sum,
so the aggregator learns only the sum. The masked update is encrypted for the aggregator
(X25519 + HKDF + AES-GCM; the header is authenticated). The aggregator checks that every
member of the roster sent exactly one update for the same round and base model, adds
them, and averages (federated averaging).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finanalytics_cli.engine.errors import InsufficientData, InvalidInput

N_FEATURES = 2**10
SCALE = 2**16  # fixed-point scale of the masked encoding
MOD = 2**32
LR = 1.0
STEPS = 60
L2 = 1e-4
CLIP = 20.0
DELTA = 1e-6
MIN_UPDATE_EPSILON, MAX_UPDATE_EPSILON = 0.1, 10.0  # the epsilons an update may declare
MIN_LABELS = 300  # to send an update; the noise is calibrated to this public bound
FORMAT = "finanalytics-federated-update-v2"  # v2: ChaCha20 masks
MODEL_FORMAT = "finanalytics-federated-model-v1"


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _unb64(s: str) -> bytes:
    return base64.b64decode(s.encode())


def public_classes() -> list[str]:
    from finanalytics_cli.engine.taxonomy import taxonomy_rows

    return sorted(name for name, parent, _, kind in taxonomy_rows() if parent is None and kind != "transfer")


def _vectorizer() -> Any:
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(
        analyzer="char_wb", ngram_range=(3, 5), n_features=N_FEATURES, alternate_sign=False, norm="l2"
    )


def _texts(merchants: list[str | None], payees: list[str | None]) -> list[str]:
    import re

    return [re.sub(r"\d+", " ", f"{m or ''} {p or ''}".lower()) for m, p in zip(merchants, payees, strict=True)]


# -- keys -------------------------------------------------------------------------------
def fingerprint(public: bytes) -> str:
    return hashlib.sha256(public).hexdigest()[:16]


_KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def keygen(out: Path, name: str) -> dict[str, str]:
    """An X25519 key pair: NAME.key (private, 0600) and NAME.pub (to share)."""
    from cryptography.hazmat.primitives import serialization
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
    private = X25519PrivateKey.generate()
    raw_priv = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    raw_pub = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    fp = fingerprint(raw_pub)
    private_doc = json.dumps({"kind": "x25519-private", "key": _b64(raw_priv), "fp": fp}).encode()
    write_user_file(key_path, private_doc, overwrite=False)
    public_doc = (json.dumps({"kind": "x25519-public", "key": _b64(raw_pub), "fp": fp}) + "\n").encode()
    try:
        write_user_file(pub_path, public_doc, mode=0o644, overwrite=False)
    except BaseException:
        key_path.unlink(missing_ok=True)  # a pair or nothing
        raise
    return {"private_key": str(key_path), "public_key": str(pub_path), "fingerprint": fp}


def _read_key(path: Path, kind: str) -> bytes:
    from finanalytics_cli.engine.files import read_user_file

    data = read_user_file(path, max_bytes=64 * 1024, option="key file")
    try:
        doc = json.loads(data.decode("utf-8"))
        if not isinstance(doc, dict) or doc.get("kind") != kind or not isinstance(doc.get("key"), str):
            raise ValueError
        raw = _unb64(doc["key"])
        if len(raw) != 32 or raw == bytes(32):  # an all-zero X25519 key gives no shared secret
            raise ValueError
        return raw
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        raise InvalidInput(f"{path} is not an {kind} key file from `federated keygen`") from None


def _private(path: Path) -> Any:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    return X25519PrivateKey.from_private_bytes(_read_key(path, "x25519-private"))


def _public(path: Path) -> tuple[Any, bytes]:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    raw = _read_key(path, "x25519-public")
    return X25519PublicKey.from_public_bytes(raw), raw


def _hkdf(secret: bytes, info: bytes, length: int = 32) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(secret)


# -- the model --------------------------------------------------------------------------
@dataclass
class FederatedModel:
    """The shared classifier; `predict` has the category model's interface."""

    classes: list[str]
    weights: Any  # (classes, N_FEATURES + 1): the last column is the bias
    round: str
    members: int

    def predict_proba(self, frame: Any) -> Any:
        import numpy as np

        x = _vectorizer().transform(_texts(frame["merchant"].to_list(), frame["payee_raw"].to_list()))
        z = x @ self.weights[:, :-1].T + self.weights[:, -1]
        z = np.asarray(z) - np.asarray(z).max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, frame: Any) -> tuple[list[str], list[float]]:
        proba = self.predict_proba(frame)
        best = proba.argmax(axis=1)
        return [self.classes_[i] for i in best], [float(proba[r, i]) for r, i in enumerate(best)]

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
        return hashlib.sha256(self.weights.astype("<f8").tobytes() + json.dumps(self.classes).encode()).hexdigest()[:16]


def zero_model() -> FederatedModel:
    import numpy as np

    classes = public_classes()
    return FederatedModel(classes, np.zeros((len(classes), N_FEATURES + 1)), "initial", 0)


def save_model(model: FederatedModel, out: Path) -> dict[str, Any]:
    doc = {
        "format": MODEL_FORMAT,
        "classes": model.classes,
        "n_features": N_FEATURES,
        "round": model.round,
        "members": model.members,
        "weights": _b64(model.weights.astype("<f8").tobytes()),
    }
    body = json.dumps(doc, sort_keys=True)
    doc["sha256"] = hashlib.sha256(body.encode()).hexdigest()
    from finanalytics_cli.engine.files import write_user_file

    # The shared model is for the group (0644); like an update, it never replaces a file
    # (an input of the round, say).
    write_user_file(out, json.dumps(doc).encode(), mode=0o644, overwrite=False)
    return {"model": str(out), "digest": model.digest(), "members": model.members, "round": model.round}


def load_model_file(path: Path) -> FederatedModel:
    import numpy as np

    from finanalytics_cli.engine.files import read_user_file

    data = read_user_file(path, max_bytes=64 * 2**20, option="model file")
    try:
        doc = json.loads(data.decode("utf-8"))
        if not isinstance(doc, dict):
            raise ValueError("not an object")
        digest = doc.pop("sha256")
        if (
            doc.get("format") != MODEL_FORMAT
            or hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest() != digest
        ):
            raise ValueError("checksum")
        classes, members, round_id = doc["classes"], doc["members"], doc["round"]
        if not (isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)):
            raise ValueError("classes")
        if not (isinstance(members, int) and not isinstance(members, bool) and 1 <= members <= 10_000):
            raise ValueError("members")
        if not (isinstance(round_id, str) and len(round_id) <= 60):
            raise ValueError("round")
        weights = np.frombuffer(_unb64(doc["weights"]), dtype="<f8").reshape(len(classes), N_FEATURES + 1)
        if not np.isfinite(weights).all() or np.abs(weights).max(initial=0.0) > 1e6:
            raise ValueError("weights")  # NaN, inf or absurd weights: poisoned or broken
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError, OverflowError):
        raise InvalidInput(f"{path} is not an intact federated model file") from None
    return FederatedModel(classes, weights.copy(), round_id, members)


# -- local training and the update --------------------------------------------------------
def local_data(con: Any) -> tuple[Any, Any, int]:
    """Features and one-hot labels of the user's own labels (and rule-given categories)."""
    import numpy as np

    rows = con.execute(
        "SELECT merchant, payee_raw, split_part(category, '/', 1) FROM transactions "
        "WHERE category IS NOT NULL AND NOT is_transfer AND (category_source = 'user' OR category_source LIKE 'rule:%')"
    ).fetchall()
    classes = public_classes()
    rows = [r for r in rows if r[2] in classes]
    if len(rows) < MIN_LABELS:
        raise InsufficientData(
            f"a federated update needs {MIN_LABELS} labelled transactions; this store has {len(rows)}"
        )
    x = _vectorizer().transform(_texts([r[0] for r in rows], [r[1] for r in rows]))
    y = np.zeros((len(rows), len(classes)))
    for i, r in enumerate(rows):
        y[i, classes.index(r[2])] = 1.0
    return x, y, len(rows)


def train_local(base: FederatedModel, x: Any, y: Any) -> Any:
    """Full-batch gradient descent on the L2-regularised softmax loss, from the shared weights."""
    import numpy as np

    w = base.weights.copy()
    n = x.shape[0]
    for _ in range(STEPS):
        z = np.asarray(x @ w[:, :-1].T) + w[:, -1]
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        g = p - y
        grad_w = np.asarray((x.T @ g).T) / n + L2 * w[:, :-1]
        grad_b = g.mean(axis=0)
        w[:, :-1] -= LR * grad_w
        w[:, -1] -= LR * grad_b
    return w


def sensitivity(n: int) -> float:
    """How far replacing one labelled transaction can move the trained weights (L2), for a
    store with ``n`` labels: each step's mean gradient moves by at most 2*sqrt(2)*sqrt(2)/n
    (features and bias, both bounded) and gradient descent with this step is
    non-expansive on this convex loss. The clipped update moves by at most 2*CLIP."""
    return min(LR * STEPS * 2 * 2.0 / n, 2 * CLIP)


def public_sensitivity() -> float:
    """The sensitivity the noise is calibrated to: the bound at the public minimum of
    labels (``MIN_LABELS``), which covers every store allowed to send an update (the bound
    falls as n grows). Calibrating to the store's own n would make the noise scale, and
    so the update's spread, reveal n (a neighbour with one more label gets other noise)."""
    return sensitivity(MIN_LABELS)


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

    return float(binary_search_param(make, d_in=public_sensitivity(), d_out=(epsilon, delta)))


def _noised(update: Any, scale: float) -> Any:
    import numpy as np
    import opendp.measurements as M
    from opendp.domains import atom_domain, vector_domain
    from opendp.metrics import l2_distance
    from opendp.mod import enable_features

    enable_features("contrib")
    meas = M.make_gaussian(vector_domain(atom_domain(T=float, nan=False)), l2_distance(T=float), scale=scale)
    return np.asarray(meas(update.ravel().tolist())).reshape(update.shape)


def _mask(secret: bytes, round_id: str, size: int) -> Any:
    """The pairwise mask: ``size`` uniform values mod 2^32 from ChaCha20 (a CSPRNG), keyed
    by HKDF of the pair's X25519 secret and the round (numpy's PCG64 is predictable from
    its outputs: not a mask)."""
    import numpy as np
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

    key = _hkdf(secret, f"finanalytics-mask-v2:{round_id}".encode(), 32)
    stream = Cipher(algorithms.ChaCha20(key, b"\x00" * 16), mode=None).encryptor()
    return np.frombuffer(stream.update(b"\x00" * (4 * size)), dtype="<u4").astype(np.uint64)


def export_update(
    store: Any,
    recipient: Path,
    member_key: Path,
    peers: list[Path],
    round_id: str,
    epsilon: float,
    base_path: Path | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """Train locally, clip, noise, mask and encrypt: the bytes of the update file."""
    import numpy as np
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not round_id or len(round_id) > 60:
        raise InvalidInput("--round names the round (1-60 characters), the same for every member")
    me = _private(member_key)
    my_pub = me.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    my_fp = fingerprint(my_pub)
    peer_keys = [_public(p) for p in peers]
    roster = sorted({my_fp, *(fingerprint(raw) for _, raw in peer_keys)})
    if len(roster) != len(peer_keys) + 1:
        raise InvalidInput("the peers must be the other members' public keys, each once, not your own")
    agg_pub, agg_raw = _public(recipient)
    base = load_model_file(base_path) if base_path else zero_model()
    x, y, n = local_data(store.con)
    trained = train_local(base, x, y)
    update = trained - base.weights
    norm = float(np.linalg.norm(update))
    update *= min(1.0, CLIP / norm) if norm else 1.0
    # The whole noise for this member's guarantee: it holds for its update alone, whatever
    # the other members add, and so also for the sum (post-processing).
    scale = noise_scale(epsilon)
    noisy = _noised(update, scale)
    encoded = np.mod(np.round(noisy.ravel() * SCALE).astype(np.int64), MOD).astype(np.uint64)
    for peer, raw in peer_keys:
        mask = _mask(me.exchange(peer), round_id, encoded.size)
        encoded = (encoded + mask) % MOD if my_fp < fingerprint(raw) else (encoded + MOD - mask) % MOD
    payload = {
        "format": FORMAT,
        "round": round_id,
        "member": my_fp,
        "roster": roster,
        "base": base.digest(),
        "classes": base.classes,
        "n_features": N_FEATURES,
        "epsilon": epsilon,
        "delta": DELTA,
        "clip": CLIP,
        "update": _b64(encoded.astype("<u4").tobytes()),
    }
    eph = X25519PrivateKey.generate()
    eph_pub = eph.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    header = {"format": FORMAT, "to": fingerprint(agg_raw), "ephemeral": _b64(eph_pub)}
    aad = json.dumps(header, sort_keys=True).encode()
    key = _hkdf(eph.exchange(agg_pub), b"finanalytics-federated-v1:" + aad)
    nonce = os.urandom(12)
    ciphertext = AESGCM(key).encrypt(nonce, json.dumps(payload).encode(), aad)
    blob = json.dumps({"header": header, "nonce": _b64(nonce), "ciphertext": _b64(ciphertext)}).encode()
    info = {
        "round": round_id,
        "member": my_fp,
        "members": len(roster),
        "labels": n,
        "epsilon": epsilon,
        "delta": DELTA,
        "noise_scale_total": round(scale, 6),
        "clip": CLIP,
        "update_norm_before_clip": round(norm, 4),
    }
    return blob, info


def write_update(
    store: Any,
    recipient: Path,
    member_key: Path,
    peers: list[Path],
    round_id: str,
    epsilon: float,
    base_path: Path | None,
    out: Path,
) -> dict[str, Any]:
    """Check the privacy budget, make the update, record the release and the audit entry in
    one transaction and commit it; then write the file (0600). A refused update spends
    nothing and writes nothing; a charged update whose file fails to be written is lost."""
    from finanalytics_cli.engine.files import resolve_output, write_user_file
    from finanalytics_cli.privacy.audit import append
    from finanalytics_cli.privacy.dp import check_budget, record_release

    if not peers:
        raise InvalidInput("secure aggregation needs the other members' public keys (--peer, at least one)")
    if not MIN_UPDATE_EPSILON <= epsilon <= MAX_UPDATE_EPSILON:
        raise InvalidInput(f"--epsilon for an update must be {MIN_UPDATE_EPSILON:g} to {MAX_UPDATE_EPSILON:g}")
    target = resolve_output(out)  # refused before any budget is spent
    if os.path.lexists(target):
        raise InvalidInput(f"{out} already exists")
    with store.transaction():
        check_budget(store.con, epsilon, DELTA)
        blob, info = export_update(store, recipient, member_key, peers, round_id, epsilon, base_path)
        record_release(
            store.con,
            f"federated update, round {round_id}",
            "OpenDP Gaussian (zCDP -> approximate DP) on the clipped model update",
            epsilon,
            info["delta"],
            {"clip": info["clip"], "noise_scale": info["noise_scale_total"]},
        )
        append(store.con, "export", {"command": "federated export-update", "epsilon": epsilon})
    # The charge has committed: only now does the update exist outside the store. A file
    # that then fails to be written is epsilon lost, never a release without its charge.
    write_user_file(target, blob, overwrite=False)
    return info


def _open_update(path: Path, me: Any, my_fp: str) -> dict[str, Any]:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from finanalytics_cli.engine.files import read_user_file

    data = read_user_file(path, max_bytes=64 * 2**20, option="update file")
    try:
        doc = json.loads(data.decode("utf-8"))
        header = doc["header"]
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ValueError
        nonce, ciphertext = _unb64(doc["nonce"]), _unb64(doc["ciphertext"])
        if len(nonce) != 12:
            raise ValueError
        eph = X25519PublicKey.from_public_bytes(_unb64(header["ephemeral"]))
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        raise InvalidInput(f"{path} is not a federated update file") from None
    if header.get("to") != my_fp:
        raise InvalidInput(f"{path} is encrypted for another key ({str(header.get('to'))[:20]}), not this aggregator's")
    aad = json.dumps(header, sort_keys=True).encode()
    try:
        key = _hkdf(me.exchange(eph), b"finanalytics-federated-v1:" + aad)
        payload = json.loads(AESGCM(key).decrypt(nonce, ciphertext, aad))
    except (InvalidTag, ValueError):  # ValueError: a low-order (all-zero) ephemeral key
        raise InvalidInput(f"{path} failed authentication: it was altered or not made for this key") from None
    if not isinstance(payload, dict):
        raise InvalidInput(f"{path} is not a federated update file")
    return payload


def aggregate(files: list[Path], aggregator_key: Path, base_path: Path | None = None) -> FederatedModel:
    """Decrypt, check the roster, add the masked updates (the masks cancel) and average."""
    import numpy as np
    from cryptography.hazmat.primitives import serialization

    if len(files) < 2:
        raise InvalidInput("aggregation needs the updates of at least two members")
    me = _private(aggregator_key)
    my_fp = fingerprint(me.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    base = load_model_file(base_path) if base_path else zero_model()
    payloads = [_open_update(f, me, my_fp) for f in files]
    first = payloads[0]
    for p, f in zip(payloads, files, strict=True):
        for field in ("round", "roster", "base", "classes", "n_features"):
            if p[field] != first[field]:
                raise InvalidInput(f"{f}: its {field} differs from {files[0]}'s: updates of one round only")
    if first["base"] != base.digest():
        raise InvalidInput("the updates were trained from another base model than --base")
    members = [p["member"] for p in payloads]
    if len(set(members)) != len(members):
        raise InvalidInput("a member sent more than one update")
    missing = sorted(set(first["roster"]) - set(members))
    extra = sorted(set(members) - set(first["roster"]))
    if missing or extra:
        raise InvalidInput(
            f"the updates do not match the roster (missing {', '.join(missing) or 'none'}, unknown "
            f"{', '.join(extra) or 'none'}): the masks only cancel when every member's update is there"
        )
    total = np.zeros(len(base.classes) * (N_FEATURES + 1), dtype=np.uint64)
    for p in payloads:
        vec = np.frombuffer(_unb64(p["update"]), dtype="<u4").astype(np.uint64)
        if vec.size != total.size:
            raise InvalidInput("an update has the wrong size")
        total = (total + vec) % MOD
    signed = total.astype(np.int64)
    signed[signed >= MOD // 2] -= MOD
    summed = signed.astype(np.float64) / SCALE
    # An honest sum is at most members x CLIP plus the members' Gaussian noise; a member
    # who sends anything larger (every coordinate 2^31-1) is poisoning the model: refused.
    variance = 0.0
    for p in payloads:
        try:
            eps = float(p["epsilon"])
        except (TypeError, ValueError):
            eps = math.nan
        if not (MIN_UPDATE_EPSILON <= eps <= MAX_UPDATE_EPSILON):
            raise InvalidInput(f"an update declares epsilon {p.get('epsilon')!r}, outside the protocol's range")
        variance += noise_scale(eps) ** 2
    limit = len(payloads) * CLIP + 6.0 * math.sqrt(variance * summed.size)
    norm = float(np.linalg.norm(summed))
    if not math.isfinite(norm) or norm > limit:
        raise InvalidInput(
            f"the updates add up to a norm of {norm:,.0f}, beyond the {limit:,.0f} honest members can send "
            "(clipped updates plus their noise): one of them is malformed or poisoned; the round is refused"
        )
    mean = (summed / len(payloads)).reshape(base.weights.shape)
    return FederatedModel(base.classes, base.weights + mean, first["round"], len(payloads))


def import_model(store: Any, path: Path) -> dict[str, Any]:
    """Register the shared model as a category_classifier challenger, measured on this
    store's own labels (it is not deployed: `models deploy` decides)."""
    import numpy as np

    from finanalytics_cli.engine.models.registry import register_model

    model = load_model_file(path)
    if model.classes != public_classes():
        raise InvalidInput(f"{path} was made for another category list")
    con = store.con
    try:
        x, y, n = local_data(con)
        z = np.asarray(x @ model.weights[:, :-1].T) + model.weights[:, -1]
        accuracy = float((z.argmax(axis=1) == y.argmax(axis=1)).mean())
    except InsufficientData:
        n, accuracy = 0, float("nan")
    metrics = {"accuracy": round(accuracy, 4) if n else None, "evaluated_on_own_labels": n, "members": model.members}
    model_id = register_model(
        con,
        store.keys.active,
        model_type="category_classifier",
        algorithm="federated_logreg",
        features=["hashed character 3-5-grams of merchant and payee"],
        hyperparameters={"n_features": N_FEATURES, "round": model.round, "members": model.members},
        metrics=metrics,
        validation={"source": str(path.name), "digest": model.digest()},
        data_from=None,
        data_to=None,
        model=model,
    )
    from finanalytics_cli.privacy.audit import append

    append(con, "model_import", {"model_id": model_id, "model_type": "category_classifier"})
    return {"model_id": model_id, "metrics": metrics, "digest": model.digest()}
