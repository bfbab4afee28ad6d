"""Command line: `python -m core COMMAND`. One module per command group (models, data, runs, task); each adds its
subcommands and handlers, and `main` dispatches, turning a `UserError` into its one line and exit code 2."""

from __future__ import annotations

import argparse
import sys

from core.cli import data, line, models, runs, task
from core.cli._common import STOPPED_MESSAGE
from core.errors import UserError

__all__ = ["STOPPED_MESSAGE", "main"]

GROUPS = (models, data, runs, task, line)


def _parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = argparse.ArgumentParser(prog="python -m core", description="Beyond Accuracy Explorer command line.")
    commands = parser.add_subparsers(dest="command", required=True)
    handlers = {}
    for group in GROUPS:
        handlers.update(group.add_commands(commands))
    return parser, handlers


def main(argv: list[str] | None = None) -> int:
    parser, handlers = _parser()
    args = parser.parse_args(argv)
    try:
        return handlers[args.command](args)
    except UserError as error:
        print(str(error), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Interrupted; nothing cached was lost.", file=sys.stderr)
        return 130
