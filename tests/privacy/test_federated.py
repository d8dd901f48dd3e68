"""Federated learning with three simulated households through the real CLI: a signed
round, DP updates (class sums), secure aggregation, a signed shared model, and its import
measured out of sample."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from finanalytics_cli.exit_codes import EXIT_CODES

INVALID = EXIT_CODES["INVALID_INPUT"]
GROUPS = {
    "alice": ["exports/checking_us.csv", "exports/savings.ofx"],
    "bob": ["exports/creditcard.ofx"],
    "carol": ["exports/girokonto_eu.csv"],
}


@pytest.fixture
def households(isolated_home: Path) -> list[str]:
    from finanalytics_cli.engine.ingest import ImportOptions, Source, import_sources
    from finanalytics_cli.engine.paths import resolve_paths
    from finanalytics_cli.engine.sample_household import EXPORT_ACCOUNTS, label_from_truth, sample_files
    from finanalytics_cli.engine.store import Store

    files = sample_files()
    truth = files["truth/transactions.csv"].decode()
    for name, rels in GROUPS.items():
        with Store.create(resolve_paths(name)) as s:
            for rel in rels:
                import_sources(s, [Source(rel, files[rel])], ImportOptions(account=EXPORT_ACCOUNTS[rel]))
            assert label_from_truth(s.con, truth) > 100
    return list(GROUPS)


@pytest.fixture
def keys(cli: Any, households: list[str], tmp_path: Path) -> Path:
    out = tmp_path / "keys"
    for name in ["aggregator", "stranger", *households]:
        made = cli.json("federated", "keygen", "--out", str(out), "--name", name)["data"]
        assert oct(Path(made["private_key"]).stat().st_mode & 0o777) == "0o600"
    return out


def new_round(
    cli: Any,
    keys: Path,
    members: list[str],
    out: Path,
    name: str = "r1",
    key: str = "aggregator",
    epsilon: str = "2",
) -> Path:
    member_args = [a for m in members for a in ("--member", str(keys / f"{m}.pub"))]
    cli.json(
        "federated",
        "round",
        "--key",
        str(keys / f"{key}.key"),
        *member_args,
        "--name",
        name,
        "--out",
        str(out),
        "--epsilon",
        epsilon,
    )
    return out


def export(cli: Any, name: str, keys: Path, round_file: Path, out: Path, *extra: str, expect_exit: int = 0) -> Any:
    args = [
        "--profile",
        name,
        "federated",
        "export-update",
        "--to",
        str(keys / "aggregator.pub"),
        "--key",
        str(keys / f"{name}.key"),
        "--round",
        str(round_file),
        "--out",
        str(out),
        *extra,
    ]
    if expect_exit:
        r = cli(*args, "--json")
        assert r.exit_code == expect_exit, r.stdout[-600:]
        return json.loads(r.stdout)
    return cli.json(*args)


def aggregate(cli: Any, keys: Path, round_file: Path, files: list[Path], out: Path, key: str = "aggregator") -> Any:
    return cli(
        "federated",
        "aggregate",
        *map(str, files),
        "--key",
        str(keys / f"{key}.key"),
        "--round",
        str(round_file),
        "--out",
        str(out),
        "--json",
    )


def all_updates(cli: Any, households: list[str], keys: Path, round_file: Path, tmp_path: Path) -> list[Path]:
    files = []
    for name in households:
        upd = tmp_path / f"{name}.upd"
        export(cli, name, keys, round_file, upd)
        files.append(upd)
    return files


def test_three_households_federate(cli, households: list[str], keys: Path, tmp_path: Path) -> None:
    from finanalytics_cli.engine.paths import resolve_paths
    from finanalytics_cli.engine.store import Store
    from finanalytics_cli.privacy import federated as fl

    round_file = new_round(cli, keys, households, tmp_path / "r1.round", epsilon="8")
    noisy: list[Any] = []
    real_noised = fl._noised

    def recording(update: Any, scale: float) -> Any:
        value = real_noised(update, scale)
        noisy.append(np.round(value * fl.SCALE) / fl.SCALE)
        return value

    updates = []
    for name in households:
        upd = tmp_path / f"{name}.upd"
        with pytest.MonkeyPatch.context() as m:
            m.setattr(fl, "_noised", recording)
            out = export(cli, name, keys, round_file, upd, "--epsilon", "8")
        assert out["data"]["members"] == 3 and out["meta"]["dp"]["epsilon_spent"] == 8
        assert out["data"]["sensitivity"] == 2.0 and "round_nonce" not in out["data"]
        status = cli.json("--profile", name, "privacy", "status")["data"]
        assert status["epsilon_spent"] == 8 and "Gaussian" in status["ledger"][0]["mechanism"]
        updates.append(upd)
        # The file holds no payee and cannot be read without the aggregator's key.
        assert b"WHOLEFDS" not in upd.read_bytes() and b"Oakwood" not in upd.read_bytes()
    # One member's update, decrypted alone, is masked: uniform over the encoding, nothing
    # like the noisy sums it carries.
    agg = fl.read_private(keys / "aggregator.key")
    alone = fl._decode(np.frombuffer(fl._unb64(fl._open_update(updates[0], agg)["update"]), dtype="<u8"))
    assert np.abs(alone).mean() > 1000 * np.abs(noisy[0]).mean()
    model_path = tmp_path / "shared.model"
    r = aggregate(cli, keys, round_file, updates, model_path)
    assert r.exit_code == 0, r.stdout[-600:]
    shared = fl.load_model_file(model_path, fl.read_public(keys / "aggregator.pub"))
    assert shared.members == 3
    # Secure aggregation is exact: the masks cancel, and the shared model is the sum of the
    # members' noisy updates (to the fixed-point step), denoised, none seen alone.
    total = np.sum(noisy, axis=0)
    sigma = np.sqrt(3) * fl.noise_scale(8.0)
    expected = np.clip(total[:, :-1] - fl.DENOISE * sigma, 0, None)
    assert np.abs(shared.sums - expected).max() <= 3 / fl.SCALE
    assert np.abs(shared.counts - np.clip(total[:, -1], 0, None)).max() <= 3 / fl.SCALE
    # Imported by a member who sent an update: only its labels after those it sent are
    # scored (none here), so no in-sample accuracy is claimed.
    imported = cli.json(
        "--profile", "alice", "federated", "import-model", str(model_path), "--from", str(keys / "aggregator.pub")
    )["data"]
    assert imported["metrics"]["accuracy"] is None and "fewer than 10" in imported["metrics"]["note"]
    assert imported["metrics"]["members"] == 3 and imported["metrics"]["own_labels_added"] > 100
    cli.json("--profile", "alice", "models", "deploy", str(imported["model_id"]), "--env", "production")
    with Store.open(resolve_paths("alice")) as s:  # new, uncategorised transactions arrive
        s.con.execute(
            "UPDATE transactions SET category = NULL, category_source = NULL WHERE posted_date >= '2026-07-01'"
        )
    cli.json("--profile", "alice", "categorize")
    with Store.open(resolve_paths("alice")) as s:
        predicted = s.con.execute(
            "SELECT count(*) FROM model_predictions WHERE model_id = ?", [imported["model_id"]]
        ).fetchone()[0]
    assert predicted > 0  # the federated model served the batch


def test_import_by_a_store_that_sent_nothing_is_measured_on_its_newest_labels(
    cli, households: list[str], keys: Path, tmp_path: Path
) -> None:
    """A newcomer (dave, who sent no update) imports: the accuracy is on its newest labels,
    which no update contained, beside the keyword rules and its own labels alone."""
    from finanalytics_cli.engine.ingest import ImportOptions, Source, import_sources
    from finanalytics_cli.engine.paths import resolve_paths
    from finanalytics_cli.engine.sample_household import EXPORT_ACCOUNTS, label_from_truth, sample_files
    from finanalytics_cli.engine.store import Store

    round_file = new_round(cli, keys, households[:2], tmp_path / "r1.round")
    updates = all_updates(cli, households[:2], keys, round_file, tmp_path)
    assert aggregate(cli, keys, round_file, updates, tmp_path / "shared.model").exit_code == 0
    files = sample_files()
    rel = "exports/girokonto_eu.csv"
    with Store.create(resolve_paths("dave")) as s:
        import_sources(s, [Source(rel, files[rel])], ImportOptions(account=EXPORT_ACCOUNTS[rel]))
        label_from_truth(s.con, files["truth/transactions.csv"].decode())
    m = cli.json(
        "--profile",
        "dave",
        "federated",
        "import-model",
        str(tmp_path / "shared.model"),
        "--from",
        str(keys / "aggregator.pub"),
    )["data"]["metrics"]
    assert m["evaluated_on"] >= 10 and "newest" in m["evaluation"]
    for k in ("accuracy_shared", "accuracy_shared_plus_own", "accuracy_own_only", "accuracy_keyword_rules"):
        assert 0.0 <= m[k] <= 1.0, m
    assert m["accuracy"] == m["accuracy_shared_plus_own"]


def test_forged_replayed_and_foreign_updates_are_refused(
    cli, households: list[str], keys: Path, tmp_path: Path
) -> None:
    from finanalytics_cli.privacy import federated as fl

    round_file = new_round(cli, keys, households, tmp_path / "r1.round")
    updates = all_updates(cli, households, keys, round_file, tmp_path)
    out = tmp_path / "m.model"
    # Bob claims to be alice: the payload names alice but is signed with bob's key.
    agg = fl.read_private(keys / "aggregator.key")
    alice = fl.read_public(keys / "alice.pub")
    payload = fl._open_update(updates[1], agg)
    payload.pop("signature")
    payload["member"] = alice.fp
    payload["signature"] = fl.read_private(keys / "bob.key").sign(fl._SIGN_UPDATE, payload)
    forged = tmp_path / "forged.upd"
    forged.write_bytes(_encrypt_for(agg.public, payload))
    r = aggregate(cli, keys, round_file, [forged, updates[1], updates[2]], out)
    assert r.exit_code == INVALID and "signature does not verify" in r.stdout, r.stdout[-500:]
    # A stranger (not on the roster) with a validly signed update of its own.
    payload["member"] = fl.read_public(keys / "stranger.pub").fp
    payload.pop("signature")
    payload["signature"] = fl.read_private(keys / "stranger.key").sign(fl._SIGN_UPDATE, payload)
    foreign = tmp_path / "foreign.upd"
    foreign.write_bytes(_encrypt_for(agg.public, payload))
    r = aggregate(cli, keys, round_file, [foreign, *updates], out)
    assert r.exit_code == INVALID and "not a member" in r.stdout
    # Alice's genuine update replayed into another round of the same name.
    r2 = new_round(cli, keys, households, tmp_path / "r1-again.round")
    fresh = []
    for name in households[1:]:
        upd = tmp_path / f"{name}-2.upd"
        export(cli, name, keys, r2, upd)
        fresh.append(upd)
    r = aggregate(cli, keys, r2, [updates[0], *fresh], out)
    assert r.exit_code == INVALID and "another round" in r.stdout
    # The same update twice.
    r = aggregate(cli, keys, round_file, [updates[0], updates[0], updates[1]], out)
    assert r.exit_code == INVALID and "more than one update" in r.stdout
    assert not out.exists()


def _encrypt_for(aggregator: Any, payload: dict[str, Any]) -> bytes:
    """An update file as a member's code would write it (the protocol is public)."""
    import os

    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from finanalytics_cli.privacy import federated as fl

    eph = X25519PrivateKey.generate()
    header = {"format": fl.FORMAT, "to": aggregator.fp, "ephemeral": fl._b64(fl._raw_public(eph.public_key()))}
    aad = json.dumps(header, sort_keys=True).encode()
    key = fl._hkdf(eph.exchange(aggregator.x_key()), b"finanalytics-federated-v3:" + aad)
    nonce = os.urandom(12)
    ct = AESGCM(key).encrypt(nonce, json.dumps(payload).encode(), aad)
    return json.dumps({"header": header, "nonce": fl._b64(nonce), "ciphertext": fl._b64(ct)}).encode()


def test_a_round_gets_one_update_per_store_and_new_rounds_new_masks(
    cli, households: list[str], keys: Path, tmp_path: Path
) -> None:
    """Two updates under the same masks reveal their difference: a store sends one update
    per round file, and a new round file (even of the same name) changes every mask."""
    from finanalytics_cli.privacy import federated as fl

    round_file = new_round(cli, keys, households, tmp_path / "r1.round", epsilon="1")
    export(cli, "alice", keys, round_file, tmp_path / "a1.upd", "--epsilon", "1")
    again = export(cli, "alice", keys, round_file, tmp_path / "a2.upd", "--epsilon", "1", expect_exit=INVALID)
    assert "already sent an update for round 'r1'" in again["error"]["message"]
    assert not (tmp_path / "a2.upd").exists()
    assert cli.json("--profile", "alice", "privacy", "status")["data"]["epsilon_spent"] == 1  # nothing charged
    other = new_round(cli, keys, households, tmp_path / "r1b.round", epsilon="1")
    a, b = (fl.load_round(p, fl.read_public(keys / "aggregator.pub")) for p in (round_file, other))
    assert a.name == b.name and a.nonce != b.nonce
    secret = fl.read_private(keys / "alice.key").x.exchange(fl.read_public(keys / "bob.pub").x_key())
    assert not np.array_equal(fl._mask(secret, a.nonce, a.digest, 64), fl._mask(secret, b.nonce, b.digest, 64))
    export(cli, "alice", keys, other, tmp_path / "a3.upd")  # a new round is fine (at its epsilon)


def test_round_files_and_models_must_be_signed_by_the_aggregator(
    cli, households: list[str], keys: Path, tmp_path: Path
) -> None:
    round_file = new_round(cli, keys, households, tmp_path / "r1.round")
    # A round file with a member swapped for the stranger (say, to see bob's masks).
    doc = json.loads(round_file.read_text())
    stranger = json.loads((keys / "stranger.pub").read_text())
    doc["members"][0] = {k: stranger[k] for k in ("x25519", "ed25519", "fp")}
    altered = tmp_path / "altered.round"
    altered.write_text(json.dumps(doc))
    r = export(cli, "bob", keys, altered, tmp_path / "b.upd", expect_exit=INVALID)
    assert "not signed by the aggregator" in r["error"]["message"]
    # A round file made by someone else than the aggregator the member trusts.
    fake = new_round(cli, keys, households, tmp_path / "fake.round", key="stranger")
    r = export(cli, "bob", keys, fake, tmp_path / "b.upd", expect_exit=INVALID)
    assert "not signed by the aggregator" in r["error"]["message"]
    assert cli.json("--profile", "bob", "privacy", "status")["data"]["epsilon_spent"] == 0
    # A genuine model, then altered; and one signed by the stranger.
    updates = all_updates(cli, households, keys, round_file, tmp_path)
    model = tmp_path / "shared.model"
    assert aggregate(cli, keys, round_file, updates, model).exit_code == 0
    mdoc = json.loads(model.read_text())
    sums = np.frombuffer(base64.b64decode(mdoc["sums"]), dtype="<f8").copy()
    sums[:] = 1e5
    mdoc["sums"] = base64.b64encode(sums.tobytes()).decode()
    bad = tmp_path / "altered.model"
    bad.write_text(json.dumps(mdoc))
    pub = str(keys / "aggregator.pub")
    r = cli("--profile", "bob", "federated", "import-model", str(bad), "--from", pub, "--json")
    assert r.exit_code == INVALID and "not signed by the aggregator" in r.stdout
    r = cli("--profile", "bob", "federated", "import-model", str(model), "--from", str(keys / "stranger.pub"), "--json")
    assert r.exit_code == INVALID and "not signed by the aggregator" in r.stdout
    assert cli.json("--profile", "bob", "models", "list")["data"] == []


def test_federated_bad_input(cli, households: list[str], keys: Path, tmp_path: Path) -> None:
    round_file = new_round(cli, keys, households, tmp_path / "r1.round")
    updates = all_updates(cli, households, keys, round_file, tmp_path)
    out = tmp_path / "m.model"
    r = aggregate(cli, keys, round_file, updates[:2], out)
    assert r.exit_code == INVALID and "missing" in json.loads(r.stdout)["error"]["message"]
    r = aggregate(cli, keys, round_file, updates, out, key="stranger")
    assert r.exit_code == INVALID and "not signed by the aggregator" in r.stdout
    tampered = tmp_path / "tampered.upd"
    doc = json.loads(updates[0].read_text())
    ct = bytearray(base64.b64decode(doc["ciphertext"]))
    ct[10] ^= 1
    doc["ciphertext"] = base64.b64encode(bytes(ct)).decode()
    tampered.write_text(json.dumps(doc))
    r = aggregate(cli, keys, round_file, [tampered, *updates[1:]], out)
    assert r.exit_code == INVALID and "failed authentication" in r.stdout
    garbage = tmp_path / "garbage.upd"
    garbage.write_text("not an update")
    assert aggregate(cli, keys, round_file, [garbage, *updates[1:]], out).exit_code == INVALID
    assert not out.exists()
    # A key file from before signing keys: a clear message, not a crash.
    old = tmp_path / "old.pub"
    old.write_text(json.dumps({"kind": "x25519-public", "key": base64.b64encode(b"\x01" * 32).decode()}))
    r = cli(
        "federated",
        "round",
        "--key",
        str(keys / "aggregator.key"),
        "--member",
        str(old),
        "--member",
        str(keys / "bob.pub"),
        "--name",
        "r9",
        "--out",
        str(tmp_path / "r9.round"),
        "--json",
    )
    assert r.exit_code == INVALID and "older finanalytics" in r.stdout
    # A key that is not on the round's roster (alice's store, the stranger's key).
    r = cli(
        "--profile",
        "alice",
        "federated",
        "export-update",
        "--to",
        str(keys / "aggregator.pub"),
        "--key",
        str(keys / "stranger.key"),
        "--round",
        str(new_round(cli, keys, households, tmp_path / "rs.round", name="rs")),
        "--out",
        str(tmp_path / "s.upd"),
        "--json",
    )
    assert r.exit_code == INVALID and "not a member of round 'rs'" in r.stdout, r.stdout[-400:]
    # A spent budget: nothing released, no file written.
    r2 = new_round(cli, keys, households, tmp_path / "r2.round", name="r2", epsilon="4")
    cli.json("--profile", "alice", "privacy", "budget", "set", "5")
    r = export(
        cli, "alice", keys, r2, tmp_path / "again.upd", "--epsilon", "4", expect_exit=EXIT_CODES["PRIVACY_VIOLATION"]
    )
    assert not (tmp_path / "again.upd").exists()
    for eps in ("0", "-2", "x", "11", "3"):  # "3": not the round's epsilon
        export(cli, "bob", keys, r2, tmp_path / "e.upd", "--epsilon", eps, expect_exit=INVALID)
    r = cli(
        "federated",
        "round",
        "--key",
        str(keys / "aggregator.key"),
        "--member",
        str(keys / "alice.pub"),
        "--member",
        str(keys / "bob.pub"),
        "--name",
        "r3",
        "--out",
        str(tmp_path / "r3.round"),
        "--epsilon",
        "50",
        "--json",
    )
    assert r.exit_code == INVALID and not (tmp_path / "r3.round").exists()
    r = cli(
        "--profile", "bob", "federated", "import-model", str(garbage), "--from", str(keys / "aggregator.pub"), "--json"
    )
    assert r.exit_code == INVALID


def test_a_poisoned_update_is_refused_by_the_aggregator(cli, households: list[str], keys: Path, tmp_path: Path) -> None:
    # One member runs modified code: its "noisy" update is every coordinate at the top of
    # what the model file admits, masked, signed and encrypted like any other.
    from finanalytics_cli.privacy import federated as fl

    round_file = new_round(cli, keys, households, tmp_path / "r1.round")
    for attack in ("huge", "negative"):
        updates = []
        rnd = new_round(cli, keys, households, tmp_path / f"{attack}.round", name=attack)
        for i, name in enumerate(households):
            upd = tmp_path / f"{name}-{attack}.upd"
            with pytest.MonkeyPatch.context() as poisoned:
                if i == 0:
                    value = 2**30 / fl.SCALE if attack == "huge" else -50.0
                    poisoned.setattr(fl, "_noised", lambda update, scale, v=value: np.full(update.shape, v))
                export(cli, name, keys, rnd, upd)
            updates.append(upd)
        r = aggregate(cli, keys, rnd, updates, tmp_path / "m")
        assert r.exit_code == INVALID and "poisoned" in r.stdout, r.stdout[-600:]
        assert not (tmp_path / "m").exists()
    assert round_file.exists()
