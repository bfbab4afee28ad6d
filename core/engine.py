"""The former single module for inference, evaluation and imports, now split into one module per job:

- `core.inference`: interactive inference (`classify`, `classify_variants`, `logits_for`)
- `core.evaluation`: dataset evaluation (`evaluate`, the per-batch step `evaluate_batch`)
- `core.decisions`: importing released decision CSVs (authors, human observers)

Kept so existing imports (`from core.engine import classify`) keep working; new code imports the
module it needs.
"""

from __future__ import annotations

from core.decisions import import_author_decisions, import_decisions, import_human_decisions
from core.evaluation import EvalProgress, RunSummary, evaluate, run_id_for
from core.inference import Prediction, classify, classify_variants, logits_for

__all__ = ["Prediction", "classify", "logits_for", "evaluate", "EvalProgress", "RunSummary", "run_id_for",
           "import_author_decisions", "import_human_decisions", "import_decisions", "classify_variants"]
