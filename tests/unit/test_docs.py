"""The documentation's command lines name commands and flags that exist: every `python -m core …` and `bae …` in a
code block or code span of README.md and docs/*.md is checked against the command line's own parser."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from core.cli import PASS_THROUGH, _parser

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_COMMAND = re.compile(r"(?:python -m core|(?<![\w/.-])bae)\s+(.*)")
_FLAG = re.compile(r"--[A-Za-z][\w.-]*")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return dict(actions[0].choices) if actions else {}


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def _snippets(text: str) -> list[str]:
    """Code block lines (a trailing backslash joins the next line) and code spans (also in a block that quotes
    them, as the layout tree does), as written."""
    lines, block = [], False
    for line in re.sub(r"\\\n\s*", " ", text).splitlines():
        if line.lstrip().startswith("```"):
            block = not block
        elif block and "`" not in (code := re.split(r"\s#\s|\s#$", line)[0]):
            lines.append(code)
        else:
            lines += re.findall(r"`([^`]+)`", line)
    return lines


def command_lines(text: str) -> list[str]:
    """What follows `python -m core` / `bae` on each line that runs one, its comment cut off."""
    found = []
    for snippet in _snippets(text):
        match = _COMMAND.search(snippet)
        if match:
            found.append(re.split(r"\s#\s|\s#$", match[1])[0].strip())
    return found


def problems(line: str) -> list[str]:
    """What in one command line the parser does not know: the (sub)command, or a flag."""
    parser, _ = _parser()
    words = line.replace("[", " ").replace("]", " ").replace("|", " ").split()
    if not words or words[0] in ("COMMAND", "…", "...") or words[0].startswith("-"):
        return [] if not words or not words[0].startswith("-") or words[0] in _flags(parser) else [words[0]]
    commands = _subcommands(parser)
    if words[0] not in commands:
        return [f"no command {words[0]!r}"]
    command, known = commands[words[0]], _flags(commands[words[0]])
    rest = words[1:]
    inner = _subcommands(command)
    if inner:
        if not rest or rest[0] in ("COMMAND", "…", "..."):
            return []
        if rest[0] not in inner:
            return [f"no command {words[0]} {rest[0]!r}"]
        known = _flags(inner[rest[0]])
        rest = rest[1:]
    flags = [_FLAG.match(word)[0] for word in rest if _FLAG.match(word)]
    if words[0] in PASS_THROUGH:
        flags = [flag for flag in flags if "." not in flag]  # Streamlit's own settings, passed on
    return [f"{words[0]}: no flag {flag}" for flag in flags if flag not in known]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_command_line_names_existing_commands_and_flags(page):
    lines = command_lines(page.read_text(encoding="utf-8"))
    wrong = {line: found for line in lines if (found := problems(line))}
    assert not wrong, f"{page.name}: {wrong}"


def test_the_check_finds_a_wrong_command_and_a_wrong_flag():
    text = "```bash\npython -m core evaluate --models a --benchmark b --limt 3   # typo\nbae tsk list\n```\n" \
           "and `bae task run NAME --shot 2`, `python -m core app --server.port 8502 --veiw`"
    assert [problems(line) for line in command_lines(text)] == [
        ["evaluate: no flag --limt"], ["no command 'tsk'"], ["task: no flag --shot"], ["app: no flag --veiw"]]


def test_the_docs_hold_many_command_lines():
    assert sum(len(command_lines(page.read_text(encoding="utf-8"))) for page in PAGES) > 60
