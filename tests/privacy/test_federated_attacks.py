"""Attacks on the federated masks: a CSPRNG keyed by the pair's secret and the round."""

from __future__ import annotations

import numpy as np

from finanalytics_cli.privacy import federated as fl


def test_masks_are_chacha20_keyed_by_the_pair_the_nonce_and_the_round() -> None:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

    secret, nonce = bytes(range(32)), b"\x07" * 32
    a = fl._mask(secret, nonce, "digest-1", 1000)
    assert np.array_equal(a, fl._mask(secret, nonce, "digest-1", 1000))  # both members draw the same mask
    assert not np.array_equal(a, fl._mask(secret, b"\x08" * 32, "digest-1", 1000))  # a new round nonce
    assert not np.array_equal(a, fl._mask(secret, nonce, "digest-2", 1000))
    assert not np.array_equal(a, fl._mask(bytes(32), nonce, "digest-1", 1000))
    key = fl._hkdf(secret, b"finanalytics-mask-v3:" + nonce + b"digest-1", 32)
    stream = Cipher(algorithms.ChaCha20(key, b"\x00" * 16), mode=None).encryptor().update(b"\x00" * 8000)
    assert np.array_equal(a, np.frombuffer(stream, dtype="<u8") % np.uint64(fl.MOD))
    # numpy's PCG64 seeded from the same secret is not what is used.
    seed = int.from_bytes(fl._hkdf(secret, b"finanalytics-mask:r1", 16), "big")
    pcg = np.random.Generator(np.random.PCG64(seed)).integers(0, fl.MOD, size=1000, dtype=np.uint64)
    assert not np.array_equal(a, pcg)
    assert int(a.max()) < fl.MOD and 0.45 < float((a < fl.MOD // 2).mean()) < 0.55


def test_the_update_sensitivity_does_not_depend_on_the_number_of_labels() -> None:
    """Replacing one labelled transaction moves a store's update (class sums and counts)
    by at most SENSITIVITY in L2, for 25 or 2,500 labels alike: measured on real features."""
    import random

    classes = fl.public_classes()
    rng = random.Random(3)
    words = ["whole foods", "shell oil", "netflix.com", "acme payroll", "uber trip", "cvs pharmacy", "rei"]
    worst = 0.0
    for n in (25, 2500):
        texts = [f"{rng.choice(words)} {rng.randint(1, 9999)}" for _ in range(n)]
        labels = [rng.choice(classes) for _ in range(n)]
        x = fl.features(texts, [None] * n)
        s1, c1 = fl.class_sums(x, labels, classes)
        for _ in range(20):
            i = rng.randrange(n)
            texts2, labels2 = list(texts), list(labels)
            texts2[i], labels2[i] = "zzz completely different 42", rng.choice(classes)
            s2, c2 = fl.class_sums(fl.features(texts2, [None] * n), labels2, classes)
            moved = float(np.sqrt(np.sum((s1 - s2) ** 2) + np.sum((c1 - c2) ** 2)))
            worst = max(worst, moved)
    assert 1.0 < worst <= fl.SENSITIVITY + 1e-9


def test_all_zero_x25519_keys_are_invalid_input_not_a_crash(tmp_path) -> None:
    import json

    import pytest

    from finanalytics_cli.engine.errors import InvalidInput

    fl.keygen(tmp_path, "agg")
    agg = fl.read_private(tmp_path / "agg.key")
    header = {"format": fl.FORMAT, "to": agg.public.fp, "ephemeral": fl._b64(bytes(32))}
    update = tmp_path / "zero.upd"
    update.write_text(json.dumps({"header": header, "nonce": fl._b64(bytes(12)), "ciphertext": fl._b64(b"x" * 40)}))
    with pytest.raises(InvalidInput, match="failed authentication"):
        fl._open_update(update, agg)
    doc = json.loads((tmp_path / "agg.pub").read_text())
    doc["x25519"] = fl._b64(bytes(32))
    (tmp_path / "zero.pub").write_text(json.dumps(doc))
    with pytest.raises(InvalidInput, match="no valid public keys"):
        fl.read_public(tmp_path / "zero.pub")


def test_the_label_set_does_not_depend_on_other_rows(sample_store, sample_truth_csv) -> None:
    """Transfer matching and rules look at other rows; if they decided which labels enter
    an update, replacing one transaction could move many labels (beyond the sensitivity).
    Only the user's own labels count, matched as a transfer later or not."""
    from finanalytics_cli.engine.sample_household import label_from_truth

    label_from_truth(sample_store.con, sample_truth_csv)
    con = sample_store.con
    before = fl.local_data(con)
    some = [
        r[0]
        for r in con.execute(
            "SELECT tx_id FROM transactions WHERE category_source = 'user' AND NOT is_transfer LIMIT 25"
        ).fetchall()
    ]
    con.execute(f"UPDATE transactions SET is_transfer = true WHERE tx_id IN ({','.join(map(str, some))})")
    con.execute(
        "UPDATE transactions SET category = 'Shopping', category_source = 'rule:1' "
        "WHERE tx_id = (SELECT min(tx_id) FROM transactions WHERE category_source IS NULL)"
    )
    after = fl.local_data(con)
    assert after.labels == before.labels and after.dates == before.dates
