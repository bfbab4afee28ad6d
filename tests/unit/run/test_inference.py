"""core.run.inference: batched predictions, the zero-shot path and the on-disk cache."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from core.run.inference import classify, logits_for
from core.images import decode_image
from core.models.load import load_model
from core.models.preprocess import crop_for_model, resolve_preprocess, to_model_tensor
from core.models.registry import MODELS
from tests.conftest import encoded, photo


def _images():
    return [decode_image(encoded(photo(name)), name) for name in ("chelsea", "coffee", "astronaut")]


def test_batched_predictions_match_one_by_one(tiny_specs):
    loaded = load_model(tiny_specs["tiny_convnext"], device="cpu")
    cfg = resolve_preprocess(loaded.spec, "paper")
    images = _images()
    batched = classify(loaded, images, cfg, batch_size=3, use_cache=False)
    single = [classify(loaded, [image], cfg, use_cache=False)[0] for image in images]
    for a, b in zip(batched, single):
        assert a.top_index == b.top_index
        assert all(abs(x - y) < 1e-5 for x, y in zip(a.top_prob, b.top_prob))
        assert sorted(a.top_prob, reverse=True) == list(a.top_prob) and 0 < sum(a.top_prob) <= 1 + 1e-6


def test_second_call_is_answered_from_disk(tiny_specs):
    loaded = load_model(tiny_specs["tiny_vit"], device="cpu")
    cfg = resolve_preprocess(loaded.spec, "paper")
    first = classify(loaded, _images()[:2], cfg)
    second = classify(loaded, _images()[:2], cfg)
    assert [p.cached for p in second] == [True, True]
    assert [p.top_index for p in first] == [p.top_index for p in second]
    other = classify(loaded, _images()[:1], resolve_preprocess(loaded.spec, "paper", interpolation="nearest"))
    assert not other[0].cached  # another transform never reuses a result


def test_zero_shot_logits_are_100_times_cosine(tiny_specs, tiny_clip_head):
    loaded = load_model(tiny_specs["tiny_clip"], device="cpu")
    cfg = resolve_preprocess(loaded.spec, "paper")
    assert cfg.input_size == 32
    batch = to_model_tensor(crop_for_model(photo("chelsea"), cfg), cfg)[None]
    with torch.inference_mode():
        logits = logits_for(loaded, batch, tiny_clip_head)
        features = loaded.module.encode_image(batch)
    expected = 100 * F.cosine_similarity(features[:, :, None], tiny_clip_head[None], dim=1)
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-4)
    prediction = classify(loaded, _images()[:1], cfg, head=tiny_clip_head, head_key="k", use_cache=False)[0]
    assert prediction.top1 == int(expected.argmax())


def test_offline_model_end_to_end_on_a_cat():
    loaded = load_model(MODELS.get("effnet_lite0"), device="cpu")
    prediction = classify(loaded, _images()[:1], resolve_preprocess(loaded.spec, "paper"), use_cache=False)[0]
    assert {281, 282, 285} & set(prediction.top_index[:3])
