"""Stage 4 of the pipeline: what the pages, the findings and the exports compute from the store.

- `tables`: tidy tables the analysis pages draw (shape bias, robustness, ImageNet-X, calibration)
- `claims`: the paper's eight claims and the verdict rules (pure: frames in, results out)
- `evidence`: the one place that reads the store for the findings, and `assess`
- `findings`: the findings as tables and charts (Findings page and exports)
- `report`: HTML report, PowerPoint deck and zip exports
- `charts`: Altair chart builders (tidy frames in, charts out)
- `temperature`: temperature scaling of stored runs, fitted once and kept in the store

Reading the store and drawing from it never imports torch or timm (tests/unit/test_layout.py).
"""
