"""core.store aggregate readers against the same numbers computed in pandas from the rows."""

from __future__ import annotations

import pandas as pd

from core.store import ResultsStore, RunInfo


def test_accuracy_counts_match_pandas(tmp_path, rng):
    store = ResultsStore(tmp_path / "results.duckdb")
    rows = []
    for run_id in ("a", "b"):
        store.start_run(RunInfo(run_id, "m", "imagenet-c", "", "paper", 300))
        for i in range(300):
            label, pred = int(rng.integers(0, 5)), int(rng.integers(0, 5))
            rows.append({"run_id": run_id, "image_id": f"{i}.JPEG", "label": label, "pred": pred,
                         "labels": [int(v) for v in rng.choice(5, int(rng.integers(0, 3)), replace=False)],
                         "condition": f"fog/{i % 3}", "correct": pred == label,
                         "error": "unreadable" if i % 50 == 0 else None})
    store.write_batch(rows)
    frame = pd.concat([store.predictions("a"), store.predictions("b")], ignore_index=True)
    readable = frame[frame["error"].isna()]
    counts = store.accuracy_counts(["a", "b"], by_condition=True).set_index(["run_id", "condition"])
    expected = readable.groupby(["run_id", "condition"])["correct"].agg(["size", "sum"])
    assert counts["n"].tolist() == expected["size"].tolist() and counts["correct"].tolist() == expected["sum"].tolist()
    real = store.accuracy_counts(None, real=True).set_index("run_id")
    with_real = readable[readable["labels"].map(len) > 0]
    hits = [pred in set(labels) for pred, labels in zip(with_real["pred"], with_real["labels"])]
    expected_real = with_real.assign(hit=hits).groupby("run_id")["hit"].agg(["size", "sum"])
    assert real["n"].tolist() == expected_real["size"].tolist()
    assert real["correct"].tolist() == expected_real["sum"].tolist()
    assert store.accuracy_counts([]).empty and list(store.accuracy_counts(["a"])["n"]) == [294]
    assert store.calibration_columns("a").empty  # no logits, no derived columns: nothing to calibrate
