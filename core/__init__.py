"""Beyond Accuracy Explorer's library: models, inference, caches and the CLI.

Importing `core` is cheap on purpose (no torch): submodules pull in what they need.
"""

__all__ = ["errors", "config"]
