"""Command `line`: the accuracy-on-the-line fit of the published population, its fit choice and filter, and the
pretraining table of every published checkpoint."""

from __future__ import annotations

from pathlib import Path

__all__ = ["add_commands", "fit_on_argument"]


def fit_on_argument(parser) -> None:
    """`--fit-on` with the line's choices (`core.analysis.accuracy_line.FIT_ON`), shared by `line` and `report`."""
    from core.data.pretraining import DEFAULT_FIT_ON, FIT_ON

    parser.add_argument("--fit-on", choices=list(FIT_ON), default=DEFAULT_FIT_ON,
                        help="the checkpoints the line is fitted on: " + "; ".join(f"{key}: {text}"
                                                                                   for key, text in FIT_ON.items()))


def add_commands(commands) -> dict:
    line = commands.add_parser("line", help="the accuracy-on-the-line fit of the published checkpoints per shifted set "
                                            "(python -m core download timm-results openclip-results first)")
    fit_on_argument(line)
    line.add_argument("--pretraining", default="", help="keep only these pretraining sources, comma-separated "
                                                        "(in1k, in21k, clip, weak, other, unknown)")
    line.add_argument("--family", default="", help="keep only these architecture families, comma-separated "
                                                   "(e.g. resnet,convnext,vit)")
    line.add_argument("--params", default="", metavar="MIN-MAX", help="keep checkpoints with MIN to MAX million "
                                                                      "parameters, e.g. 10-100 or 50-")
    line.add_argument("--at", type=float, default=0.857, help="ImageNet top-1 (fraction) to predict at "
                                                              "(default 0.857, the paper's supervised models)")
    line.add_argument("--checkpoints", type=Path, metavar="CSV", help="also write the pretraining table of every "
                                                                      "published checkpoint to this CSV")
    return {"line": _line}


def _params(text: str) -> tuple[float | None, float | None]:
    from core.errors import UserError

    if not text:
        return None, None
    low, sep, high = text.partition("-")
    try:
        bounds = (float(low) if low.strip() else None, float(high) if high.strip() else None)
    except ValueError:
        bounds = None
    if not sep or bounds is None:
        raise UserError(f"--params {text}: expected MIN-MAX in millions, e.g. 10-100, 50- or -25.")
    return bounds


def _line(args) -> int:
    from core.analysis.accuracy_line import PopulationFilter, line_description, population_lines
    from core.data.population import checkpoints, population
    from core.data.pretraining import parse_sources
    from core.errors import UserError
    from core.metrics.effective_robustness import line_band

    if not 0 < args.at < 1:
        raise UserError(f"--at {args.at}: expected an ImageNet top-1 as a fraction, e.g. 0.857.")
    low, high = _params(args.params)
    where = PopulationFilter(parse_sources(args.pretraining) if args.pretraining else (),
                             tuple(word.strip().lower() for word in args.family.split(",") if word.strip()), low, high)
    table = population()
    if args.checkpoints:
        names = checkpoints(table)
        args.checkpoints.parent.mkdir(parents=True, exist_ok=True)
        names.to_csv(args.checkpoints, index=False)
        print(f"Wrote {args.checkpoints}: {len(names):,} checkpoints (" + ", ".join(
            f"{source} {count:,}" for source, count in names["pretraining"].value_counts().items()) + ").")
    lines = population_lines(table, fit_on=args.fit_on, population_filter=where)
    print(line_description(lines, where))
    if not lines:
        return 1
    print(f"\n{'set':<16} {'checkpoints':>11} {'slope':>7} {'intercept':>9}  prediction at {args.at:.1%} [95% band]")
    for benchmark, line in lines.items():
        band = line_band(line.imagenet, line.shifted, [args.at], transform=line.fit.transform,
                         lines=(line.slopes, line.intercepts)).iloc[0]
        print(f"{benchmark:<16} {len(line.imagenet):>11,} {line.fit.slope:>7.3f} {line.fit.intercept:>9.3f}  "
              f"{band.predicted:.1%} [{band.low:.1%}, {band.high:.1%}]")
    return 0
