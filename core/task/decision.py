"""The decision card: which (model, method) to pick for the user's priority, and how sure that choice is.

Every candidate was scored on the same test images, so each comparison with the top candidate is a paired
difference: one `resample_weights` matrix (1,000 replicates over the test images) serves every candidate,
and top − other gets its percentile interval and bootstrap p-value (`core.metrics.paired.difference`).
The verdict is the rule of the Findings page (`core.metrics.paired.decide`, "top is higher"): *ahead* when
the interval lies above 0, *behind* when below with a Holm-corrected p < 0.05 over the card's comparisons,
otherwise the data *cannot separate* the two.

Priorities (higher score is better):
    accuracy     top-1 on the clean test images (k-shot: the mean over its draws)
    calibration  −ECE (15 equal-width bins) of zero-shot and full-probe candidates
    robustness   top-1 averaged over every corrupted condition of the test images
    speed        images/s of the model's forward pass here: measured once, no per-image interval
    mix          w_acc × top-1 − w_cal × ECE + w_rob × corrupted top-1 + w_speed × images/s ÷ the fastest's
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from core.metrics.paired import Difference, decide, difference, weighted_accuracy, weighted_ece
from core.task.measures import N_RESAMPLES, replicate_weights
from core.task.spec import PRIORITIES

__all__ = ["PRIORITIES", "DEFAULT_MIX", "VERDICT_RULE", "P_BEST_NOTE", "Priority", "Comparison", "DecisionCard",
           "decision_card", "score_replicates", "p_best_text", "difference_text"]

Priority = Literal["accuracy", "calibration", "robustness", "speed", "mix"]
VERDICT_RULE = ("Verdict as on the Findings page: ahead when the 95% paired interval of top − other lies above 0, "
                "behind when below (Holm-corrected p < 0.05), otherwise the data cannot separate them.")
"""The rule under every decision card (the page and the report)."""
P_BEST_NOTE = ("Chance of being best: the share of paired m-out-of-n bootstrap resamples (m = n^0.75 of the n test "
               "images; Hall & Miller, Ann. Statist. 2009) in which each candidate scores highest, ties split; the "
               "plain bootstrap overstates the leader among near-ties. Its reliability in simulation: "
               "docs/your-task.md.")
"""What P(best) is, under every card that shows it."""
DEFAULT_MIX = {"accuracy": 0.5, "calibration": 0.2, "robustness": 0.2, "speed": 0.1}
_METRIC = {"accuracy": ("top-1", 100, "pp"), "calibration": ("ECE", 100, "pp"),
           "robustness": ("corrupted top-1", 100, "pp"), "speed": ("images/s", 1, ""), "mix": ("mixed score", 100, "")}
_VERDICT = {"reproduced": "ahead", "contradicted": "behind", "inconclusive": "cannot separate",
            "not measured": "not measured"}


@dataclass(frozen=True)
class Comparison:
    """The top candidate against one other: the difference in the priority's metric and its verdict."""

    candidate: str
    value: float
    difference: Difference | None
    verdict: str
    sentence: str
    settle: str = ""  # "about 900 labelled test images would separate …" for a pair the data cannot separate


@dataclass(frozen=True)
class DecisionCard:
    priority: str
    top: str | None
    top_value: float
    comparisons: tuple[Comparison, ...]
    left_out: tuple[str, ...]
    headline: str
    p_best: tuple[tuple[str, float], ...] = ()  # (candidate, share of paired replicates in which it is best)
    race: tuple[str, ...] = ()  # the race's sentences: each dropped candidate, its round and difference; passes saved
    p_best_m: int = 0  # images drawn per m-out-of-n replicate of P(best)
    n_images: int = 0


def _robust_correct(data) -> dict[int, np.ndarray]:
    """Per candidate row with corruptions: each test image's top-1 averaged over the corrupted conditions."""
    if data.corrupted.empty:
        return {}
    means = data.corrupted
    found = {}
    for i, row in data.candidates.iterrows():
        part = means[(means["model"] == row["model"]) & (means["method"] == row["method"])]
        if row["method"] != "k-shot" and len(part) == data.n_images:
            values = np.empty(data.n_images)
            values[part["i"].to_numpy()] = part["correct"].to_numpy()
            found[i] = values
    return found


def score_replicates(data, priority: str, weights: np.ndarray, *, mix: dict | None = None) -> dict[int, np.ndarray]:
    """{candidate row: the priority's score under each row of `weights`} (higher is better; calibration's is −ECE).
    Candidates the priority cannot score (k-shot for calibration, no corruptions, no speed) are left out."""
    if priority not in PRIORITIES:
        raise ValueError(f"Expected a priority among {PRIORITIES}, got {priority!r}.")
    speed = {} if data.costs.empty else dict(zip(data.costs["model"], data.costs["images_per_s"].astype(float)))
    if priority != "mix":
        return _single(data, priority, weights, speed)
    used = {name: float(w) for name, w in (mix or DEFAULT_MIX).items() if w}
    parts = {name: _single(data, name, weights, speed) for name in used}
    fastest = max(speed.values()) if speed else np.nan
    common = set(range(len(data.candidates)))
    for name in used:
        common &= set(parts[name])
    return {i: sum(w * (parts[name][i] / fastest if name == "speed" else parts[name][i]) for name, w in used.items())
            for i in sorted(common)}


def _single(data, priority: str, weights: np.ndarray, speed: dict) -> dict[int, np.ndarray]:
    rows = range(len(data.candidates))
    methods = data.candidates["method"].to_numpy()
    if priority == "accuracy":
        return {i: _accuracy_replicates(data, i, weights) for i in rows}
    if priority == "calibration":
        return {i: -weighted_ece(weights, data.conf[i], data.correct[i].astype(bool)) for i in rows
                if methods[i] != "k-shot"}
    if priority == "robustness":
        return {i: weighted_accuracy(weights, values) for i, values in _robust_correct(data).items()}
    return {i: np.full(len(weights), speed[model]) for i, model in zip(rows, data.candidates["model"])
            if model in speed}



def _accuracy_replicates(data, i: int, weights: np.ndarray) -> np.ndarray:
    """Top-1 of candidate row `i` under each image resample; a k-shot probe's by the two-level bootstrap
    (`core.task.measures.kshot_replicates`), so the card, the summary table, the k-shot curve and the report give
    it one interval. The point value (one row of ones) is the plain mean."""
    from core.task.measures import kshot_replicates

    row = data.candidates.iloc[i]
    if row["method"] != "k-shot" or (row["model"], int(row["k"])) not in data.kshot_correct or len(weights) == 1:
        return weighted_accuracy(weights, data.correct[i])
    return kshot_replicates(data, row["model"], row["k"], weights)


def _settle(data, top: int, other: int, diff: Difference, names) -> str:
    """For an accuracy pair the data cannot separate: the test images at which McNemar's test would separate a
    difference of the observed size with 80% power (`core.metrics.selection.mcnemar_sample_size`)."""
    from core.metrics.selection import mcnemar_sample_size

    a, b = data.correct[top], data.correct[other]
    delta = float(np.mean(a - b))
    # images where exactly one is right (0/1 candidates); for a k-shot mean over draws E[D²], at least |δ| (the
    # bound of a 0/1 pair, so the formula stays defined; a larger ψ only asks for more images)
    discordance = max(float(np.mean((a - b) ** 2)), abs(float(np.mean(a - b))))
    if delta == 0 or discordance == 0:
        return (f"{names[top]} and {names[other]} score the same on these {data.n_images:,} images: no number of "
                "test images would separate a difference of 0.")
    needed = mcnemar_sample_size(delta, discordance)
    shown = f"{float(f'{needed:.2g}'):,.0f}"
    sentence = (f"About {shown} labelled test images would separate {delta * 100:+.1f} pp ({names[top]} − "
                f"{names[other]}) with 80% power (McNemar's test at 5%, from their {discordance:.0%} discordant "
                f"images; Connor 1987); this task has {data.n_images:,}.")
    if "k-shot" in (data.candidates.at[top, "method"], data.candidates.at[other, "method"]):
        sentence += " A k-shot probe's draws vary too, so more test images alone may not be enough."
    return sentence


def _shown(priority: str, diff: Difference) -> tuple[float, float, float]:
    """(difference, low, high) in the priority's unit as shown: ECE is ranked on −ECE but shown as ECE."""
    _, scale, _ = _METRIC[priority]
    sign = -1 if priority == "calibration" else 1
    low, high = sorted((sign * diff.ci_low * scale, sign * diff.ci_high * scale))
    return sign * diff.value * scale, low, high


def difference_text(priority: str, diff: Difference) -> str:
    """A paired difference in the priority's metric with its interval, as the card shows it: "+2.5 pp top-1
    [−1.0, +6.0]"."""
    metric, _, unit = _METRIC[priority]
    value, low, high = _shown(priority, diff)
    return f"{value:+.1f} {unit} {metric} [{low:+.1f}, {high:+.1f}]".replace("  ", " ")


def p_best_text(card: "DecisionCard", *, limit: int | None = None) -> str:
    """The card's P(best) line, the same on the page and in the report: "Chance of being best (m-out-of-n
    bootstrap, m = 167 of 600 test images): A 62% · B 31% · C <1%"; "" when the card has none."""
    if not card.p_best:
        return ""
    shown = card.p_best[:limit] if limit else card.p_best
    method = (f" (m-out-of-n bootstrap, m = {card.p_best_m:,} of {card.n_images:,} test images)"
              if card.p_best_m else "")
    return f"Chance of being best{method}: " + " · ".join(
        f"{name} {share:.0%}" if share >= 0.005 else f"{name} <1%" for name, share in shown)


def _pp(value: float) -> str:
    """A difference in percentage points, signed: one decimal, two below 0.05 pp (never "-0.0")."""
    return f"{value * 100:+.1f}" if abs(value * 100) >= 0.05 else f"{value * 100:+.2f}"


def _race_lines(race: dict | None, shown: set) -> tuple[str, ...]:
    """Sentences of a stored race record (`core.task.race`): each dropped candidate not on the card, its round
    and the difference that dropped it, and the forward passes saved against a full run."""
    if not race:
        return ()
    lines = []
    for drop in race.get("drops", ()):
        if drop["candidate"] in shown:
            continue  # run in full since: the card's own comparison replaces the race's
        lines.append(f"Dropped in round {drop['round']} ({drop['n']:,} test images): {drop['candidate']} − "
                     f"{drop['leader']} top-1 = {_pp(drop['difference'])} pp, upper bound {_pp(drop['upper'])} pp "
                     "< 0 at the race's level.")
    if race.get("full_passes"):
        saved = 1 - race["race_passes"] / race["full_passes"]
        lines.append(f"The race (α = {race.get('alpha', 0.05):.0%}) computed {race['race_passes']:,} forward passes "
                     f"where a full run of every model needed {race['full_passes']:,}: {saved:.0%} saved.")
    return tuple(lines)


def decision_card(data, priority: str = "accuracy", *, mix: dict | None = None, n_resamples: int = N_RESAMPLES,
                  seed: int = 0, race: dict | None = None) -> DecisionCard:
    """Rank the candidates by `priority` and compare the top one with each other on paired differences.

    Also: each candidate's P(best) (the share of paired m-out-of-n bootstrap replicates in which it scores highest,
    `core.metrics.selection.best_share` over `subsample_weights`: Hall & Miller 2009), the images that would settle
    each accuracy pair the data cannot separate, and the lines of a stored race record (`race`, `core.task.race`)."""
    from core.metrics.selection import best_share, subsample_size, subsample_weights

    n = data.n_images
    point = score_replicates(data, priority, np.ones((1, n)), mix=mix)
    names = data.candidates["candidate"].to_numpy()
    left_out = tuple(names[i] for i in range(len(names)) if i not in point)
    race_lines = _race_lines(race, set(names))
    if not point:
        return DecisionCard(priority, None, float("nan"), (), left_out,
                            f"No candidate can be scored for {priority} yet.", race=race_lines)
    replicates = score_replicates(data, priority, replicate_weights(n, n_resamples, seed), mix=mix)
    order = sorted(point, key=lambda i: -float(point[i][0]))
    top = order[0]
    metric, scale, unit = _METRIC[priority]
    sign = -1 if priority == "calibration" else 1  # shown in ECE, ranked on −ECE
    diffs = []
    for other in order[1:]:
        if priority == "speed":
            diffs.append(None)
            continue
        diffs.append(difference(point[top][0], point[other][0], replicates[top], replicates[other], n=n, paired=True))
    verdicts, _ = decide([(d, "higher") for d in diffs if d is not None]) if any(d is not None for d in diffs) \
        else ([], "")
    verdicts = iter(verdicts)
    comparisons = []
    for other, diff in zip(order[1:], diffs):
        if diff is None:
            value = float(point[top][0] - point[other][0])
            sentence = (f"{names[top]} − {names[other]} {metric} = {value:+,.1f} (measured once on this machine; "
                        "no interval)")
            comparisons.append(Comparison(names[other], float(point[other][0]), None, "measured once", sentence))
            continue
        verdict = _VERDICT[next(verdicts)]
        value, low, high = _shown(priority, diff)
        sentence = (f"{names[top]} − {names[other]} {metric} = {value:+.1f} {unit} "
                    f"[{low:+.1f}, {high:+.1f}], {diff.method}" + (": the data cannot separate them"
                                                                     if verdict == "cannot separate" else ""))
        settle = _settle(data, top, other, diff, names) if verdict == "cannot separate" and priority == "accuracy" \
            else ""
        comparisons.append(Comparison(names[other], sign * float(point[other][0]), diff, verdict,
                                      sentence.replace("  ", " "), settle))
    top_value = sign * float(point[top][0])
    ties = [c.candidate for c in comparisons if c.verdict == "cannot separate"]
    shown = {"speed": f"{top_value:,.1f}", "mix": f"{top_value * scale:.1f}"}.get(priority, f"{top_value:.1%}")
    headline = f"For {priority}: {names[top]} ({metric} {shown})"
    if priority == "speed":
        headline += ": speed is measured once on this machine, so no interval backs this ranking."
    elif ties:
        headline += f"; the data cannot separate it from {', '.join(ties[:3])}{' …' if len(ties) > 3 else ''}."
    else:
        headline += " is ahead of every other candidate." if comparisons else "."
    p_best, m = (), 0
    if priority != "speed":
        m = subsample_size(n)
        subsampled = score_replicates(data, priority, subsample_weights(n, n_resamples=n_resamples, seed=seed + 1),
                                      mix=mix)
        p_best = tuple((names[i], float(share))
                       for i, share in zip(order, best_share(np.stack([subsampled[i] for i in order]))))
    return DecisionCard(priority, names[top], top_value, tuple(comparisons), left_out, headline, p_best, race_lines,
                        m, n)
