"""Scoring analytics against a truth (the sample household's): recurring series, anomalies."""

from __future__ import annotations

from typing import Any


def series_f1(detected: list[set[int]], truth: dict[str, set[int]], min_jaccard: float = 0.5) -> dict[str, Any]:
    """Each detected series matches the truth series it overlaps most (Jaccard >= 0.5), once."""
    matched: set[str] = set()
    tp = 0
    false_pos = []
    for i, tx in enumerate(detected):
        best = max(truth, key=lambda k: len(truth[k] & tx), default=None)
        if best is not None and best not in matched and len(truth[best] & tx) / len(truth[best] | tx) >= min_jaccard:
            matched.add(best)
            tp += 1
        else:
            false_pos.append(i)
    precision = tp / len(detected) if detected else 0.0
    recall = len(matched) / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "detected": len(detected),
        "truth": len(truth),
        "missed": sorted(set(truth) - matched),
        "false_positive_indexes": false_pos,
    }


def finding_pr(flagged: set[int], truth: set[int]) -> dict[str, Any]:
    tp = len(flagged & truth)
    precision = tp / len(flagged) if flagged else 0.0
    recall = tp / len(truth) if truth else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "flagged": len(flagged),
        "truth": len(truth),
        "true_positives": tp,
        "false_positives": sorted(flagged - truth),
        "missed": sorted(truth - flagged),
    }
