"""core.data.imagenet_x reads the annotations exactly as the imagenet-x package's own loader does."""

from __future__ import annotations

import pandas as pd
import pytest

from core.data.imagenet_x import FACTORS, imagenet_x_annotations


def _reference_imagenet_x_annotations(which: str, filter_prototypes: bool) -> pd.DataFrame:
    """The package's loader (pandas.read_json, pandas isin): independent of our DuckDB and Arrow path."""
    from imagenet_x import load_annotations

    frame = load_annotations(which, "val", filter_prototypes=filter_prototypes)
    return frame[["file_name", "class", *FACTORS]].reset_index(drop=True)


@pytest.mark.parametrize("filter_prototypes", [True, False])
@pytest.mark.parametrize("which", ["top", "multi"])
def test_annotations_match_the_imagenet_x_package(which, filter_prototypes):
    ours = imagenet_x_annotations(which, filter_prototypes)
    pd.testing.assert_frame_equal(ours, _reference_imagenet_x_annotations(which, filter_prototypes))
    assert len(ours) == (46_110 if filter_prototypes else 48_868)


def test_annotations_are_validated():
    with pytest.raises(ValueError, match="top|multi"):
        imagenet_x_annotations("all")
