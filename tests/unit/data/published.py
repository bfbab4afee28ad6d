"""Tiny copies of timm's and open_clip's published result tables, in the publishers' real formats.

Headers are copied from the pinned files (timm results/*.csv at aa4b585, open_clip
docs/openclip_classification_results.csv at 89fb801); the rows are a synthetic population on a known line
(logit(shifted) = INTERCEPT + SLOPE · logit(imagenet), exactly), plus the paper's checkpoints and a near name.
"""

from __future__ import annotations

import numpy as np
from scipy import special

TIMM_HEADER = "model,img_size,top1,top1_err,top5,top5_err,param_count,crop_pct,interpolation"
TIMM_TEST_HEADER = TIMM_HEADER + ",top1_diff,top5_diff,rank_diff"
OPENCLIP_HEADER = ("name,pretrained,params (M),FLOPs (B),Average perf. on 35 datasets,ImageNet 1k,Caltech-101,CIFAR-10,"
                   "CIFAR-100,CLEVR Counts,CLEVR Distance,Country211,Describable Textures,EuroSAT,FGVC Aircraft,"
                   "Food-101,GTSRB,ImageNet Sketch,ImageNet v2,ImageNet-A,ImageNet-O,ImageNet-R,KITTI Vehicle Distance,"
                   "MNIST,ObjectNet,Oxford Flowers-102,Oxford-IIIT Pet,Pascal VOC 2007,PatchCamelyon,Rendered SST2,"
                   "RESISC45,Stanford Cars,STL-10,SUN397,SVHN,iWildCam,Camelyon17,FMoW,Dollar Street,GeoDE")
SETS = {"results-imagenetv2-matched-frequency.csv": ("imagenet-v2", -0.6), "results-imagenet-real.csv": ("imagenet-real", 0.4),
        "results-sketch.csv": ("imagenet-sketch", -1.4), "results-imagenet-r.csv": ("imagenet-r", -1.0),
        "results-imagenet-a.csv": ("imagenet-a", -2.0)}
"""timm file → (benchmark, the fixture line's intercept)."""
SLOPE = 1.2
N_TIMM = 40
# the paper's two timm checkpoints, as timm lists them (two sizes for ConvNeXt), and a near name that must not match
PAPER_ROWS = (("deit3_base_patch16_224.fb_in22k_ft_in1k", 224, 85.728, "1.000"),
              ("convnext_base.fb_in22k_ft_in1k", 288, 86.302, "1.000"),
              ("convnext_base.fb_in22k_ft_in1k", 224, 85.814, "0.875"),
              ("deit3_base_patch16_224.fb_in1k", 224, 83.786, "0.900"))


def on_line(imagenet: np.ndarray, intercept: float) -> np.ndarray:
    return special.expit(intercept + SLOPE * special.logit(imagenet))


def timm_population() -> list[tuple[str, int, float, str]]:
    return _base_population()


def _base_population() -> list[tuple[str, int, float, str]]:
    imagenet = np.linspace(60.0, 88.0, N_TIMM)
    return [(f"fixture_net_{i}.a1_in1k", 224, round(float(top1), 3), "0.950") for i, top1 in enumerate(imagenet)] \
        + list(PAPER_ROWS)


CANDIDATE_ROWS = (  # (timm name, img_size, synthetic top-1, crop_pct): real names and sizes of the pinned tables
    ("convnext_tiny.fb_in22k_ft_in1k", 224, 84.0, "0.875"), ("convnext_tiny.fb_in22k_ft_in1k_384", 384, 85.1, "1.000"),
    ("convnext_tiny.fb_in1k", 224, 82.1, "0.875"), ("convnext_large_mlp.clip_laion2b_augreg_ft_in1k", 256, 87.3, "1.000"),
    ("vit_base_patch16_clip_224.openai_ft_in1k", 224, 85.3, "1.000"),
    ("vit_small_patch16_224.augreg_in21k_ft_in1k", 224, 81.4, "0.900"), ("resnet50.a1_in1k", 224, 80.1, "0.950"),
    ("resnet50.fb_swsl_ig1b_ft_in1k", 224, 81.2, "0.875"), ("tf_efficientnet_b0.ns_jft_in1k", 224, 78.7, "0.875"),
    ("efficientnet_b0.ra_in1k", 224, 77.7, "0.875"), ("regnety_040.ra3_in1k", 224, 81.5, "1.000"),
    ("eva02_base_patch14_448.mim_in22k_ft_in22k_in1k", 448, 88.7, "1.000"),
    ("mobilenetv3_large_100.ra_in1k", 224, 75.8, "0.875"), ("ig_resnext101_32x8d", 224, 82.7, "0.875"),
    ("test_vit.r160_in1k", 160, 56.9, "0.950"))
"""Real timm names of many families and pretraining sources (results-imagenet.csv; ig_resnext101_32x8d, an older
untagged name, from model_metadata-in1k.csv), with synthetic top-1 values: what a shortlist
test adds to the population (`candidate_population`). `test_vit` is timm's toy model, which a shortlist leaves out."""
PARAMS = {"convnext_tiny.fb_in22k_ft_in1k": 28.59, "convnext_tiny.fb_in22k_ft_in1k_384": 28.59,
          "convnext_tiny.fb_in1k": 28.59, "convnext_large_mlp.clip_laion2b_augreg_ft_in1k": 200.13,
          "vit_base_patch16_clip_224.openai_ft_in1k": 86.57, "vit_small_patch16_224.augreg_in21k_ft_in1k": 22.05,
          "resnet50.a1_in1k": 25.56, "resnet50.fb_swsl_ig1b_ft_in1k": 25.56, "tf_efficientnet_b0.ns_jft_in1k": 5.29,
          "efficientnet_b0.ra_in1k": 5.29, "regnety_040.ra3_in1k": 20.65,
          "eva02_base_patch14_448.mim_in22k_ft_in22k_in1k": 87.12, "mobilenetv3_large_100.ra_in1k": 5.48,
          "ig_resnext101_32x8d": 88.79, "test_vit.r160_in1k": 0.37}
"""Parameter counts in millions (the real ones of these architectures); every other fixture row lists 1,013.01."""


def _params(name: str) -> str:
    value = PARAMS.get(name, 1013.01)
    return f'"{value:,.2f}"' if value >= 1000 else f"{value:.2f}"


def candidate_population() -> list[tuple[str, int, float, str]]:
    """The fixture population plus CANDIDATE_ROWS: patch `timm_population` with it before serving or writing the
    tables, and the results and benchmark files list them all."""
    return _base_population() + list(CANDIDATE_ROWS)


def timm_files() -> dict[str, bytes]:
    rows = timm_population()
    files = {"results-imagenet.csv": "\n".join([TIMM_HEADER] + [
        f"{name},{size},{top1:.3f},{100 - top1:.3f},95.000,5.000,{_params(name)},{crop},bicubic"
        for name, size, top1, crop in rows]) + "\n"}
    for file, (_, intercept) in SETS.items():
        lines = [TIMM_TEST_HEADER]
        for name, size, top1, crop in rows:
            shifted = 100 * on_line(np.array(top1 / 100), intercept)
            lines.append(f"{name},{size},{shifted:.3f},{100 - shifted:.3f},80.000,20.000,86.59,{crop},bicubic,"
                         f"{shifted - top1:+.3f},-10.000,+1")
        files[file] = "\n".join(lines) + "\n"
    files["model_metadata-in1k.csv"] = METADATA
    return {name: text.encode() for name, text in files.items()}


METADATA = ("model,pretrain\nadv_inception_v3,in1k-adv\nbeit_base_patch16_224,in21k-selfsl\nig_resnext101_32x8d,ig1b-wsl\n"
            "tf_efficientnet_b0_ns,jft300m-ns\nresnet50,in1k\n")
"""model_metadata-in1k.csv in timm's format: real rows of the pinned file (older, untagged names)."""
BENCHMARK_HEADER = "model,infer_img_size,infer_samples_per_sec,infer_step_time,infer_batch_size,param_count,infer_gmacs,infer_macts"


def benchmark_files() -> dict[str, bytes]:
    """timm's benchmark-infer-*.csv in its format, one per pinned machine: every fixture architecture (untagged) at
    224 px, at a speed that falls with its parameter count (`PARAMS`; 40× slower on the CPU files, at batch 1)."""
    from core.data.sources import TIMM_BENCHMARK_FILES

    params = {}
    for name, *_ in timm_population():
        params.setdefault(name.partition(".")[0], PARAMS.get(name, 1013.01))
    files = {}
    for file, *_ in TIMM_BENCHMARK_FILES:
        cpu = "-cpu-" in file
        lines = [BENCHMARK_HEADER]
        for i, (arch, count) in enumerate(sorted(params.items())):
            speed = 200_000 / (count + 10) / (40 if cpu else 1)
            lines.append(f"{arch},224,{speed:.2f},{1000 / speed:.3f},{1 if cpu else 1024},{count:.2f},{1 + i / 4:.2f},3.00")
        files[file] = ("\n".join(lines) + "\n").encode()
    return files


OPENCLIP_ROWS = (("ViT-B-16", "laion400m_e31", 0.6698), ("convnext_base", "laion400m_s13b_b51k", 0.6627),
                 ("ViT-B-16", "laion400m_e32", 0.6707), ("RN50", "openai", 0.5982), ("ViT-L-14", "openai", 0.7554))
CLIP_BONUS = 0.5
"""The fixture's CLIP models sit this far above the timm line (logit units): effectively robust."""


def openclip_file() -> bytes:
    columns = OPENCLIP_HEADER.split(",")
    lines = [OPENCLIP_HEADER]
    for name, pretrained, top1 in OPENCLIP_ROWS:
        values = {column: "0.5000" for column in columns}
        values.update({"name": name, "pretrained": pretrained, "params (M)": "149.62", "FLOPs (B)": "41.09",
                       "ImageNet 1k": f"{top1:.4f}"})
        for column, intercept in (("ImageNet v2", -0.6), ("ImageNet Sketch", -1.4), ("ImageNet-R", -1.0),
                                  ("ImageNet-A", -2.0)):
            values[column] = f"{float(on_line(np.array(top1), intercept + CLIP_BONUS)):.4f}"
        lines.append(",".join(values[column] for column in columns))
    return ("\n".join(lines) + "\n").encode()


def write_tables(monkeypatch, data_dir) -> None:
    """Both tiny tables where `python -m core download timm-results openclip-results` puts them, under
    `data_dir` (set as BAE_DATA_DIR)."""
    from core.data.population import OPENCLIP_FILE, population_folder

    monkeypatch.setenv("BAE_DATA_DIR", str(data_dir))
    timm = population_folder("timm")
    timm.mkdir(parents=True)
    for name, data in timm_files().items():
        (timm / name).write_bytes(data)
    population_folder("open_clip").mkdir(parents=True)
    (population_folder("open_clip") / OPENCLIP_FILE).write_bytes(openclip_file())
