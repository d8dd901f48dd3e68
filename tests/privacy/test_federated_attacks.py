"""Attacks on the federated masks: they come from a CSPRNG keyed by the pair's secret."""

from __future__ import annotations

import numpy as np

from finanalytics_cli.privacy import federated as fl


def test_masks_are_chacha20_keyed_by_the_pair_and_the_round() -> None:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

    secret = bytes(range(32))
    a = fl._mask(secret, "r1", 1000)
    assert np.array_equal(a, fl._mask(secret, "r1", 1000))  # both members draw the same mask
    assert not np.array_equal(a, fl._mask(secret, "r2", 1000))
    assert not np.array_equal(a, fl._mask(bytes(32), "r1", 1000))
    key = fl._hkdf(secret, b"finanalytics-mask-v2:r1", 32)
    stream = Cipher(algorithms.ChaCha20(key, b"\x00" * 16), mode=None).encryptor().update(b"\x00" * 4000)
    assert np.array_equal(a, np.frombuffer(stream, dtype="<u4"))
    # numpy's PCG64 seeded from the same secret is not what is used.
    seed = int.from_bytes(fl._hkdf(secret, b"finanalytics-mask:r1", 16), "big")
    pcg = np.random.Generator(np.random.PCG64(seed)).integers(0, fl.MOD, size=1000, dtype=np.uint64)
    assert not np.array_equal(a, pcg)
    assert a.max() < fl.MOD and 0.45 < float((a < fl.MOD // 2).mean()) < 0.55
