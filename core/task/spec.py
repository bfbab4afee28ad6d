"""What a task is and how it runs by default: `TaskSpec`, the defaults every entry point shares, and the
stored task read back (`load_task`). Plain data and one store read: no torch, no model.

The CLI (`python -m core task …`), the Your task page and `core.task.run` take their defaults and help text
from here, so a changed default changes everywhere at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.errors import UserError

__all__ = ["DEFAULT_SHOTS", "DEFAULT_CORRUPTIONS", "DEFAULT_SEVERITIES", "DEFAULT_TEST_FRACTION", "PRIORITIES",
           "DEFAULT_PRIORITY", "RACE_FIRST", "RACE_GROWTH", "RACE_ALPHA", "Layout", "TaskSpec", "UnknownTask",
           "load_task", "task_templates", "comma_list"]

Layout = Literal["folders", "splits", "csv"]
DEFAULT_SHOTS: tuple[int, ...] = (1, 2, 4, 8, 16)
"""k of the k-shot probes: images per class drawn from the training split."""
DEFAULT_CORRUPTIONS: tuple[str, ...] = ("gaussian_noise", "defocus_blur", "motion_blur", "contrast",
                                        "jpeg_compression")
"""Noisy, blurred (two kinds), darker and flatter, compressed: five of ImageNet-C's fifteen."""
DEFAULT_SEVERITIES: tuple[int, ...] = (1, 3, 5)
DEFAULT_TEST_FRACTION = 0.3
"""Share of each class held out for test (class-folder and split-less CSV layouts)."""
PRIORITIES: tuple[str, ...] = ("accuracy", "calibration", "robustness", "speed", "mix")
"""What the decision card ranks by (`core.task.decision`)."""
DEFAULT_PRIORITY = "accuracy"
RACE_FIRST = 100
"""Test images in round 1 of `task run --race`; a task with fewer runs without a race."""
RACE_GROWTH = 2.0
"""Each race round's sample of test images over the previous one's."""
RACE_ALPHA = 0.05
"""The race's chance of dropping the true best, over all its rounds (spent over the rounds, jointly over the
candidates' correlated comparisons: `core.metrics.selection.dunnett_bounds`)."""


def comma_list(values) -> str:
    """`1,2,4,8,16`: a default as the CLI and the page's text fields write it."""
    return ",".join(map(str, values))


class UnknownTask(UserError):
    """A task name the store does not hold."""


@dataclass(frozen=True)
class TaskSpec:
    """What defines a task; stored as JSON with the task. `templates` empty means the 80 ImageNet templates."""

    name: str
    root: str
    layout: Layout
    classes: tuple[str, ...]
    prompt_names: tuple[str, ...]
    templates: tuple[str, ...] = ()
    test_fraction: float = DEFAULT_TEST_FRACTION
    val_fraction: float = 0.2
    seed: int = 0


def load_task(store, name: str):
    """(spec, images frame, report) of a stored task.

    Raises:
        UnknownTask: the store holds no task of that name; the message lists those it holds.
    """
    tasks = store.tasks()
    found = tasks[tasks["name"] == name] if not tasks.empty else tasks
    if found.empty:
        known = ", ".join(tasks["name"]) if not tasks.empty else "none yet"
        raise UnknownTask(f"No task named `{name}` (tasks: {known}). Add it: python -m core task add {name} "
                          "--data PATH.")
    row = found.iloc[0]
    spec = dict(row["spec"])
    spec["classes"], spec["prompt_names"], spec["templates"] = (tuple(spec[k]) for k in
                                                                ("classes", "prompt_names", "templates"))
    return TaskSpec(**spec), store.task_images(name), row["report"]


def task_templates(spec: TaskSpec) -> tuple:
    """The task's zero-shot templates: its own, or the 80 ImageNet templates of OpenAI's CLIP."""
    if spec.templates:
        return tuple(spec.templates)
    from core.models.zero_shot import openai_templates

    return tuple(openai_templates())
