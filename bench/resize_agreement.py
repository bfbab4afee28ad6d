"""Top-1 agreement of the `tensor` resize backend with the faithful PIL path (CPU tensors; the same code
runs on the GPU), on the 1,280 real cue-conflict images and the scikit-image photos.

For each transform (the paper's supervised Resize(256) bilinear → CenterCrop(224); open_clip's
Resize(224) bicubic → CenterCrop(224); the offline model's own config), the offline model (real
weights) classifies each image preprocessed both ways; prints the share of equal top-1 classes and
the mean absolute pixel difference (uint8 units). Cue-conflict images are 224 px, so they are
resized by both 256-px transforms (up-sampling) and left as they are by the 224-px one.

    bash scripts/dev python bench/resize_agreement.py [--limit 1280]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "retina", "hubble_deep_field", "immunohistochemistry",
          "colorwheel")


def main() -> None:
    import numpy as np
    import skimage.data
    import torch
    from PIL import Image

    from core.config import shared_dir
    from core.data import BENCHMARKS, load_items
    from core.images import decode_image
    from core.run.inference import logits_for
    from core.models.load import load_model
    from core.models.preprocess import crop_for_model, resolve_preprocess, to_model_tensor
    from core.models.registry import MODELS
    from core.models.tensor_preprocess import crop_tensor, preprocess_batch, to_uint8_tensor

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=1280, help="cue-conflict images to use")
    args = parser.parse_args()
    loaded = load_model(MODELS.get("effnet_lite0"), device="cpu")
    cfgs = {"paper supervised: Resize(256) bilinear, crop 224": resolve_preprocess(MODELS.get("vit_sup"), "paper"),
            "open_clip: Resize(224) bicubic, crop 224": resolve_preprocess(MODELS.get("vit_clip"), "paper"),
            "effnet_lite0 own: Resize(256) bicubic, crop 224": resolve_preprocess(loaded.spec, "paper")}
    cfgs = {label: dataclasses.replace(cfg, mean=cfgs[list(cfgs)[-1]].mean, std=cfgs[list(cfgs)[-1]].std)
            for label, cfg in cfgs.items()}  # the model's own normalisation: only the resize differs
    items = load_items(BENCHMARKS["cue-conflict"], (shared_dir() / "data" / "cue-conflict").resolve())[:args.limit]
    sets = {"cue-conflict": [decode_image(open(item.path, "rb").read(), item.image_id).image for item in items],
            "scikit-image photos": [Image.fromarray(getattr(skimage.data, name)()) for name in PHOTOS]}
    print("| images | transform | n | top-1 agreement | mean abs pixel diff |\n|---|---|---|---|---|")
    for set_name, images in sets.items():
        for label, cfg in cfgs.items():
            agree, differences = 0, []
            for start in range(0, len(images), 64):
                chunk = images[start:start + 64]
                pil = torch.stack([to_model_tensor(crop_for_model(image, cfg), cfg) for image in chunk])
                tensor = preprocess_batch([to_uint8_tensor(image) for image in chunk], cfg)
                for image in chunk[:8]:
                    a = np.asarray(crop_for_model(image, cfg), dtype=np.int16)
                    b = crop_tensor(to_uint8_tensor(image), cfg).permute(1, 2, 0).numpy().astype(np.int16)
                    differences.append(np.abs(a - b).mean())
                with torch.inference_mode():
                    agree += int((logits_for(loaded, pil).argmax(1) == logits_for(loaded, tensor).argmax(1)).sum())
            print(f"| {set_name} | {label} | {len(images)} | {agree}/{len(images)} = {agree / len(images):.3f} | "
                  f"{np.mean(differences):.2f} |")


if __name__ == "__main__":
    main()
