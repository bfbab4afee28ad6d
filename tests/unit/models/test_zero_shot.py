"""core.models.zero_shot: the truncated text pass equals encode_text; heads are cached by content."""

from __future__ import annotations

import math

import pytest
import torch

from core.imagenet import class_names
from core.models.zero_shot import (_prompts, encode_text_truncated, head_key, head_path, load_head,
                                   openai_templates)


def _relative_difference(model, arch, prompts):
    import open_clip

    tokens = open_clip.get_tokenizer(arch)(prompts)
    with torch.inference_mode():
        full, truncated = model.encode_text(tokens), encode_text_truncated(model, tokens)
    return ((full - truncated).norm(dim=-1) / full.norm(dim=-1)).max().item()


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["ViT-B-16", "convnext_base"])
def test_truncated_pass_equals_encode_text_on_the_paper_text_towers(arch):
    """Same architecture as the paper's CLIP models (random weights): float-precision agreement."""
    import open_clip

    torch.manual_seed(0)
    model = open_clip.create_model(arch, pretrained=None).eval()
    prompts = _prompts(class_names()[:8], openai_templates()[::10])  # short and long prompts mixed
    assert _relative_difference(model, arch, prompts) < 1e-5


def test_truncated_pass_equals_encode_text_on_the_tiny_model(tiny_specs, tiny_files):
    from core.models.load import load_model

    loaded = load_model(tiny_specs["tiny_clip"], device="cpu")
    assert _relative_difference(loaded.module, "tiny_clip", _prompts(class_names()[:20], openai_templates())) < 1e-5


def test_templates_hash_by_rendered_text(tiny_specs):
    spec = tiny_specs["tiny_clip"]
    templates = openai_templates()
    same_text = tuple(lambda c, t=t: t(c) for t in templates)  # new function objects, same strings
    assert head_key(spec, class_names(), templates) == head_key(spec, class_names(), same_text)
    assert head_key(spec, class_names(), templates) != head_key(spec, class_names(), templates[:-1])
    assert head_key(spec, class_names(), templates) != head_key(spec, class_names()[::-1], templates)


def test_head_is_the_normalised_mean_of_template_embeddings(tiny_specs, tiny_clip_head):
    """Hand-check one class against encode_text directly (open_clip's recipe, written out)."""
    import open_clip
    import torch.nn.functional as F

    from core.models.load import load_model

    loaded = load_model(tiny_specs["tiny_clip"], device="cpu")
    assert tiny_clip_head.shape == (32, 1000)
    torch.testing.assert_close(tiny_clip_head.norm(dim=0), torch.ones(1000))
    tokens = open_clip.get_tokenizer("tiny_clip")([t(class_names()[281]) for t in openai_templates()])
    with torch.inference_mode():
        expected = F.normalize(F.normalize(loaded.module.encode_text(tokens), dim=-1).mean(0), dim=0)
    torch.testing.assert_close(tiny_clip_head[:, 281], expected, rtol=1e-5, atol=1e-5)


def test_head_is_cached_and_reloaded(tiny_specs, tiny_clip_head):
    spec = tiny_specs["tiny_clip"]
    assert head_path(head_key(spec, class_names(), openai_templates())).exists()
    torch.testing.assert_close(load_head(spec, class_names(), openai_templates()), tiny_clip_head)


def test_damaged_head_file_is_ignored(tiny_specs):
    spec = tiny_specs["tiny_clip"]
    templates = openai_templates()[:2]
    path = head_path(head_key(spec, class_names(), templates))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a tensor")
    assert load_head(spec, class_names(), templates) is None


def test_estimate_is_positive_and_finite(tiny_specs):
    from core.models.load import load_model
    from core.models.zero_shot import estimate_head_seconds

    seconds = estimate_head_seconds(load_model(tiny_specs["tiny_clip"], device="cpu"), class_names(), openai_templates())
    # a timing: its size depends on the machine's load (it passed 600 s on a busy 2-core CI machine), so
    # only what makes it usable as an estimate is checked here
    assert seconds > 0 and math.isfinite(seconds)
