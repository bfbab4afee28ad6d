"""`app`: start the Streamlit app (`bae app`, `python -m core app`), from a checkout or an installed package.

Streamlit itself is started as `python -m streamlit run …` in this process's place: `core` never imports it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from core.config import PROJECT_ROOT, VIEW_ONLY_ENV, is_checkout
from core.errors import UserError


def add_commands(commands) -> dict:
    """Adds this group's subcommands to `commands`; returns their handlers by name."""
    app = commands.add_parser("app", help="start the app (Streamlit) at http://localhost:8501; other arguments go to "
                                          "`streamlit run`, e.g. --server.port 8502")
    app.add_argument("--view", action="store_true", help=f"view mode ({VIEW_ONLY_ENV}=1): every page shows "
                                                         "everything, nothing writes (for sharing in a meeting)")
    app.add_argument("--print-command", action="store_true", help="print the Streamlit command instead of running it")
    return {"app": _app}


def settings_file() -> Path | None:
    """The app's Streamlit settings: the checkout's `.streamlit/config.toml`, or the copy `pip install` puts in
    `<prefix>/share/beyond-accuracy/config.toml`."""
    for path in (PROJECT_ROOT / ".streamlit" / "config.toml", Path(sys.prefix) / "share" / "beyond-accuracy" / "config.toml"):
        if path.is_file():
            return path
    return None


def streamlit_command(extra: list[str]) -> list[str]:
    """`python -m streamlit run app.py` with the app's settings as flags (`--server.address 127.0.0.1`, …), so they
    hold from any working directory; a flag in `extra` wins over the same setting."""
    import tomllib

    script = PROJECT_ROOT / "app.py"
    if not (script.is_file() and (PROJECT_ROOT / "views" / "home.py").is_file()):
        raise UserError(f"The app's files are not beside the package ({script}, {PROJECT_ROOT / 'views'}): reinstall "
                        "with `pip install .` from a checkout, or run `bash scripts/dev app` there.")
    given = {argument.split("=", 1)[0] for argument in extra if argument.startswith("--")}
    settings = {}
    path = settings_file()
    if path is not None:
        for section, values in tomllib.loads(path.read_text(encoding="utf-8")).items():
            settings.update({f"--{section}.{key}": value for key, value in values.items()})
    if not is_checkout():  # site-packages is large: Streamlit's file watcher would follow every module in it
        settings.setdefault("--server.fileWatcherType", "none")
    flags = []
    for flag, value in settings.items():
        if flag not in given:
            flags.append(f"{flag}={str(value).lower() if isinstance(value, bool) else value}")
    return [sys.executable, "-m", "streamlit", "run", str(script), *flags, *extra]


def _app(args) -> int:
    command = streamlit_command(args.extra)
    if args.view:
        os.environ[VIEW_ONLY_ENV] = "1"
    if args.print_command:
        print(" ".join(command))
        return 0
    os.execv(command[0], command)
    return 0  # not reached
