"""Your own task: a labelled folder of the user's images, compared across models next to the paper's benchmarks.

`core.task.spec` holds the `TaskSpec`, the defaults and the stored task's read; `core.task.folder` reads the
folder (three layouts) into a `TaskSpec` and its `TaskImage`s with a seeded,
stratified split; `core.task.run` computes each model's features once per (model, image, preprocessing,
corruption) and fits zero-shot heads, full and k-shot probes; `core.task.measures` reads the stored
predictions into the page's tables and `core.task.decision` ranks (model, method) pairs on paired differences.
"""

from core.task.spec import DEFAULT_SHOTS, TaskSpec

__all__ = ["DEFAULT_SHOTS", "TaskImage", "TaskInvalid", "TaskSpec", "scan_task"]

_FOLDER = ("TaskImage", "TaskInvalid", "scan_task")


def __getattr__(name: str):
    """The folder reader's names, imported when first asked for: the CLI reads its defaults from
    `core.task.spec` while it builds its parser, and that should not import numpy."""
    if name in _FOLDER:
        from core.task import folder

        return getattr(folder, name)
    raise AttributeError(f"module 'core.task' has no attribute {name!r}")
