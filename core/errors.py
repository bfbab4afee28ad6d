"""Exceptions whose `str()` is the message a user reads.

Pages show `str(error)` with `st.error`; the CLI prints it. Each message names what happened,
to which thing, and the next step.
"""

from __future__ import annotations

__all__ = [
    "UserError",
    "UnknownModel",
    "InvalidModelEntry",
    "WeightsUnavailable",
    "ImageRejected",
    "ViewOnly",
]


class UserError(Exception):
    """An error caused by input or environment, with a message meant for the user."""


class UnknownModel(UserError, KeyError):
    """A model key that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "Unknown model."


class InvalidModelEntry(UserError, ValueError):
    """An entry of models.toml (or of the app's form) that cannot become a ModelSpec."""


class WeightsUnavailable(UserError):
    """The weights of a model are neither cached locally nor downloadable right now."""


class ImageRejected(UserError, ValueError):
    """An uploaded file that cannot be used as an image."""


class ViewOnly(UserError):
    """A write (results store, jobs, downloads, models.toml, zero-shot heads) refused because view mode is on."""
