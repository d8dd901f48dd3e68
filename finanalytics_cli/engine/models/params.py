"""`--param KEY=VALUE` parsing shared by every model type."""

from __future__ import annotations

from typing import Any

from finanalytics_cli.engine.errors import InvalidInput

# Threads a model fit uses. One: the data of a household is small, and OpenMP's
# busy-waiting threads slow down many times over when another process holds a core
# (LightGBM with two threads beside one busy process: 13 s -> 58 s; with one: 21 s either way).
FIT_THREADS = 1

# name -> (type, default, what it does)
ParamSpec = dict[str, tuple[type, Any, str]]


def parse_model_params(pairs: list[str], spec: ParamSpec, model_type: str) -> dict[str, Any]:
    """Defaults overridden by KEY=VALUE pairs; unknown keys and bad values are refused."""
    out = {k: default for k, (_, default, _) in spec.items()}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InvalidInput(f"--param {pair!r}: use KEY=VALUE")
        if key not in spec:
            raise InvalidInput(
                f"unknown parameter {key!r} for {model_type}; valid: "
                + ", ".join(f"{k} ({doc})" for k, (_, _, doc) in spec.items())
            )
        kind = spec[key][0]
        try:
            out[key] = kind(value)
        except ValueError:
            raise InvalidInput(f"--param {key}: {value!r} is not a {kind.__name__}") from None
    return out
