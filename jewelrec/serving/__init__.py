"""Serving: the bundle on disk (★ format), its search index, the ★ ``Recommender``, the Hub round trip and
the model card. Light to import: nothing here needs torch."""
