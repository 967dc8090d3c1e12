"""Pipelines that make bundles: :mod:`jewelrec.pipeline.fit` (catalog → encoder → styles → bundle) and
:mod:`jewelrec.pipeline.compare` (every clustering method on one set of embeddings)."""
