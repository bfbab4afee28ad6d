"""core.models.registry: built-in entries, models.toml, messages."""

from __future__ import annotations

import pytest

from core.errors import InvalidModelEntry, UnknownModel
from core.models.preprocess import PROTOCOLS, resolve_preprocess
from core.models.registry import BUILTIN_MODELS, MODELS, ModelSpec, append_user_model, load_user_models, registry


def test_paper_models_have_their_exact_sources():
    assert MODELS.get("vit_sup").source == "deit3_base_patch16_224.fb_in22k_ft_in1k"
    assert MODELS.get("convnext_sup").source == "convnext_base.fb_in22k_ft_in1k"
    assert (MODELS.get("vit_clip").source, MODELS.get("vit_clip").pretrained) == ("ViT-B-16", "laion400m_e31")
    assert (MODELS.get("convnext_clip").source, MODELS.get("convnext_clip").pretrained) == (
        "convnext_base", "laion400m_s13b_b51k")
    assert [spec.name for spec in MODELS if spec.in_paper] == ["vit_sup", "convnext_sup", "vit_clip", "convnext_clip"]
    assert not MODELS.get("effnet_lite0").in_paper


@pytest.mark.parametrize("spec", BUILTIN_MODELS, ids=lambda spec: spec.name)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_entry_resolves_a_preprocess_config(spec, protocol):
    cfg = resolve_preprocess(spec, protocol)
    # EfficientNet-Lite1/-Lite2 were trained at 240 and 260 px (timm's cfgs of tf_efficientnet_lite1/2)
    assert cfg.input_size == {"effnet_lite1": 240, "effnet_lite2": 260}.get(spec.name, 224) and len(cfg.key()) == 16


def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownModel, match="Did you mean: vit_clip"):
        MODELS.get("vit_clp")


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"name": "Bad Name", "library": "timm", "source": "resnet50.a1_in1k", "family": "convnet"}, "snake_case"),
        ({"name": "x", "library": "keras", "source": "resnet50", "family": "convnet"}, "library"),
        ({"name": "x", "library": "open_clip", "source": "ViT-B-32", "family": "vit", "head": "zero_shot"}, "pretrained"),
        ({"name": "x", "library": "checkpoint", "source": "w.pth", "family": "convnet"}, "arch"),
        ({"name": "x", "library": "timm", "source": "resnet50", "family": "mlp"}, "family"),
        ({"name": "x", "library": "timm", "source": "resnet50", "family": "convnet", "colour": "red"}, "unknown keys"),
        ({"name": "x", "library": "timm"}, "missing keys"),
    ],
)
def test_broken_entries_are_reported_and_skipped(tmp_path, entry, message):
    lines = ["[[model]]"] + [f'{key} = "{value}"' for key, value in entry.items()]
    lines += ["[[model]]", 'name = "resnet50"', 'library = "timm"', 'source = "resnet50.a1_in1k"', 'family = "convnet"']
    path = tmp_path / "models.toml"
    path.write_text("\n".join(lines))
    specs, problems = load_user_models(path)
    assert [spec.name for spec in specs] == ["resnet50"]
    assert len(problems) == 1 and message in problems[0] and "model #1" in problems[0]


def test_invalid_toml_is_one_message(tmp_path):
    path = tmp_path / "models.toml"
    path.write_text("[[model]\nname=")
    specs, problems = load_user_models(path)
    assert specs == [] and "not valid TOML" in problems[0]


def test_user_model_round_trips_through_models_toml(tmp_path):
    path = tmp_path / "models.toml"
    spec = ModelSpec("resnet50_a1", "timm", "resnet50.a1_in1k", family="convnet", label='ResNet-50 "a1"')
    append_user_model(spec, path)
    models, problems = registry(path)
    assert problems == []
    assert models.get("resnet50_a1") == spec and models.get("resnet50_a1").user
    assert models.names()[: len(BUILTIN_MODELS)] == [s.name for s in BUILTIN_MODELS]
    with pytest.raises(InvalidModelEntry, match="already exists"):
        append_user_model(spec, path)


def test_user_entry_cannot_shadow_a_builtin(tmp_path):
    path = tmp_path / "models.toml"
    path.write_text('[[model]]\nname = "vit_sup"\nlibrary = "timm"\nsource = "resnet50.a1_in1k"\nfamily = "convnet"\n')
    models, problems = registry(path)
    assert models.get("vit_sup").source == "deit3_base_patch16_224.fb_in22k_ft_in1k"
    assert "defined twice" in problems[0]
