"""Command line: `python -m core COMMAND`, or `bae COMMAND` once installed (`pip install .`). One module per command
group (models, data, runs, task, app); each adds its subcommands and handlers, and `main` dispatches, turning a
`UserError` into its one line and exit code 2."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.cli import app, data, line, models, runs, task
from core.cli._common import STOPPED_MESSAGE
from core.errors import UserError

__all__ = ["STOPPED_MESSAGE", "main"]

GROUPS = (models, data, runs, task, line, app)
PASS_THROUGH = ("app",)
"""Commands whose unknown arguments go on to the program they start (`bae app --server.port 8502`)."""


def _parser() -> tuple[argparse.ArgumentParser, dict]:
    prog = "bae" if Path(sys.argv[0]).name == "bae" else "python -m core"
    parser = argparse.ArgumentParser(prog=prog, description="Beyond Accuracy Explorer command line.")
    commands = parser.add_subparsers(dest="command", required=True)
    handlers = {}
    for group in GROUPS:
        handlers.update(group.add_commands(commands))
    return parser, handlers


def main(argv: list[str] | None = None) -> int:
    parser, handlers = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command not in PASS_THROUGH:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    try:
        return handlers[args.command](args)
    except UserError as error:
        print(str(error), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Interrupted; nothing cached was lost.", file=sys.stderr)
        return 130
