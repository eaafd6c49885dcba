"""Errors whose message is meant for the user: the CLI and UI print them without a traceback."""


class KBQAError(Exception):
    """Base for every error kbqa reports to the user as a plain message."""


class LoaderError(KBQAError):
    """A file could not be read as a document (corrupt, encrypted, no text, ...)."""


class UnsupportedFormat(LoaderError):
    pass


class KnowledgeBaseError(KBQAError):
    pass


class EmbedderMismatch(KnowledgeBaseError):
    pass


class KnowledgeBaseLocked(KnowledgeBaseError):
    pass


class KnowledgeBaseDamaged(KnowledgeBaseError):
    """A knowledge base's stored data cannot be read: says which base and what is damaged."""


class ModelError(KBQAError):
    """A model could not be found, loaded or run."""


class ModelCacheClosed(ModelError):
    """A model was asked of a cache (or service) that has been closed."""
