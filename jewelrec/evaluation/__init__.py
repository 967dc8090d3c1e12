"""Offline evaluation of collaborative-filtering and content models on interaction logs.

interactions (loading logs) → splits → models (the ``CFModel`` family) → metrics, combined by
:mod:`jewelrec.evaluation.experiment` (``python -m training.evaluate``), with trackers and plots.
"""
