"""Beyond Accuracy Explorer's library, laid out as the pipeline it runs:

    models/ + data/  (inputs)  →  run/  →  store/  →  analysis/ and explain/
                          metrics/ (pure functions on arrays, used by every stage)

plus `cli` (python -m core), `config`, `errors`, `images` (decoding uploads), `imagenet` (class names)
and `paper` (the paper's published values, as labelled references).

Importing `core` is cheap on purpose (no torch): submodules pull in what they need.
"""

__all__ = ["errors", "config"]
