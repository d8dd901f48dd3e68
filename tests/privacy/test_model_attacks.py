"""Stored model artifacts: a tag bound to the model's row, and a failed check audited."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest

from finanalytics_cli.engine.errors import ModelUnavailable
from finanalytics_cli.engine.models import registry


def _register(store: Any, payload: dict[str, Any]) -> int:
    return registry.register_model(
        store.con,
        store.keys.active,
        model_type="category_classifier",
        algorithm="test",
        features=[],
        hyperparameters={},
        metrics={},
        validation={},
        data_from=None,
        data_to=None,
        model=payload,
    )


def test_an_artifact_moved_to_another_models_row_is_refused_and_audited(store: Any) -> None:
    """Old and new versions are both validly tagged; putting the old (say, poisoned)
    artifact and its tag in place of the deployed one must not load."""
    old = _register(store, {"weights": "old, poisoned"})
    new = _register(store, {"weights": "new"})
    assert registry.load_model(store.con, store.keys.active, new) == {"weights": "new"}
    store.con.execute(
        "UPDATE ml_models SET artifact = o.artifact, artifact_hmac = o.artifact_hmac "
        "FROM (SELECT artifact, artifact_hmac FROM ml_models WHERE model_id = ?) o WHERE model_id = ?",
        [old, new],
    )
    with pytest.raises(ModelUnavailable, match="failed authentication"):
        registry.load_model(store.con, store.keys.active, new)
    events = store.con.execute("SELECT action, details FROM audit_log ORDER BY 1").fetchall()
    assert any(a == "model_auth_failed" and f'"model_id": {new}' in str(d) for a, d in events), events
    assert registry.load_model(store.con, store.keys.active, old) == {"weights": "old, poisoned"}


def test_a_tag_from_before_the_binding_is_upgraded_at_open(store: Any, store_paths: Any) -> None:
    from finanalytics_cli.engine.store import Store

    model_id = _register(store, {"weights": "v1"})
    blob = bytes(store.con.execute("SELECT artifact FROM ml_models WHERE model_id = ?", [model_id]).fetchone()[0])
    legacy = "hmac-sha256:" + hmac.new(registry.artifact_key(store.keys.active), blob, hashlib.sha256).hexdigest()
    store.con.execute("UPDATE ml_models SET artifact_hmac = ? WHERE model_id = ?", [legacy, model_id])
    store.close()
    with Store.open(store_paths) as again:
        tag = again.con.execute("SELECT artifact_hmac FROM ml_models WHERE model_id = ?", [model_id]).fetchone()[0]
        assert tag.startswith("hmac-sha256-v2:")
        assert registry.load_model(again.con, again.keys.active, model_id) == {"weights": "v1"}


def test_a_federated_model_of_the_old_format_falls_back_instead_of_crashing(store: Any) -> None:
    """A logistic-weights shared model registered before the class-sum format unpickles
    into an object that cannot predict: it is refused at load (keyword-rule fallback)."""
    from finanalytics_cli.privacy.federated import FederatedModel

    old = FederatedModel.__new__(FederatedModel)
    old.__dict__.update({"classes": ["Groceries"], "weights": [[0.0]], "round": "r1", "members": 3})
    model_id = _register(store, old)  # type: ignore[arg-type]
    with pytest.raises(ModelUnavailable, match="could not be loaded"):
        registry.load_model(store.con, store.keys.active, model_id)
