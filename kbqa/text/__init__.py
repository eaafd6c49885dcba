"""Text utilities shared by every layer: CJK ranges, stopwords, language detection, rank fusion.

One home for each, so the loaders, the splitter, the store, retrieval and the chain agree on what
counts as Chinese. This package imports nothing else from kbqa.
"""
