"""Where each dataset with a public source comes from: one entry per dataset, as data.

Every entry was checked against its publisher's own page (README, dataset card or record) on
2026-11-30; `confirmed` says what was read there. Every Hugging Face source is pinned to a commit
(`HubFiles.revision`), with that revision's row or image count: the hub's listing at a commit cannot
change, so the files and their SHA-256s read from it at download time are the publisher's. A URL
source carries the publisher's checksum where one is published (Zenodo's md5 of the ImageNet-C
archives) and otherwise a widely used third party's, named in `Remote.checksum_from`; a source
with neither is verified by its expected file and class counts and says so (`pinned` in
`download --list --long`).

`BAE_DATA_MIRROR=URL` replaces the scheme and host of every URL here (mirrors, proxies, tests).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

__all__ = ["Remote", "HubFiles", "Source", "SOURCES", "PUBLISHER", "TIMM_BENCHMARK_FILES", "pin_text", "IMAGENET_C_FAMILIES", "IMAGENET_VAL_HELP", "mirror_url",
           "get_source"]


@dataclass(frozen=True)
class Remote:
    """One file a publisher serves.

    Attributes:
        url: the publisher's own URL.
        name: local file name.
        size: bytes, from the publisher's listing (0 where none is listed; the server's length is used).
        md5, sha256: the expected checksum (the publisher's, unless `checksum_from` names another source).
        unpack: `tar` (also .tar.gz), `zip`, or `none` (kept as it is, e.g. parquet and CSV files).
        target: where a `none` file goes, relative to the dataset folder.
        checksum_from: where the checksum was read: `PUBLISHER`, or a third party named with its file.
    """

    url: str
    name: str
    size: int = 0
    md5: str = ""
    sha256: str = ""
    unpack: Literal["tar", "zip", "none"] = "tar"
    target: str = ""
    checksum_from: str = ""


PUBLISHER = "the publisher"


@dataclass(frozen=True)
class HubFiles:
    """Files of a Hugging Face dataset repository at one commit, listed (with their LFS SHA-256) at download time.

    Attributes:
        repo: `owner/name` of the dataset repository.
        revision: the pinned commit (40 hex digits); `download --revision` chooses another on purpose.
        folder: the folder listed ("" = the top).
        suffix: the file names taken end with it.
        files: a glob (fnmatch) the file names must also match: the one shard set of the pinned revision
            when a folder holds several ("" = every file with `suffix`).
        checked: what was read at the pinned revision (commit date, card count), for `--list --long`.
    """

    repo: str
    revision: str
    folder: str = ""
    suffix: str = ""
    unpack: Literal["tar", "zip", "none"] = "none"
    endpoint: str = "https://huggingface.co"
    files: str = ""
    checked: str = ""


@dataclass(frozen=True)
class Source:
    """One dataset download.

    Attributes:
        name: the `download` name (the benchmark key where there is one).
        folder: destination under the data folder (`BAE_DATA_DIR`, default cache/data).
        benchmark: the registry key whose adapter validates the result ("" for decision files).
        remotes: fixed files; `hub`: files listed from a Hugging Face repository.
        inner: the folder inside the archive that holds the layout the adapter reads ("" = the top).
        images: the publisher's image (or row) count; `classes`: class folders, 0 where not checked.
        exact: whether `images` must match exactly (else it is a minimum).
        size_text: the publisher's size, as shown.
        licence, page, confirmed: the terms, the page read, and what it says.
    """

    name: str
    folder: str
    benchmark: str
    label: str
    remotes: tuple[Remote, ...] = ()
    hub: HubFiles | None = None
    inner: str = ""
    images: int = 0
    classes: int = 0
    exact: bool = True
    size_text: str = ""
    licence: str = ""
    page: str = ""
    confirmed: str = ""
    marker: str = ""
    """A folder name that marks the dataset root inside the archive when `inner` is not known."""
    members: tuple[str, ...] = field(default=())
    """Top-level folders to extract (ImageNet-C: the corruptions asked for); empty: everything."""


IMAGENET_C_FAMILIES: dict[str, tuple[str, int, str]] = {
    # family: (corruptions in its archive, size in bytes (Zenodo listing, rounded), Zenodo md5)
    "noise": ("gaussian_noise shot_noise impulse_noise", 21_000_000_000, "e80562d7f6c3f8834afb1ecf27252745"),
    "blur": ("defocus_blur glass_blur motion_blur zoom_blur", 7_200_000_000, "2d8e81fdd8e07fef67b9334fa635e45c"),
    "weather": ("snow frost fog brightness", 12_100_000_000, "33ffea4db4d93fe4a428c40a6ce0c25d"),
    "digital": ("contrast elastic_transform pixelate jpeg_compression", 7_000_000_000,
                "89157860d7b10d5797849337ca2e5c03"),
}
"""ImageNet-C is published as one tar per corruption family; each holds `<corruption>/<1-5>/<wnid>/`.
The fifth archive, extra.tar (speckle_noise, spatter, gaussian_blur, saturate), is not part of the
15-corruption score and is not downloaded."""

_ZENODO = "https://zenodo.org/records/2235448/files/{family}.tar"  # /record/ answers 301 to /records/
_C_PAGE = "https://zenodo.org/records/2235448 (linked as the mirror from github.com/hendrycks/robustness README)"


def _imagenet_c(corruptions: tuple[str, ...], name: str) -> Source:
    families = [family for family, (members, _, _) in IMAGENET_C_FAMILIES.items()
                if set(members.split()) & set(corruptions)]
    remotes = tuple(Remote(_ZENODO.format(family=family), f"imagenet-c-{family}.tar", IMAGENET_C_FAMILIES[family][1],
                           md5=IMAGENET_C_FAMILIES[family][2], checksum_from=PUBLISHER) for family in families)
    size = f"{sum(remote.size for remote in remotes) / 1e9:.0f} GB"
    if name != "imagenet-c":
        size += f" ({families[0]}.tar)"
    return Source(name, "imagenet-c", "imagenet-c", "ImageNet-C" + ("" if name == "imagenet-c" else f" ({name[11:]})"),
                  remotes=remotes, images=50_000 * 5 * len(corruptions), classes=1000, size_text=size,
                  licence="see Zenodo record 2235448", page=_C_PAGE, members=corruptions,
                  confirmed="README links Zenodo record 2235448 as the mirror; per-family tars noise, blur, weather, "
                            "digital (+ extra); each corruption has severities 1-5 of 50,000 val images in WNID folders")


_MODEL_VS_HUMAN_COMMIT = "79ed7cd1d9ac3a114e71b6638f0a98bdd627316c"
_HUMAN_SHA256 = (  # subjects 01 … 10, from `git show <commit>:raw-data/cue-conflict/<file> | sha256sum`
    "8e100c7aad0e4ab891cb16a1fea9768edc882f9e47369549d45aa765b0897b1a",
    "e9988e3eee0d4f9500fdf626d043e8382e96032a3f791b0d4886807a46e632ad",
    "d3907fee2e612e6cd13c316a069f2e5fd41b0a55218b79be9537e1276c507d88",
    "1d7b093f1174229a68e3bfac2f68877b2747bac001ad4aadbff5d5f89a44630e",
    "f7e69864b7a981f6daaf51d9fc9945b185020e482956b38f477bf8eec9a5fa86",
    "b63d7b4c52374a583f5e342aab46de5c445ef314501abc4b36736531c4d5f532",
    "75959b12b8ccb9a265e20cb2beef05ac0dbf4052746742dd7e88818e69e2774c",
    "b50f6956933c0a20eaf19e846c1fb5896068550da4597e8a7fc30aaf557ea02f",
    "c94aba7fb9bf6887ec2fd0f554b145a6ed66c295b26a5c19594e1c0174253878",
    "aa7b4f124bf605fd614b704d7556bb1a8088364b3113f9f918257b5cd3925f1b",
)
_TORCH_UNCERTAINTY = ("third party: torch-uncertainty (ENSTA-U2IS-AI/torch-uncertainty, "
                      "torch_uncertainty/datasets/classification/imagenet/imagenet_a.py, imagenet_r.py)")
"""Hendrycks publishes no checksum for imagenet-a.tar or imagenet-r.tar; this widely used library checks
these md5s on download (its ImageNet-C md5s are Zenodo's, which ours match)."""
_BEYOND_INET_COMMIT = "2acd2ac47cc0cbc02d3eda5860786e7a5019a54a"
_PUG_COMMIT = "d6b98fae92081366e20c79b4086c219c866fda4c"

_ALL_CORRUPTIONS = tuple(c for members, _, _ in IMAGENET_C_FAMILIES.values() for c in members.split())

_ENTRIES = [
    Source("cue-conflict", "cue-conflict", "cue-conflict", "Cue-conflict images",
           (Remote("https://github.com/bethgelab/model-vs-human/releases/download/v0.1/cue-conflict.tar.gz",
                   "cue-conflict.tar.gz"),),
           inner="cue-conflict", images=1280, classes=16, size_text="about 130 MB extracted", licence="CC BY 4.0 (model-vs-human)",
           page="https://github.com/bethgelab/model-vs-human (release v0.1)",
           confirmed="release asset cue-conflict.tar.gz: 16 shape folders, 1,280 PNGs named <shape>N-<texture>M.png"),
    Source("paper-decisions", "cue-conflict-paper-models", "", "The paper authors' cue-conflict decisions",
           tuple(Remote(f"https://raw.githubusercontent.com/kirill-vish/Beyond-INet/{_BEYOND_INET_COMMIT}/inference/"
                        "modelvshuman/"
                        f"raw-data/cue-conflict/cue-conflict_{name}_session-1.csv",
                        f"cue-conflict_{name}_session-1.csv", unpack="none",
                        target=f"cue-conflict_{name}_session-1.csv")
                 for name in ("deit3-21k", "convnext-base-21k", "vit-clip", "convnext-clip")),
           images=4, size_text="0.3 MB", licence="as published in kirill-vish/Beyond-INet",
           page="https://github.com/kirill-vish/Beyond-INet (inference/modelvshuman/raw-data/cue-conflict)",
           confirmed=f"one model-vs-human CSV per paper model (1,280 decisions each), read at commit "
                     f"{_BEYOND_INET_COMMIT[:7]}; no checksum published"),
    Source("human-decisions", "cue-conflict-human", "", "Human observers' cue-conflict decisions",
           tuple(Remote(f"https://raw.githubusercontent.com/bethgelab/model-vs-human/{_MODEL_VS_HUMAN_COMMIT}/"
                        f"raw-data/cue-conflict/cue-conflict_subject-{number:02d}_session_1.csv",
                        f"cue-conflict_subject-{number:02d}_session_1.csv", sha256=sha256, unpack="none",
                        target=f"cue-conflict_subject-{number:02d}_session_1.csv",
                        checksum_from=f"git show {_MODEL_VS_HUMAN_COMMIT[:7]}:<file> (the publisher's commit)")
                 for number, sha256 in enumerate(_HUMAN_SHA256, start=1)),
           images=10, size_text="1.2 MB", licence="MIT (model-vs-human)",
           page="https://github.com/bethgelab/model-vs-human (raw-data/cue-conflict)",
           confirmed=f"10 subjects, one CSV each (115,974–117,282 B), read at commit {_MODEL_VS_HUMAN_COMMIT[:7]} "
                     "(2025-04-17; the files last changed 2021-07-20); SHA-256 of each file at that commit"),
    Source("imagenet-v2", "imagenet-v2", "imagenet-v2", "ImageNet-V2 (matched frequency)",
           hub=HubFiles("vaishaal/ImageNetV2", "d626240be2538720e83103a0e1178d24aca8b12c", folder="",
                        suffix="imagenetv2-matched-frequency.tar.gz", unpack="tar",
                        checked="commit d626240 (19 Mar 2023, 'Upload 3 files'): LFS sha256 f0c37fdf…, 1,264,079,360 B"),
           inner="imagenetv2-matched-frequency-format-val", images=10_000, classes=1000, size_text="1.26 GB",
           licence="MIT (dataset card)", page="https://huggingface.co/datasets/vaishaal/ImageNetV2",
           confirmed="the V2 authors' dataset repo: imagenetv2-matched-frequency.tar.gz, 1.26 GB (LFS, SHA-256 "
                     "listed by the hub); folders 0 … 999 of 10 images each"),
    Source("imagenet-a", "imagenet-a", "imagenet-a", "ImageNet-A",
           (Remote("https://people.eecs.berkeley.edu/~hendrycks/imagenet-a.tar", "imagenet-a.tar", 687_000_000,
                   md5="c3e55429088dc681f30d81f4726b6595", checksum_from=_TORCH_UNCERTAINTY),),
           inner="imagenet-a", images=7_500, classes=200, size_text="about 0.7 GB (size not listed by the publisher)",
           licence="not stated with the release (hendrycks/natural-adv-examples)",
           page="https://github.com/hendrycks/natural-adv-examples (README download link)",
           confirmed="README links imagenet-a.tar (200 WNID folders) and gives no count or checksum; 7,500 images "
                     "is the paper's count (Hendrycks et al., CVPR 2021, Sec. 3); md5 from a third party"),
    Source("imagenet-r", "imagenet-r", "imagenet-r", "ImageNet-R",
           (Remote("https://people.eecs.berkeley.edu/~hendrycks/imagenet-r.tar", "imagenet-r.tar", 2_190_000_000,
                   md5="a61312130a589d0ca1a8fca1f2bd3337", checksum_from=_TORCH_UNCERTAINTY),),
           inner="imagenet-r", images=30_000, classes=200, size_text="about 2.2 GB (size not listed by the publisher)",
           licence="not stated with the release (hendrycks/imagenet-r)",
           page="https://github.com/hendrycks/imagenet-r (README download link)",
           confirmed="README: renditions of 200 ImageNet classes, 30,000 images; no checksum published (md5 from a "
                     "third party)"),
    Source("imagenet-sketch", "imagenet-sketch", "imagenet-sketch", "ImageNet-Sketch",
           hub=HubFiles("songweig/imagenet_sketch", "bee800b13e5902e5dc77861fce441a6986b840ca", folder="data",
                        suffix="ImageNet-Sketch.zip", unpack="zip",
                        checked="commit bee800b (20 May 2022, 'Add data files'): data/ImageNet-Sketch.zip"),
           inner="sketch", images=50_000, classes=1000, exact=False, size_text="7.8 GB",
           licence="MIT (HaohanWang/ImageNet-Sketch)", page="https://github.com/HaohanWang/ImageNet-Sketch; "
           "https://huggingface.co/datasets/songweig/imagenet_sketch",
           confirmed="README: 50 images for each of the 1000 classes, zip 7.8 GB; the hub copy data/ImageNet-Sketch.zip "
                     "extracts to sketch/<wnid>/ (the dataset card counts 50,889 images)"),
    Source("imagenet-hard", "imagenet-hard", "imagenet-hard", "ImageNet-Hard",
           hub=HubFiles("taesiri/imagenet-hard", "32bfa94dcd95e7c3bbe09fa281f5b89870921745", folder="data",
                        suffix=".parquet", unpack="none", files="validation-*-of-00009-*.parquet",
                        checked="commit 32bfa94 (16 Jun 2023, the card's last update): the 9-shard set "
                                "validation-*-of-00009-*.parquet; card metadata num_examples 10980, download_size "
                                "6,380,349,099 B (the -of-00005 set beside it is an older upload)"),
           images=10_980, size_text="6.4 GB", licence="MIT (dataset card)",
           page="https://huggingface.co/datasets/taesiri/imagenet-hard",
           confirmed="parquet shards data/validation-*.parquet with columns image and label (a list of valid labels); "
                     "the card's count changed between revisions (13,925 on 31 Mar 2023; 10,980 in the metadata "
                     "since May 2023, whose text said 11,350 then 10,980)"),
    Source("pug-imagenet", "pug-imagenet", "pug-imagenet", "PUG-ImageNet",
           (Remote("https://dl.fbaipublicfiles.com/large_objects/pug/PUG_IMAGENET.tar.gz", "PUG_IMAGENET.tar.gz",
                   27_000_000_000),
            Remote(f"https://raw.githubusercontent.com/facebookresearch/PUG/{_PUG_COMMIT}/PUG_ImageNet/"
                   "class_to_imagenet_idx.json", "class_to_imagenet_idx.json", unpack="none",
                   target="class_to_imagenet_idx.json")),
           marker="Worlds", images=88_328, classes=151, exact=False, size_text="27 GB",
           licence="CC BY-NC (no use to train generative models)", page="https://github.com/facebookresearch/PUG",
           confirmed="README links PUG_IMAGENET.tar.gz (27 GB); PUG_ImageNet/README: 88,328 images of 151 classes; "
                     f"class_to_imagenet_idx.json is in the repository (read at commit {_PUG_COMMIT[:7]}), not the "
                     "archive; no checksum published for either"),
    _imagenet_c(_ALL_CORRUPTIONS, "imagenet-c"),
]
SOURCES: dict[str, Source] = {source.name: source for source in _ENTRIES}
SOURCES.update({f"imagenet-c/{c}": _imagenet_c((c,), f"imagenet-c/{c}") for c in _ALL_CORRUPTIONS})

IMAGENET_VAL_HELP = (
    "ImageNet-1k val has no open download; python -m core evaluate --benchmark imagenet-val --data PATH reads any of "
    "these layouts at PATH: (1) ILSVRC2012_img_val.tar (6.3 GB, image-net.org, free account, non-commercial terms) "
    "extracted: 50,000 flat ILSVRC2012_val_*.JPEG files (labels from the imagenet-x package); (2) the same files "
    "in 1000 WordNet-id class folders; (3) the gated Hugging Face dataset imagenet-1k with your own token (accept its "
    "terms on the hub, then: huggingface-cli download imagenet-1k data/val_images.tar.gz --repo-type dataset "
    "--local-dir PATH, and extract val_images.tar.gz into PATH: files named ILSVRC2012_val_00000001_n01751748.JPEG). "
    "By default the study looks in <data>/imagenet-val.")


def pin_text(source: Source) -> str:
    """How `source`'s bytes are pinned, for `download --list --long`: hub commit, checksums and where they came
    from, a commit in a raw GitHub URL, or "not pinned" with what is checked instead."""
    import re

    if source.hub is not None:
        hub = source.hub
        return (f"{hub.repo}@{hub.revision} ({hub.checked or 'commit'}); each file's SHA-256 from the hub's listing "
                "at that commit")
    parts = []
    for remote in source.remotes:
        commit = re.search(r"/([0-9a-f]{40})/", remote.url)
        tag = re.search(r"/releases/download/([^/]+)/", remote.url)
        if remote.md5 or remote.sha256:
            kind = "md5" if remote.md5 else "sha256"
            parts.append(f"{remote.name}: {kind} {(remote.md5 or remote.sha256)[:12]}… from "
                         f"{remote.checksum_from or PUBLISHER}")
        elif commit:
            parts.append(f"{remote.name}: commit {commit.group(1)[:12]} (no checksum published)")
        elif tag:
            parts.append(f"{remote.name}: release tag {tag.group(1)} (no checksum published; file and class counts "
                         "checked)")
        else:
            parts.append(f"{remote.name}: not pinned (no checksum published; file and class counts checked)")
    if len(parts) > 3:  # many files pinned alike: one line ("10 files: sha256 each from …")
        alike = {re.sub(r"(md5|sha256) [0-9a-f]{12}…", r"\1 each", part.split(": ", 1)[1]) for part in parts}
        if len(alike) == 1:
            return f"{len(parts)} files: {alike.pop()}"
    return "; ".join(parts)


def mirror_url(url: str) -> str:
    """`url` with its scheme and host replaced by `BAE_DATA_MIRROR` (a path in the mirror is kept as a prefix)."""
    mirror = os.environ.get("BAE_DATA_MIRROR", "").strip()
    if not mirror:
        return url
    parts = urlsplit(url)
    return mirror.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")


def get_source(name: str) -> Source:
    if name in SOURCES:
        return SOURCES[name]
    import difflib

    from core.errors import UserError

    if name == "imagenet-val":
        raise UserError(IMAGENET_VAL_HELP)
    close = difflib.get_close_matches(name, list(SOURCES), n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else " See: python -m core download --list"
    raise UserError(f"No download named `{name}`.{hint}")


# ---- published results of other models (the population of the Robustness page's "accuracy on the line") ----
# Appended here (not in _ENTRIES' order) so the dataset entries above stay as they are. Each file is pinned to one
# commit of its repository; its SHA-256 is that of `git show <commit>:<path>` (checked 2026-12-03).
_TIMM_COMMIT = "aa4b5850c1543fa488abf260f18390eda46cf85d"
_TIMM_FILES = (  # results/<file>, bytes, sha256
    ("results-imagenet.csv", 123_104, "30972bf7c7ab451bbd4480ec6116b13d0a84441c57bbc946896fd312264acfcd"),
    ("results-imagenetv2-matched-frequency.csv", 152_771,
     "1d066d8897c40224b14f3cf1d02029c49ebdc56b761ba9a3841bd3bdd3bd0a8e"),
    ("results-imagenet-real.csv", 150_724, "e94696aed665475e4d0235195733775c5e1b3f36d6f5f7de99f4386e7ed11630"),
    ("results-sketch.csv", 156_199, "f3176de38d4a26aa808b3d0cc1fee4261268d70b2be7c9d43e65cb03b3864f46"),
    ("results-imagenet-r.csv", 156_142, "2dcc1f3dea098ffc1080ad04309b11477646f6f25837b041ce6075610f863209"),
    ("results-imagenet-a.csv", 155_354, "89471dcea0cd98b56211e2b808cb6bbf7b3c8bb4fe691ba58fec1f198e3fcf91"),
    # each older (untagged) model name's pretraining data (core/data/pretraining.py)
    ("model_metadata-in1k.csv", 12_072, "5e221773779c10edb5c6829f7fd52db3f69d8455020cc7e49607175ad4b2ecb7"),
)
TIMM_BENCHMARK_FILES = (  # results/<file>, bytes, sha256, the machine as shown: inference speed of every architecture
    ("benchmark-infer-amp-nchw-pt291-cu128-4090.csv", 97_821,
     "7ef180f30bfcf3271aed993ddff2114c88a83b58e6f7e56acbd76e702e6f3136", "RTX 4090 (AMP, PyTorch 2.9.1, batch up to 1024)"),
    ("benchmark-infer-amp-nchw-pt291-cu130-5090.csv", 97_996,
     "6e1260e7fa846cb43cd928c1a5a02ea798fb579ecca7042d099c29ee031f3f2a", "RTX 5090 (AMP, PyTorch 2.9.1, batch up to 1024)"),
    ("benchmark-infer-amp-nchw-pt291-cu130-pro6000maxq.csv", 98_857,
     "ad05d5f2d8d278c4bf98cffeb36961fb10fb629e6324b0bf3a3fdce137c3edf7",
     "RTX PRO 6000 Max-Q (AMP, PyTorch 2.9.1, batch up to 2048)"),
    ("benchmark-infer-amp-nchw-pt240-cu124-rtx3090.csv", 84_324,
     "229c10d809d5ef0cc28cc5d875f1170e5554c25ad5251bbcd8cfe1890380981d", "RTX 3090 (AMP, PyTorch 2.4.0, batch up to 1024)"),
    ("benchmark-infer-fp32-nchw-pt240-cpu-i7_12700h-dynamo.csv", 76_170,
     "d0566bba4da7273d662b89ac8ff8705027c2921b3cb946967fa22ffa8713fd5b",
     "Intel i7-12700H CPU (fp32, PyTorch 2.4.0 compiled, batch 1)"),
    ("benchmark-infer-fp32-nchw-pt240-cpu-i9_10940x-dynamo.csv", 75_669,
     "3491328c13aac76d638ca0bf94c7fcc8a7ba69a32e83612a7b6b3deb1da9c80e",
     "Intel i9-10940X CPU (fp32, PyTorch 2.4.0 compiled, batch 1)"),
)
"""timm's published inference benchmarks, one file per machine; columns model (architecture, untagged),
infer_img_size, infer_samples_per_sec, infer_step_time, infer_batch_size, param_count, infer_gmacs, infer_macts.
Each row's batch is its `infer_batch_size` (most rows at the largest size named; the CPU files at batch 1)."""
_OPENCLIP_COMMIT = "89fb801f1e6087880e951fc8354b8a2077b79c6d"
_OPENCLIP_FILE = ("openclip_classification_results.csv", 36_265,
                  "9cc4f1ca941d99004819310175f19b6f9031c1590d96650ae72a42f7daba93ac")

SOURCES["timm-results"] = Source(
    "timm-results", "published/timm", "", "timm's published top-1 of its pretrained models",
    tuple(Remote(f"https://raw.githubusercontent.com/huggingface/pytorch-image-models/{_TIMM_COMMIT}/results/{name}",
                 f"timm-{name}", size, sha256=sha256, unpack="none", target=name) for name, size, sha256 in _TIMM_FILES),
    size_text="0.9 MB", licence="Apache-2.0 (huggingface/pytorch-image-models)",
    page=f"https://github.com/huggingface/pytorch-image-models/tree/{_TIMM_COMMIT}/results",
    confirmed="results/README.md: ImageNet val, ReaL, V2 matched frequency, Sketch, -A and -R (the last two over their "
              "200 classes); columns model,img_size,top1,top1_err,top5,top5_err,param_count,crop_pct,interpolation "
              "(+ top1_diff,top5_diff,rank_diff on the test sets); top-1 in percent; ~1,550 rows each. "
              "model_metadata-in1k.csv: columns model,pretrain (521 older, untagged names)")
SOURCES["timm-benchmarks"] = Source(
    "timm-benchmarks", "published/timm-benchmarks", "", "timm's published inference speed of every architecture",
    tuple(Remote(f"https://raw.githubusercontent.com/huggingface/pytorch-image-models/{_TIMM_COMMIT}/results/{name}",
                 f"timm-{name}", size, sha256=sha256, unpack="none", target=name)
          for name, size, sha256, _ in TIMM_BENCHMARK_FILES),
    size_text="0.5 MB", licence="Apache-2.0 (huggingface/pytorch-image-models)",
    page=f"https://github.com/huggingface/pytorch-image-models/tree/{_TIMM_COMMIT}/results",
    confirmed="results/README.md: benchmark-infer-*.csv, one file per machine and precision; columns model,"
              "infer_img_size,infer_samples_per_sec,infer_step_time,infer_batch_size,param_count,infer_gmacs,infer_macts")
SOURCES["openclip-results"] = Source(
    "openclip-results", "published/open_clip", "", "open_clip's published zero-shot results of its pretrained models",
    (Remote(f"https://raw.githubusercontent.com/mlfoundations/open_clip/{_OPENCLIP_COMMIT}/docs/{_OPENCLIP_FILE[0]}",
            f"open_clip-{_OPENCLIP_FILE[0]}", _OPENCLIP_FILE[1], sha256=_OPENCLIP_FILE[2], unpack="none",
            target=_OPENCLIP_FILE[0]),),
    size_text="36 kB", licence="MIT (mlfoundations/open_clip)",
    page=f"https://github.com/mlfoundations/open_clip/blob/{_OPENCLIP_COMMIT}/docs/openclip_classification_results.csv",
    confirmed="one row per (name, pretrained); zero-shot top-1 as fractions in columns 'ImageNet 1k', 'ImageNet v2', "
              "'ImageNet Sketch', 'ImageNet-A', 'ImageNet-R', 'ObjectNet' and 29 other datasets; 121 models")
