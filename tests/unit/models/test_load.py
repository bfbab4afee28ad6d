"""core.models.load: the offline model is real, missing weights fail fast and clearly."""

from __future__ import annotations

import shutil

import pytest
import torch

from core.errors import WeightsUnavailable
from core.imagenet import display_labels
from core.models.load import load_model, weights_key, weights_status
from core.models.preprocess import crop_for_model, resolve_preprocess, to_model_tensor
from core.models.registry import MODELS, ModelSpec
from tests.conftest import photo

CAT_CLASSES = {281, 282, 285}  # tabby, tiger cat, Egyptian cat
ESPRESSO = 967


OFFLINE = {"effnet_lite0": ("efficientnet-lite0", 224), "effnet_lite1": ("efficientnet-lite1", 240),
           "effnet_lite2": ("efficientnet-lite2", 260)}
"""The offline models: the reference package's name for each, and the input size it was trained at."""


@pytest.fixture(scope="module", params=list(OFFLINE))
def offline(request):
    return load_model(MODELS.get(request.param), device="cpu")


def _probabilities(loaded, image):
    cfg = resolve_preprocess(loaded.spec, "paper")
    with torch.inference_mode():
        return loaded.module(to_model_tensor(crop_for_model(image, cfg), cfg)[None]).softmax(-1)[0]


@pytest.mark.parametrize("name", list(OFFLINE))
def test_offline_model_is_always_available(name):
    assert weights_status(MODELS.get(name)).available


def test_offline_model_matches_the_original_implementation(offline):
    """Renamed weights in timm's tf_efficientnet_liteN == the lukemelas-style reference package, on its file."""
    from efficientnet_lite_pytorch import EfficientNet

    reference_name, size = OFFLINE[offline.spec.name]
    reference = EfficientNet.from_pretrained(reference_name, weights_path=offline.weights_path).eval()
    batch = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        ours, theirs = offline.module(batch), reference(batch)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)
    assert resolve_preprocess(offline.spec, "paper").input_size == size  # timm's cfg of the architecture


def test_offline_model_classifies_the_scikit_image_photos(offline):
    cat = _probabilities(offline, photo("chelsea")).topk(3).indices.tolist()
    assert CAT_CLASSES & set(cat), [display_labels()[i] for i in cat]
    assert _probabilities(offline, photo("coffee")).argmax().item() == ESPRESSO
    # the reference package agrees on the photos' top-1 too
    from efficientnet_lite_pytorch import EfficientNet

    reference = EfficientNet.from_pretrained(OFFLINE[offline.spec.name][0], weights_path=offline.weights_path).eval()
    cfg = resolve_preprocess(offline.spec, "paper")
    for name in ("chelsea", "coffee", "astronaut"):
        tensor = to_model_tensor(crop_for_model(photo(name), cfg), cfg)[None]
        with torch.inference_mode():
            assert reference(tensor).argmax().item() == offline.module(tensor).argmax().item(), name


def test_adapter_loads_strictly(offline):
    """Every key of the file lands in the model and every model key is filled (no random leftovers)."""
    from core.models.load import STATE_DICT_ADAPTERS, _read_state_dict

    state = STATE_DICT_ADAPTERS["lukemelas_efficientnet"](_read_state_dict(offline.weights_path), offline.module)
    assert set(state) == set(offline.module.state_dict())


@pytest.mark.parametrize("name", ["vit_sup", "convnext_sup", "vit_clip", "convnext_clip"])
def test_missing_weights_fail_with_a_message_that_says_what_to_do(name):
    spec = MODELS.get(name)
    with pytest.raises(WeightsUnavailable) as caught:
        load_model(spec, device="cpu")
    message = str(caught.value)
    assert name in message and "Looked in" in message and f"python -m core download {name}" in message


def test_weights_in_the_hugging_face_cache_load_with_no_network(test_root):
    """A timm model whose weights sit in the HF hub cache layout loads offline, from that file."""
    import os

    import timm
    from safetensors.torch import save_file

    spec = ModelSpec("tiny_cached", "timm", "test_vit.r160_in1k", family="vit")
    assert not weights_status(spec).available
    snapshot = "0" * 40
    repo = test_root / "hf" / "hub" / "models--timm--test_vit.r160_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(snapshot)
    (repo / "snapshots" / snapshot).mkdir(parents=True)
    model = timm.create_model("test_vit", pretrained=False)
    save_file(model.state_dict(), repo / "snapshots" / snapshot / "model.safetensors")
    try:
        status = weights_status(spec)
        assert status.available and status.path.endswith("model.safetensors")
        loaded = load_model(spec, device="cpu")
        torch.testing.assert_close(loaded.module.state_dict()["head.weight"], model.state_dict()["head.weight"])
    finally:
        shutil.rmtree(repo)
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_checkpoint_hash_is_part_of_the_key(tmp_path, tiny_files):
    path = tmp_path / "weights.pth"
    shutil.copy(tiny_files["test_vit"], path)
    spec = ModelSpec("mine", "checkpoint", str(path), family="vit", arch="test_vit")
    before = weights_key(spec)
    state = torch.load(path, weights_only=True)
    state["head.bias"] += 1
    torch.save(state, path)
    assert weights_key(spec) != before


def test_checkpoint_for_the_wrong_architecture_says_so(tiny_files):
    spec = ModelSpec("wrong", "checkpoint", str(tiny_files["test_vit"]), family="convnet", arch="test_convnext")
    with pytest.raises(WeightsUnavailable, match="does not fit timm `test_convnext`"):
        load_model(spec, device="cpu")


def test_missing_checkpoint_file_names_the_path(tmp_path):
    spec = ModelSpec("gone", "checkpoint", str(tmp_path / "nope.pth"), family="vit", arch="test_vit")
    with pytest.raises(WeightsUnavailable, match="nope.pth"):
        load_model(spec, device="cpu")


def test_unknown_open_clip_tag_lists_known_ones():
    spec = ModelSpec("typo", "open_clip", "ViT-B-16", family="vit", pretrained="laion400m_e3", head="zero_shot")
    message = weights_status(spec).message(spec)
    assert "no pretrained tag `laion400m_e3`" in message and "laion400m_e31" in message


def test_hub_weights_are_keyed_by_their_content(test_root):
    """Hub weights in the HF cache: another file under the same published name gets another key; a file
    linked into `blobs/` (the hub's own layout) is keyed by its blob name, which is its SHA-256."""
    import hashlib
    import os

    spec = ModelSpec("tiny_hub", "timm", "test_vit.r160_in1k", family="vit")
    assert weights_key(spec) == "test_vit.r160_in1k"  # not on this machine: the published name only
    repo = test_root / "hf" / "hub" / "models--timm--test_vit.r160_in1k"
    snapshot = repo / "snapshots" / ("1" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("1" * 40)
    try:
        (snapshot / "model.safetensors").write_bytes(b"first weights")
        first = weights_key(spec)
        assert first == f"test_vit.r160_in1k:content={hashlib.sha256(b'first weights').hexdigest()[:16]}"
        (snapshot / "model.safetensors").write_bytes(b"other weights, same name")
        second = weights_key(spec)
        assert second != first and second.startswith("test_vit.r160_in1k:content=")
        blob = hashlib.sha256(b"blob").hexdigest()
        (repo / "blobs").mkdir()
        (repo / "blobs" / blob).write_bytes(b"not hashed: the blob name is the hash")
        (snapshot / "model.safetensors").unlink()
        os.symlink(repo / "blobs" / blob, snapshot / "model.safetensors")
        assert weights_key(spec) == f"test_vit.r160_in1k:content={blob[:16]}"
    finally:
        shutil.rmtree(repo)


PAPER_HUB_FILES = {  # where the paper's four models are published on the Hugging Face hub (timm 1.0.31, open_clip 3.3.0)
    "vit_sup": ("timm/deit3_base_patch16_224.fb_in22k_ft_in1k", "model.safetensors"),
    "convnext_sup": ("timm/convnext_base.fb_in22k_ft_in1k", "model.safetensors"),
    "vit_clip": ("timm/vit_base_patch16_clip_224.laion400m_e31", "open_clip_model.safetensors"),
    "convnext_clip": ("laion/CLIP-convnext_base-laion400M-s13B-b51K", "open_clip_model.safetensors"),
}


def test_paper_models_in_a_real_hub_cache_are_listed_without_hashing_their_weights(test_root, monkeypatch):
    """The hub's own layout (snapshots/<commit>/<file> a relative link to blobs/<SHA-256>): listing the four
    models, zero-shot head keys included, reads the blob names and never hashes a file (hashing a 350-600 MB
    file on a page is seconds of waiting)."""
    import hashlib
    import os

    from core.models import model_status
    from core.models import load

    def no_hashing(path):
        raise AssertionError(f"hashed {path}")

    monkeypatch.setattr(load, "file_sha256", no_hashing)
    blobs, repos = {}, []
    try:
        for name, (repo_id, filename) in PAPER_HUB_FILES.items():
            repo = test_root / "hf" / "hub" / f"models--{repo_id.replace('/', '--')}"
            repos.append(repo)
            blobs[name] = hashlib.sha256(name.encode()).hexdigest()
            (repo / "blobs").mkdir(parents=True)
            (repo / "blobs" / blobs[name]).write_bytes(name.encode())
            (repo / "refs").mkdir()
            (repo / "refs" / "main").write_text("2" * 40)
            (repo / "snapshots" / ("2" * 40)).mkdir(parents=True)
            os.symlink(f"../../blobs/{blobs[name]}", repo / "snapshots" / ("2" * 40) / filename)
        for name in PAPER_HUB_FILES:
            spec = MODELS.get(name)
            status = model_status(spec, wait=False)
            assert status.weights_present and not status.checking, status.weights_message
            assert status.head_cached is (False if spec.head == "zero_shot" else None)
            assert weights_key(spec).endswith(f":content={blobs[name][:16]}")
    finally:
        for repo in repos:
            shutil.rmtree(repo, ignore_errors=True)


@pytest.mark.parametrize(("adapt", "message"), [
    (None, r"does not fit timm `tf_efficientnet_lite1`.*set `adapt_weights` to one of: `lukemelas_efficientnet` "
           r"\(Rename lukemelas EfficientNet-PyTorch keys"),
    ("lukemelas", r"unknown `adapt_weights = \"lukemelas\"` in models.toml. Accepted: `lukemelas_efficientnet` \("),
])
def test_a_checkpoint_needing_renamed_keys_is_told_which_adapters_exist(adapt, message):
    lite1 = MODELS.get("effnet_lite1")
    spec = ModelSpec("my_lite1", "checkpoint", lite1.source, family="convnet", arch=lite1.arch, adapt_weights=adapt)
    with pytest.raises(WeightsUnavailable, match=message):
        load_model(spec, device="cpu")
