"""`python -m core task candidates NAME`: a varied shortlist of published checkpoints for a task, added in one
step with `--add`. Reads only the published tables (no torch, no store): it answers in well under a second."""

from __future__ import annotations

__all__ = ["add_parser", "candidates_command", "format_shortlist"]


def add_parser(actions) -> None:
    """Adds `candidates` to the `task` subcommands."""
    from core.data.catalogue import MACHINES
    from core.data.pretraining import ALIASES, PRETRAINING
    from core.task.candidates import DEFAULT_MACHINE, PRIORS

    parser = actions.add_parser(
        "candidates", help="a varied shortlist of published timm and open_clip checkpoints under your constraints "
                           "(--add writes them to models.toml)")
    parser.add_argument("name", help="the task the shortlist is for (its next step names it)")
    parser.add_argument("--max-params", type=float, help="at most this many parameters, in millions (30 = 30 M)")
    parser.add_argument("--min-speed", type=float, help="at least this many images/s in timm's published benchmark "
                                                        "on the machine --on names")
    parser.add_argument("--on", default=DEFAULT_MACHINE, metavar="MACHINE",
                        help=f"the benchmarked machine closest to yours: {', '.join(MACHINES)} "
                             f"(default {DEFAULT_MACHINE})")
    parser.add_argument("--pretraining", default="", help=f"allowed pretraining, comma-separated: "
                                                          f"{', '.join(PRETRAINING)} (also {', '.join(ALIASES)})")
    parser.add_argument("--library", default="", help="timm, open_clip or both (comma-separated; default both)")
    parser.add_argument("--prior", default="imagenet", choices=list(PRIORS),
                        help="what ranks them: ImageNet top-1, the mean over ImageNet-V2/-Sketch/-R/-A, or open_clip's "
                             "35-dataset zero-shot average (CLIP models only)")
    parser.add_argument("--top", type=int, default=12, help="how many to propose (default 12)")
    parser.add_argument("--per-family", type=int, default=2, help="at most this many per architecture family")
    parser.add_argument("--per-source", type=int, help="at most this many per pretraining source (default: a third "
                                                       "of --top)")
    parser.add_argument("--static", action="store_true", help="rank by the prior alone (no variety caps): the "
                                                              "baseline your images are compared against")
    parser.add_argument("--add", action="store_true", help="write the shortlist to models.toml (nothing downloads "
                                                           "until a run needs the weights)")


def _constraints(args):
    from core.data.catalogue import machine_key
    from core.data.pretraining import parse_sources
    from core.task.candidates import Constraints

    library = tuple(part.strip().lower().replace("-", "_") for part in args.library.split(",") if part.strip())
    return Constraints(max_params=args.max_params, min_speed=args.min_speed, machine=machine_key(args.on),
                       pretraining=parse_sources(args.pretraining), library=library, prior=args.prior, top=args.top,
                       per_family=args.per_family, per_source=args.per_source, varied=not args.static)


def _speed_text(speed) -> str:
    return "—" if speed is None else f"{speed.samples_per_sec:,.1f}/s @{speed.img_size}px b{speed.batch}"


def format_shortlist(found, task: str) -> list[str]:
    """The shortlist as lines of text: a header naming the prior and its source, one row per candidate, and where
    every column comes from."""
    from core.data.catalogue import MACHINES
    from core.paper import TAGS

    constraints = found.constraints
    caps = ("ranked by the prior alone (no variety caps)" if not constraints.varied else
            f"at most {constraints.per_family} per family and {constraints.source_cap} per pretraining source, one "
            "checkpoint per architecture and source" + (f"; caps lifted to fill the list: {', '.join(found.relaxed)}"
                                                         if found.relaxed else ""))
    lines = [f"Candidates for task {task}: {len(found.candidates)} of the {found.feasible:,} published checkpoints "
             f"meeting the constraints ({found.considered:,} listed), best prior first; {caps}.",
             f"Prior: {found.prior_text}."]
    header = ("checkpoint", "prior", "tag", "params", "speed", "pretraining", "family", "licence", "registered")
    rows = [header]
    for candidate in found.candidates:
        row = candidate.published
        rows.append((candidate.checkpoint, f"{100 * candidate.prior:.1f}%", f"[{candidate.tag}]",
                     "—" if row.params_m is None else f"{row.params_m:,.1f} M", _speed_text(candidate.speed),
                     row.pretraining.source + (f" ({row.pretraining.data})" if row.pretraining.data else ""),
                     row.family, candidate.licence or "unknown", candidate.present or "—"))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    lines += ["  ".join(str(value).ljust(width) for value, width in zip(row, widths)).rstrip() for row in rows]
    if constraints.varied and found.baseline:
        static = [name for name in found.baseline]
        families = len({_family(name) for name in static})
        lines.append(f"By the prior alone the top {len(static)} would span {families} famil"
                     f"{'y' if families == 1 else 'ies'}; this list spans {len(found.families())} families and "
                     f"{len(found.sources())} pretraining sources ({', '.join(sorted(found.sources()))}).")
    lines += [f"[T] {TAGS['T']}; [O] {TAGS['O']}: published numbers, not measured here.",
              f"Speed: timm's published inference benchmark on the {MACHINES[constraints.machine][1]}, at the "
              "checkpoint's size (or the next size up: it runs no slower); — where timm benchmarks none (open_clip's "
              "models, other sizes). Download size: not stated by timm's or open_clip's registries. Licence: as "
              "timm's pretrained cfg states it (unknown where it states none, for open_clip, or not noted in this "
              "environment: python -m core.models.hub_cfg notes them)."]
    return lines


def _family(checkpoint: str) -> str:
    from core.data.pretraining import family_of

    return family_of(checkpoint)


def candidates_command(args) -> int:
    from core.task.candidates import add_candidates, shortlist

    found = shortlist(_constraints(args))
    for line in format_shortlist(found, args.name):
        print(line)
    keys = [candidate.present or candidate.model for candidate in found.candidates]
    if not args.add:
        print(f"Add them: the same command with --add; then python -m core task run {args.name} --models "
              f"{','.join(keys)} --download")
        return 0
    added, skipped = add_candidates(found.candidates)
    print(f"Added {len(added)} model{'s' if len(added) != 1 else ''} to models.toml"
          + (f"; {len(skipped)} not added:" if skipped else "."))
    for line in skipped:
        print(f"  {line}")
    print(f"Nothing was downloaded. Next: python -m core task run {args.name} --models {','.join(keys)} --download "
          "(fetches each model's weights first, with progress; without --download only weights already here are used).")
    return 0
