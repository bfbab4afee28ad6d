"""The shipped ImageNet class table equals what the pinned timm and open_clip give, and reading it imports
neither of them (nor torch)."""

from __future__ import annotations

import json
import subprocess
import sys

from core.config import PROJECT_ROOT
from core.imagenet import class_names, classes_from_libraries, descriptions, display_labels, wnids


def test_shipped_classes_match_timm_and_open_clip():
    """The reference is the libraries themselves: timm's ImageNetInfo (WordNet ids, lemmas) and open_clip's
    IMAGENET_CLASSNAMES. After an upgrade that changes them: `python -m core.imagenet`."""
    shipped = [(index, *row) for index, row in enumerate(zip(wnids(), class_names(), descriptions()))]
    assert shipped == classes_from_libraries()


def test_class_names_are_the_zero_shot_prompts_names():
    """The zero-shot head hashes these names into its key: they must be open_clip's, in its order."""
    import open_clip.zero_shot_metadata as metadata

    assert class_names() == tuple(metadata.IMAGENET_CLASSNAMES)


def test_display_labels_tell_apart_the_classes_that_share_a_name():
    labels = display_labels()
    assert len(set(labels)) == 1000
    assert labels[0] == "tench" and wnids()[0] == "n01440764"  # ILSVRC-2012 class 0
    assert labels[657] == "missile (missile)" and labels[744] == "missile (projectile, missile)"
    assert labels[836] == "sunglasses (sunglass)"


def test_reading_class_names_imports_no_model_library():
    code = ("import json, sys\nfrom core.imagenet import display_labels, wnids\n"
            "assert len(display_labels()) == len(wnids()) == 1000\n"
            "print(json.dumps([m for m in ('torch', 'timm', 'open_clip') if m in sys.modules]))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
