"""`task run --race`: drop clearly worse candidates on samples of the test images, then run the survivors in full.

Round 1 scores every candidate on a stratified sample of the clean test images (`RACE_FIRST`): the zero-shot
head of a CLIP model and each model's k-shot probe at the largest k on the first `RACE_DRAWS` of the full run's
draws (the same seeds, so the full run reuses them), the cheap part, since a k-shot probe needs the features of
only its drawn training images: one draw of 16 per class is about a third of the union of five. Each further
round doubles the sample, the last one every test image (`core.metrics.selection.race_schedule`). After each
round, a candidate whose paired top-1 difference to the current leader lies below 0 at the race's bound is
dropped (`core.metrics.selection.eliminate`: α spent over the rounds by a Lan–DeMets spending function on the
largest of a candidate's correlated comparisons with the others, a Dunnett-type joint bound, so the chance of
dropping the true best stays under 5%). A model with no candidate left computes
nothing more; the survivors get the full run (`core.task.run.run_task`: every image, the corruptions, the full
probe, every k and draw), with the models the race loaded.

The race ranks on clean top-1 (the accuracy priority). Its k-shot probes use C = 1 (`RACE_C`): the full probe's
C, which the full run gives every k-shot probe, needs every training image's features; the survivors' k-shot
probes are refitted with it. Features are stored under the full run's keys as they are computed, so a stopped
race resumes (the rounds are seeded, and replay from the stored features to the same drops) and a later full
run computes only what the race did not. The race's record (each drop: round, images, difference, bound; the
forward passes, race and full) is stored with the task for the decision card and the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from core.errors import UserError
from core.task.spec import RACE_ALPHA, RACE_FIRST, RACE_GROWTH

__all__ = ["RACE_FIRST", "RACE_GROWTH", "RACE_C", "RACE_ALPHA", "RACE_DRAWS", "RaceSummary", "race_task",
           "stratified_order"]

RACE_C = 1.0
"""Inverse regularisation of the race's k-shot probes (the full probe's choice needs every training image)."""
RACE_DRAWS = 1
"""k-shot draws the race fits at the largest k (the full run's first ones): a dropped model computes only their
training images; the survivors' full run adds the others."""


@dataclass
class RaceSummary:
    """What a race did: its rounds, the drops, the survivors' full run, and forward passes race vs full."""

    looks: tuple[int, ...] = ()
    drops: list = field(default_factory=list)
    survivors: list = field(default_factory=list)
    race_passes: int = 0
    full_passes: int = 0
    raced: bool = True
    stopped: bool = False
    message: str = ""
    run: object = None  # the survivors' `TaskRunSummary`


def stratified_order(labels: np.ndarray, *, seed: int) -> np.ndarray:
    """Positions of the test images in an order whose every prefix is stratified by class: each class's images
    in a seeded random order, interleaved in proportion to the class sizes (image j of a class of n sits at
    (j + 0.5) / n, ties broken at random).

    >>> order = stratified_order(np.array([0] * 6 + [1] * 3), seed=0)
    >>> np.bincount(np.array([0] * 6 + [1] * 3)[order[:3]]).tolist()
    [2, 1]
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    position = np.empty(len(labels))
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        position[rng.permutation(members)] = (np.arange(len(members)) + 0.5) / len(members)
    return np.lexsort((rng.random(len(labels)), position))


@dataclass
class _Candidate:
    model: str
    method: str
    k: int
    label: str


def _race_candidates(models: dict, kmax: int | None) -> list[_Candidate]:
    from core.task.measures import candidate_label

    found = []
    for name, model in models.items():
        spec = model.resolved.spec
        label = spec.label or name
        if spec.head == "zero_shot":
            found.append(_Candidate(name, "zero-shot", 0, candidate_label(label, "zero-shot")))
        if kmax:
            found.append(_Candidate(name, "k-shot", kmax, candidate_label(label, "k-shot", kmax)))
    return found


class _Scorer:
    """Each candidate's per-image correctness on a sample of test images, from stored clean features; the k-shot
    probes and zero-shot heads are fitted once per race and kept."""

    def __init__(self, spec, images, models: dict, kshot: dict, *, store, device: str, say):
        self.spec, self.images, self.models, self.kshot = spec, images, models, kshot
        self.store, self.device, self.say = store, device, say
        self.labels = images["label"].to_numpy().astype(np.int64)
        self.shas = images["sha256"].to_numpy()
        self.fitted: dict = {}

    def _fitted(self, candidate: _Candidate):
        from core.task.probes import fit_probe

        key = (candidate.model, candidate.method)
        if key not in self.fitted:
            model = self.models[candidate.model]
            if candidate.method == "zero-shot":
                from core.task.fits import _zero_shot_head

                self.fitted[key] = [_zero_shot_head(self.spec, model, self.device, self.say).numpy()]
            else:
                probes = []
                for chosen in self.kshot.values():
                    if len(np.unique(self.labels[chosen])) < 2:
                        continue
                    features = self.store.task_features(model.keys["clean"], list(self.shas[chosen]))
                    probes.append(fit_probe(features, self.labels[chosen], RACE_C, n_classes=len(self.spec.classes),
                                            seed=self.spec.seed))
                self.fitted[key] = probes
        return self.fitted[key]

    def scores(self, candidate: _Candidate, sample: np.ndarray) -> np.ndarray | None:
        """(images,) correctness on the sample (a k-shot probe: the mean over its draws); None: not scorable."""
        from core.task.probes import zero_shot_probs

        fitted = self._fitted(candidate)
        if not fitted:
            return None
        features = self.store.task_features(self.models[candidate.model].keys["clean"], list(self.shas[sample]))
        labels = self.labels[sample]
        if candidate.method == "zero-shot":
            return (zero_shot_probs(features, fitted[0]).argmax(axis=1) == labels).astype(np.float64)
        return np.mean([probe(features).argmax(axis=1) == labels for probe in fitted], axis=0)


def _kshot_positions(spec, images, k: int, draws: int) -> dict[int, np.ndarray]:
    """{draw: positions in `images`} of the k-shot training images, exactly the full run's (same seeds)."""
    from core.task.fits import kshot_seed
    from core.task.probes import kshot_indices

    pool = np.flatnonzero(images["split"].to_numpy() == "train")
    labels = images["label"].to_numpy()
    return {draw: pool[kshot_indices(labels[pool], k, seed=kshot_seed(spec.seed, k, draw))] for draw in range(draws)}


def race_task(name: str, models: Sequence, *, shots: Sequence[int], corruptions: Sequence[str],
              severities: Sequence[int], protocol: str = "paper", draws: int | None = None, batch_size: int = 32,
              store=None, device: str | None = None, stop: dict | None = None, progress: Callable | None = None,
              say: Callable[[str], None] = print, first: int = RACE_FIRST, growth: float = RACE_GROWTH,
              alpha: float = RACE_ALPHA, strict: bool = False, download: bool | None = None) -> RaceSummary:
    """Race `models` on task `name` (the module's rounds), then run the survivors in full; returns what it did.

    Raises:
        UserError: fewer than two models (nothing to race). UnknownTask, UnknownModel, UnknownCorruption as
        `run_task`.
    """
    from core.config import refuse_in_view_mode
    from core.metrics.selection import eliminate, race_schedule
    from core.models.load import best_device
    from core.store import ResultsStore
    from core.task.probes import KSHOT_DRAWS
    from core.task.run import TaskRunSummary, _feature_pass, check_corruptions, ready_models, run_task

    refuse_in_view_mode("running a task")
    store = store or ResultsStore()
    if len(models) < 2:
        raise UserError("Only one model: there is nothing to race. Run it without --race, or name two or more "
                        "models: --models effnet_lite0,vit_clip --race.")
    check_corruptions(corruptions, severities)
    device = device or best_device()
    run_args = dict(shots=shots, corruptions=corruptions, severities=severities, protocol=protocol, draws=draws,
                    batch_size=batch_size, store=store, device=device, stop=stop, progress=progress, say=say,
                    strict=strict, download=download)
    # every model loads before any image is read, as in `run_task` (one preflight: `ready_models`)
    spec, images, models_dict, conditions, needs, _ = ready_models(
        store, name, models, protocol=protocol, corruptions=corruptions, severities=severities, device=device, say=say,
        strict=strict, download=download)
    test_rows = np.flatnonzero(images["split"].to_numpy() == "test")
    looks = race_schedule(len(test_rows), first=first, growth=growth)
    full_passes = sum(len(wanted) for wanted in needs.values())
    if not looks or len(models_dict) < 2:
        message = (f"{name}: {len(test_rows):,} test images, fewer than the race's first sample of {first}: every "
                   "model runs in full, without a race." if not looks else
                   f"{name}: one model can load, so there is nothing to race: it runs in full.")
        say(message)
        run = run_task(name, [model.resolved for model in models_dict.values()],
                       loaded={n: model.loaded for n, model in models_dict.items() if model.loaded is not None},
                       **run_args)
        passes = sum(run.features.values())
        return RaceSummary((), [], list(models_dict), passes, full_passes, False, run.stopped, message, run)
    shots = tuple(sorted({int(k) for k in shots}))
    kmax = shots[-1] if shots else None
    kshot = _kshot_positions(spec, images, kmax, min(RACE_DRAWS, KSHOT_DRAWS if draws is None else draws)) \
        if kmax else {}
    kshot_rows = np.unique(np.concatenate(list(kshot.values()))) if kshot else np.array([], dtype=np.int64)
    order = test_rows[stratified_order(images["label"].to_numpy()[test_rows], seed=spec.seed)]
    candidates = _race_candidates(models_dict, kmax)
    scorer = _Scorer(spec, images, models_dict, kshot, store=store, device=device, say=say)
    shas = images["sha256"].to_numpy()
    paths = dict(zip(images["sha256"], images["path"]))
    alive = np.ones(len(candidates), bool)
    summary = RaceSummary(looks=looks, full_passes=full_passes)
    models_alive = set(models_dict)
    scorable = np.ones(len(candidates), bool)
    for look, size in enumerate(looks):
        if len(models_alive) < 2:
            break  # one model left: nothing more to race
        rows = np.concatenate([order[:size], kshot_rows]) if look == 0 else order[:size]
        wanted = {(model, "clean"): set(shas[rows]) - store.task_feature_shas(models_dict[model].keys["clean"])
                  for model in models_alive}
        said = f"{name}: race round {look + 1} of {len(looks)}: {len(models_alive)} model(s) on {size:,} test images"
        say(said + (f" and {len(kshot_rows):,} k-shot training images…" if look == 0 else "…"))
        passes = TaskRunSummary()
        if any(wanted.values()):
            racing = {model: models_dict[model] for model in models_alive}
            _feature_pass(racing, wanted, paths, set(), ["clean"], store=store, device=device, batch_size=batch_size,
                          stop=stop, progress=progress, summary=passes)
        summary.race_passes += sum(passes.features.values())
        if passes.stopped:
            summary.stopped = True
            summary.message = "Stopped during the race; run the same command again to resume."
            return summary
        sample = order[:size]
        scores = np.full((len(candidates), size), np.nan)
        for i, candidate in enumerate(candidates):
            if alive[i] and scorable[i]:
                found = scorer.scores(candidate, sample)
                if found is None:
                    scorable[i] = False
                else:
                    scores[i] = found
        racing = alive & scorable
        if racing.sum() < 2:
            break
        after, drops = eliminate(np.nan_to_num(scores), racing, look=look, looks=looks,
                                 n_candidates=int(scorable.sum()), alpha=alpha)
        for drop in drops:
            alive[drop.candidate] = False
            summary.drops.append({"candidate": candidates[drop.candidate].label,
                                  "model": candidates[drop.candidate].model, "round": look + 1, "n": drop.n,
                                  "leader": candidates[drop.leader].label, "difference": drop.difference,
                                  "upper": drop.upper})
            say(f"  dropped {candidates[drop.candidate].label}: {drop.difference * 100:+.1f} pp behind "
                f"{candidates[drop.leader].label} on {drop.n:,} images (bound {drop.upper * 100:+.1f} pp)")
        models_alive = {c.model for c, keep, ok in zip(candidates, alive, scorable) if keep or not ok}
        models_alive |= {model for model in models_dict if model not in {c.model for c in candidates}}
    summary.survivors = [model for model in models_dict if model in models_alive]
    summary.drops = [drop for drop in summary.drops if drop["model"] not in models_alive]
    say(f"{name}: {len(summary.survivors)} model(s) left after the race ({', '.join(summary.survivors)}): the full "
        "run…")
    survivors = [models_dict[model].resolved for model in summary.survivors]
    summary.run = run_task(name, survivors, loaded={model: models_dict[model].loaded for model in summary.survivors
                                                    if models_dict[model].loaded is not None}, **run_args)
    summary.race_passes += sum(summary.run.features.values())
    summary.stopped = summary.run.stopped
    store.write_task_race(name, {"looks": list(looks), "drops": summary.drops, "survivors": summary.survivors,
                                 "race_passes": summary.race_passes, "full_passes": full_passes, "alpha": alpha,
                                 "first": first, "growth": growth})
    saved = 1 - summary.race_passes / full_passes if full_passes else 0.0
    summary.message = (f"{name}: the race computed {summary.race_passes:,} forward passes where a full run of every "
                       f"model needed {full_passes:,} ({saved:.0%} saved); dropped: "
                       + (", ".join(f"{d['candidate']} (round {d['round']})" for d in summary.drops) or "none") + ".")
    return summary
