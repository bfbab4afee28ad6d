"""Stage 2 of the pipeline: running models on images and writing what they say to the store.

- `inference`: interactive predictions for one or a few images (Compare, Invariance, the CLI)
- `evaluation`: a benchmark through one or more models, per-image rows to the store (resumable)
- `distributed`: the same evaluation on a Ray cluster (`evaluate --ray`)
- `rows`: per-image result columns of a batch, from its logits (numpy only)
- `decisions`: importing the authors' and human observers' released cue-conflict decisions
- `probe`: frozen features and linear probes (Transferability)
- `jobs`: evaluations as background processes the app starts, watches and stops

Models arrive here resolved once per run (`core.models.resolved.ResolvedModel`); datasets through
`core.data`; results leave through `core.store`.
"""
