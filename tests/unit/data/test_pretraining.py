"""core.data.pretraining: a published checkpoint's pretraining source and family, on real names.

The names are timm's own (results-imagenet.csv at the pinned commit aa4b585) and open_clip's; each expected source
was read by hand from the publishers' model cards, not from our rules.
"""

from __future__ import annotations

import pytest

from core.data.pretraining import (PRETRAINING, MetadataInvalid, family_of, parse_sources, pretraining_from_metadata, pretraining_of,
                                   read_metadata)
from core.errors import UserError
from tests.unit.data import published as tables

REAL = {  # name → source, read from the model cards
    "convnext_base.fb_in1k": "in1k",
    "resnet50.a1_in1k": "in1k",
    "resnet50.tv2_in1k": "in1k",
    "tf_efficientnet_b0.ap_in1k": "in1k",  # AdvProp: ImageNet-1k with adversarial examples
    "inception_v3.tf_adv_in1k": "in1k",
    "hiera_base_224.mae_in1k_ft_in1k": "in1k",  # self-supervised on ImageNet-1k, then fine-tuned on it
    "vit_base_patch16_224.augreg_in1k": "in1k",
    "deit3_base_patch16_224.fb_in1k": "in1k",
    "convnext_base.fb_in22k_ft_in1k": "in21k",
    "deit3_base_patch16_224.fb_in22k_ft_in1k": "in21k",
    "vit_base_patch16_224.augreg2_in21k_ft_in1k": "in21k",
    "vit_base_patch16_224.orig_in21k_ft_in1k": "in21k",
    "beitv2_base_patch16_224.in1k_ft_in22k_in1k": "in21k",  # fine-tuned on ImageNet-22k before 1k
    "eva02_base_patch14_448.mim_in22k_ft_in22k_in1k": "in21k",
    "hiera_small_abswin_256.sbb2_e200_in12k_ft_in1k": "in21k",  # ImageNet-12k is a subset of 22k
    "convnext_base.clip_laion2b_augreg_ft_in12k_in1k": "clip",
    "convnext_base.clip_laiona_augreg_ft_in1k_384": "clip",
    "vit_base_patch16_clip_224.openai_ft_in1k": "clip",
    "vit_base_patch16_clip_224.laion2b_ft_in12k_in1k": "clip",
    "resnet50.fb_swsl_ig1b_ft_in1k": "weak",
    "resnet50.fb_ssl_yfcc100m_ft_in1k": "weak",
    "tf_efficientnet_b0.ns_jft_in1k": "weak",
    "regnety_1280.swag_ft_in1k": "weak",
    "regnety_1280.seer_ft_in1k": "weak",
    "eva02_large_patch14_448.mim_m38m_ft_in22k_in1k": "other",
}


@pytest.mark.parametrize(("name", "source"), REAL.items())
def test_the_tag_of_a_real_name_gives_its_pretraining(name, source):
    found = pretraining_of(name)
    assert (found.source, found.read_from) == (source, "tag")


def test_two_sizes_of_one_checkpoint_share_their_pretraining():
    assert pretraining_of("convnext_base.fb_in22k_ft_in1k_384") == pretraining_of("convnext_base.fb_in22k_ft_in1k")


def test_an_untagged_name_is_read_from_timms_metadata_table(tmp_path):
    (tmp_path / "model_metadata-in1k.csv").write_text(tables.METADATA)
    metadata = read_metadata(tmp_path)
    assert metadata["ig_resnext101_32x8d"] == "ig1b-wsl"
    expected = {"adv_inception_v3": "in1k", "beit_base_patch16_224": "in21k", "ig_resnext101_32x8d": "weak",
                "tf_efficientnet_b0_ns": "weak", "resnet50": "in1k"}
    for name, source in expected.items():
        found = pretraining_of(name, metadata)
        assert (found.source, found.read_from) == (source, "model_metadata-in1k.csv")
    # the metadata names an architecture's old default: a tag that states its data wins
    assert pretraining_of("resnet50.fb_swsl_ig1b_ft_in1k", metadata).source == "weak"
    assert pretraining_from_metadata("resnet50", {"resnet50": "something-new"}) is None  # outside the documented set
    assert pretraining_of("resnet50", {}).source == "unknown"
    assert pretraining_of("mystery_net").source == "unknown"


def test_a_file_without_the_metadata_columns_is_refused(tmp_path):
    (tmp_path / "model_metadata-in1k.csv").write_text("name,data\nresnet50,in1k\n")
    with pytest.raises(MetadataInvalid, match="download timm-results"):
        read_metadata(tmp_path)
    assert read_metadata(tmp_path / "absent") == {}


def test_open_clip_checkpoints_are_image_text_pretrained():
    assert pretraining_of("ViT-B-16/laion400m_e31", publisher="open_clip").source == "clip"


@pytest.mark.parametrize(("name", "family"), [
    ("convnext_base.fb_in1k", "convnext"), ("convnextv2_base.fcmae_ft_in22k_in1k", "convnext"),
    ("resnet50d.ra4_e3600_r224_in1k", "resnet"), ("tf_efficientnetv2_s.in21k_ft_in1k", "efficientnet"),
    ("deit3_base_patch16_224.fb_in22k_ft_in1k", "deit"), ("regnety_040.ra3_in1k", "regnet"),
    ("swinv2_base_window8_256.ms_in1k", "swin"), ("vit_base_patch16_224.augreg_in1k", "vit"),
    ("ViT-B-16/laion2b_s34b_b88k", "vit"), ("convnext_base/laion400m_s13b_b51k", "convnext"),
    ("eca_nfnet_l0.ra2_in1k", "nfnet"), ("tiny_vit_5m_224.dist_in22k_ft_in1k", "tinyvit"),
    ("RN50x4/openai", "resnet"), ("RN101/yfcc15m", "resnet"), ("coca_ViT-B-32/laion2b_s13b_b90k", "vit"),
    ("xlm-roberta-base-ViT-B-32/laion5b_s13b_b90k", "vit"), ("nllb-clip-base/v1", "nllb"),
    ("EVA02-B-16/merged2b_s8b_b131k", "eva"), ("ViT-B-16-SigLIP/webli", "vit"),
    ("wide_resnet50_2.racm_in1k", "resnet"), ("resnetaa50d.sw_in12k_ft_in1k", "resnet"),
])
def test_family_of_real_names(name, family):
    assert family_of(name) == family


def test_sources_a_user_types_and_a_word_that_is_not_one():
    assert parse_sources("in1k, in22k,clip,in12k") == ("in1k", "in21k", "clip")
    with pytest.raises(UserError, match="Unknown pretraining source `jft3`.*in1k"):
        parse_sources("jft3")
    assert set(PRETRAINING) >= {"in1k", "in21k", "clip", "unknown"}


def test_timms_toy_test_models_are_no_population_point(tmp_path):
    """timm lists its `test_*` models (about 0.1–5% top-1) in its result tables; they stay out of the population that
    the standard line is fitted on, as out of the shortlist."""
    from core.data.population import read_timm_results
    from core.data.pretraining import is_test_model

    assert is_test_model("test_vit3.r160_in1k") and not is_test_model("vit_base_patch16_224.augreg_in1k")
    header = "model,img_size,top1,top1_err,top5,top5_err,param_count,crop_pct,interpolation\n"
    (tmp_path / "results-imagenet.csv").write_text(header + "test_vit.r160_in1k,160,0.5,99.5,2.0,98.0,0.37,0.95,bicubic\n"
                                                   "resnet50.a1_in1k,224,80.1,19.9,95.0,5.0,25.56,0.95,bicubic\n")
    assert read_timm_results(tmp_path)["checkpoint"].tolist() == ["resnet50.a1_in1k"]
