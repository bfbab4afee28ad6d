"""core.run.evaluation.evaluate: real cue-conflict end to end, samples, cancel/resume, 200-class masking,
invariance transforms, and the authors' released decisions."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from core.data.cue_conflict import SIXTEEN_CLASSES, sixteen_class_indices
from core.run.evaluation import evaluate
from core.run.decisions import import_author_decisions
from core.models.preprocess import apply_variant, crop_for_model, parse_variant, resolve_preprocess
from core.models.registry import MODELS
from core.store import ResultsStore
from tests.conftest import shared_data


def _quiet(_message: str) -> None:
    pass


@pytest.fixture(scope="module")
def effnet_cue_conflict(tmp_path_factory):
    """The offline model on all 1,280 real cue-conflict images (about a minute on 2 cores)."""
    cue = shared_data("cue-conflict")
    store = ResultsStore(tmp_path_factory.mktemp("cue") / "results.duckdb")
    updates = []
    summaries = evaluate(["effnet_lite0"], "cue-conflict", cue, store=store, batch_size=64, progress=updates.append,
                         say=_quiet)
    return store, summaries, updates


def test_offline_model_on_the_real_cue_conflict_set(effnet_cue_conflict):
    store, summaries, updates = effnet_cue_conflict
    assert summaries[0].status == "done" and summaries[0].written == 1280
    assert updates[-1].done == updates[-1].total == 1280 and updates[-1].images_per_s > 0
    rows = store.predictions(summaries[0].run_id)
    assert len(rows) == 1280 and rows.error.isna().all()
    assert set(rows.decision16) <= set(SIXTEEN_CLASSES)
    # the stored 16-class decision agrees with one recomputed from the stored logits
    ids, logits = store.logits(summaries[0].run_id)
    probabilities = torch.tensor(logits).softmax(-1).numpy()
    members = sixteen_class_indices()
    recomputed = [SIXTEEN_CLASSES[int(np.argmax([p[list(members[c])].mean() for c in SIXTEEN_CLASSES]))]
                  for p in probabilities]
    assert np.mean(np.array(recomputed) == rows.set_index("image_id").loc[ids, "decision16"].to_numpy()) > 0.99
    conflict = rows[rows["shape"] != rows["texture"]]
    shape_hits = (conflict["decision16"] == conflict["shape"]).sum()
    texture_hits = (conflict["decision16"] == conflict["texture"]).sum()
    shape_bias = shape_hits / (shape_hits + texture_hits)
    print(f"effnet_lite0 cue-conflict: shape bias {shape_bias:.3f} ({shape_hits} shape, {texture_hits} texture "
          f"decisions of {len(conflict)} conflict images)")
    assert 0 < shape_bias < 0.5  # ImageNet CNNs are texture-biased (Geirhos et al., 2019)


def test_finished_run_is_not_repeated(effnet_cue_conflict):
    store, summaries, _ = effnet_cue_conflict
    again = evaluate(["effnet_lite0"], "cue-conflict", shared_data("cue-conflict"), store=store, say=_quiet)
    assert again[0].status == "skipped" and again[0].run_id == summaries[0].run_id


def test_limit_and_seed_give_a_reproducible_sample(tmp_path, tiny_models_toml):
    cue = shared_data("cue-conflict")

    def sample(seed: int, db: str):
        store = ResultsStore(tmp_path / db)
        run = evaluate(["tiny_vit"], "cue-conflict", cue, limit=24, seed=seed, store=store, workers=0, say=_quiet)[0]
        return set(store.predictions(run.run_id).image_id), run.run_id

    first, run_a = sample(7, "a.duckdb")
    second, run_b = sample(7, "b.duckdb")
    third, run_c = sample(8, "c.duckdb")
    assert len(first) == 24 and first == second and first != third
    assert run_a == run_b != run_c


def test_stop_then_resume(tmp_path, tiny_models_toml):
    cue = shared_data("cue-conflict")
    store = ResultsStore(tmp_path / "results.duckdb")
    calls = []
    first = evaluate(["tiny_convnext", "tiny_vit"], "cue-conflict", cue, limit=40, batch_size=8, workers=0, store=store,
                     should_stop=lambda: calls.append(1) or len(calls) >= 2, say=_quiet)
    assert {summary.status for summary in first} == {"stopped"}
    assert set(store.runs().status) == {"stopped"}
    assert all(summary.written == 16 for summary in first)  # both models fed by the same two batches
    second = evaluate(["tiny_convnext", "tiny_vit"], "cue-conflict", cue, limit=40, batch_size=8, workers=0,
                      store=store, say=_quiet)
    assert [summary.written for summary in second] == [24, 24]
    assert set(store.runs().status) == {"done"} and set(store.runs().done) == {40}


def test_imagenet_r_style_masking_on_a_hand_made_case(tmp_path):
    """Global argmax outside the 200 classes: the prediction must be the best class inside them."""
    from core.data import BENCHMARKS
    from core.data.base import Item
    from core.run.evaluation import EvalJob, evaluate_batch
    from core.models.load import LoadedModel

    logits = torch.zeros(1, 1000)
    logits[0, 5] = 9.0  # outside the subset
    logits[0, 300] = 4.0  # best inside
    logits[0, 301] = 2.0

    class Fixed(torch.nn.Module):
        def forward(self, x):
            return logits.expand(x.shape[0], -1)

    subset = tuple(range(300, 500))
    job = EvalJob(LoadedModel(MODELS.get("effnet_lite0"), Fixed(), "fixed", "cpu"), resolve_preprocess(
        MODELS.get("effnet_lite0")), None, "r", {"x.png"})
    item = Item("x.png", "x.png", label=301)
    blocks = evaluate_batch({"m": job}, BENCHMARKS["imagenet-r"], subset, [(0, {"m": torch.zeros(3, 8, 8)}, None)],
                            [item])
    columns = blocks["m"][0].columns
    assert columns["pred"][0] == 300 and list(columns["top5"][0][:2]) == [300, 301]
    expected = np.exp([4.0, 2.0]) / (np.exp([4.0, 2.0]).sum() + 198)
    np.testing.assert_allclose(columns["top5_prob"][0][:2], expected, rtol=1e-5)
    assert columns["prob_true"][0] == pytest.approx(expected[1], rel=1e-5) and not columns["correct"][0]


def test_cue_conflict_paper_protocol_feeds_raw_pixels_to_the_supervised_paper_models():
    from core.data import BENCHMARKS

    assert BENCHMARKS["cue-conflict"].paper_raw_input
    image = Image.new("RGB", (224, 224))
    cfg = resolve_preprocess(MODELS.get("vit_sup"), "paper")
    import dataclasses

    raw = dataclasses.replace(cfg, resize_mode="none")
    assert crop_for_model(image, raw) is image


@pytest.mark.parametrize("name, base", [("vit_sup", 256), ("vit_clip", 224)])
def test_scale_variant_follows_the_paper(name, base):
    spec = MODELS.get(name)
    cfg = apply_variant(resolve_preprocess(spec, "paper"), spec, "paper", "scale=1.5")
    assert (cfg.resize_size, cfg.input_size, cfg.interpolation) == (round(1.5 * base), 224, "bilinear")
    library = apply_variant(resolve_preprocess(spec, "library"), spec, "library", "scale=2")
    assert library.interpolation == "bicubic"


def test_shift_moves_the_window_by_original_pixels():
    array = np.tile(np.arange(600, dtype=np.uint16)[None, :] % 256, (300, 1)).astype(np.uint8)
    image = Image.fromarray(np.stack([array] * 3, axis=-1))
    spec = MODELS.get("vit_sup")
    centred = apply_variant(resolve_preprocess(spec, "paper"), spec, "paper", "shift=0")
    shifted = apply_variant(resolve_preprocess(spec, "paper"), spec, "paper", "shift=30")
    # window side = 224 × 300 / 256 = 262.5 px; centred it starts at (600 - 262.5) / 2
    left = np.asarray(crop_for_model(image, centred))[0, 0, 0]
    moved = np.asarray(crop_for_model(image, shifted))[0, 0, 0]
    assert abs(int(moved) - int(left) - 30) <= 1
    assert crop_for_model(image, shifted).size == (224, 224)


def test_resolution_variant_runs_a_vit_at_another_size(tiny_specs):
    from core.models.load import load_model

    spec = tiny_specs["tiny_vit"]
    cfg = apply_variant(resolve_preprocess(spec, "paper"), spec, "paper", "resolution=96")
    assert cfg.input_size == 96
    loaded = load_model(spec, device="cpu", image_size=96)
    with torch.inference_mode():
        assert loaded.module(torch.zeros(1, 3, 96, 96)).shape == (1, 1000)
    clip = tiny_specs["tiny_clip"]  # open_clip: position embedding resized when the weights load
    assert apply_variant(resolve_preprocess(clip, "paper"), clip, "paper", "resolution=64").input_size == 64
    loaded = load_model(clip, device="cpu", image_size=64)
    with torch.inference_mode():
        assert loaded.module.encode_image(torch.zeros(1, 3, 64, 64)).shape == (1, 32)


def test_bad_variant_is_a_clear_error():
    with pytest.raises(ValueError, match="scale=1.5"):
        parse_variant("zoom=2")


def test_authors_decisions_are_imported_faithfully(tmp_path):
    authors = shared_data("cue-conflict-paper-models")
    store = ResultsStore(tmp_path / "results.duckdb")
    run_ids = import_author_decisions(authors, store, say=_quiet)
    assert len(run_ids) == 4
    runs = store.runs().set_index("model")
    assert set(runs.source) == {"authors"} and set(runs.done) == {1280}
    source = pd.read_csv(authors / "cue-conflict_vit-clip_session-1.csv")
    stored = store.predictions(runs.loc["vit_clip", "run_id"])
    assert (stored["decision16"] == stored["shape"]).sum() == (source.object_response == source.category).sum()
    assert import_author_decisions(authors, store, say=_quiet) == run_ids


def test_rows_equal_the_previous_per_image_path(effnet_cue_conflict):
    """The stored rows of the batched path (workers, vectorised rows, background writer) against the
    previous path recomputed here: PIL crop per image, fp32 forward in the same batches of 64, rows
    built one image at a time (tests/unit/run/test_rows.py `_reference_previous_rows`)."""
    from core.data import BENCHMARKS, load_items
    from core.images import decode_image
    from core.run.inference import logits_for
    from core.models.load import load_model
    from core.models.preprocess import to_model_tensor
    from tests.unit.run.test_rows import _reference_previous_rows

    cue = shared_data("cue-conflict")
    store, summaries, _ = effnet_cue_conflict
    stored = store.predictions(summaries[0].run_id).set_index("image_id")
    ids, stored_logits = store.logits(summaries[0].run_id)
    stored_logits = dict(zip(ids, stored_logits))
    loaded = load_model(MODELS.get("effnet_lite0"), device="cpu")
    cfg = resolve_preprocess(loaded.spec, "paper")
    items = load_items(BENCHMARKS["cue-conflict"], cue.resolve())[:256]  # the fixture's first four batches
    for start in range(0, len(items), 64):
        chunk = items[start:start + 64]
        batch = torch.stack([to_model_tensor(crop_for_model(decode_image(open(item.path, "rb").read(), item.image_id,
                                                                         max_bytes=1 << 31).image, cfg), cfg)
                             for item in chunk])
        with torch.inference_mode():
            logits = logits_for(loaded, batch).float()
        reference = _reference_previous_rows(logits, [-1] * len(chunk), shapes=[item.shape for item in chunk])
        for item, row, item_logits in zip(chunk, reference, logits):
            new = stored.loc[item.image_id]
            assert (new.pred, list(new.top5), new.decision16, bool(new.correct)) == (
                row["pred"], row["top5"], row["decision16"], row["correct"]), item.image_id
            np.testing.assert_allclose(new.top5_prob, row["top5_prob"], rtol=1e-5)
            np.testing.assert_allclose(new.probs16, row["probs16"], rtol=1e-5, atol=1e-8)
            np.testing.assert_array_equal(stored_logits[item.image_id], item_logits.numpy().astype(np.float16))


def test_importing_decisions_from_a_missing_or_empty_folder_is_an_error_with_the_fix(tmp_path):
    from core.errors import UserError
    from core.run.decisions import import_human_decisions

    store = ResultsStore(tmp_path / "results.duckdb")
    with pytest.raises(UserError, match=r"does not exist\. Run: python -m core download paper-decisions"):
        import_author_decisions(tmp_path / "nowhere", store, say=_quiet)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"Run: python -m core download paper-decisions"):
        import_author_decisions(tmp_path / "empty", store, say=_quiet)
    with pytest.raises(UserError, match=r"Run: python -m core download human-decisions"):
        import_human_decisions(tmp_path / "empty", store, say=_quiet)
    assert store.runs().empty
