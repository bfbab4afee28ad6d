"""Your own task: a labelled folder of the user's images, compared across models next to the paper's benchmarks.

`core.task.spec` holds the `TaskSpec`, the defaults and the stored task's read; `core.task.folder` reads the
folder (three layouts) into a `TaskSpec` and its `TaskImage`s with a seeded,
stratified split; `core.task.run` computes each model's features once per (model, image, preprocessing,
corruption) and fits zero-shot heads, full and k-shot probes; `core.task.measures` reads the stored
predictions into the page's tables and `core.task.decision` ranks (model, method) pairs on paired differences.
"""

from core.task.folder import TaskImage, TaskInvalid, scan_task
from core.task.spec import DEFAULT_SHOTS, TaskSpec

__all__ = ["DEFAULT_SHOTS", "TaskImage", "TaskInvalid", "TaskSpec", "scan_task"]
