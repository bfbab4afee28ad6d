"""Runs on two revisions of one benchmark are never pooled: one data revision per benchmark on a page.

Each run records which publisher revision its images came from (`runs.data_revision`: the download
manifest's line, or "unverified copy"; core/data/manifest.py). A page that puts models side by side
on a benchmark keeps the runs of one revision, the one of the benchmark's latest run, and says what
it left out, so two models are never compared on different bytes under one benchmark name.
"""

from __future__ import annotations

__all__ = ["revision_of", "one_revision", "revision_label"]


def revision_of(value) -> str:
    """A run's data revision, with runs stored before manifests existed ("" or missing) as unverified copies."""
    from core.data.manifest import UNVERIFIED

    text = "" if value is None or value != value else str(value)  # NaN != NaN
    return text or UNVERIFIED


def revision_label(value) -> str:
    """Short text for tables and captions: `taesiri/imagenet-hard@32bfa94` or `unverified copy`."""
    return revision_of(value).split(" · ")[0]


def one_revision(runs, *, benchmark_column: str = "benchmark"):
    """`runs` (in start order, as the store lists them) reduced to one data revision per benchmark, the one of
    its latest run; and one note per benchmark whose other revisions were left out.

    Returns:
        (kept runs, notes): notes read "imagenet-hard: showing runs on taesiri/imagenet-hard@32bfa94; 2 runs on
        unverified copy not pooled with them".
    """
    if runs is None or runs.empty or benchmark_column not in runs:
        return runs, []
    revisions = (runs["data_revision"] if "data_revision" in runs else runs[benchmark_column].map(lambda _: ""))
    revisions = revisions.map(revision_of)
    keep = revisions == revisions.groupby(runs[benchmark_column]).transform("last")
    notes = []
    for benchmark, left in runs[~keep].groupby(benchmark_column, sort=False):
        chosen = revision_label(revisions[keep & (runs[benchmark_column] == benchmark)].iloc[-1])
        others = sorted({revision_label(value) for value in revisions[left.index]})
        notes.append(f"{benchmark}: showing runs on {chosen}; {len(left)} run{'s' if len(left) != 1 else ''} on "
                     f"{', '.join(others)} not pooled with them")
    return runs[keep], notes
