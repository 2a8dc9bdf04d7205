"""Errors that belong to one document: the batch records them and goes on."""


class DocumentError(Exception):
    """A document that cannot be processed; the message is the one-line reason users see."""

    kind = "invalid"


class UnsupportedDocument(DocumentError):
    kind = "unsupported"


class CorruptDocument(DocumentError):
    kind = "corrupt"


class PasswordRequired(DocumentError):
    kind = "password"


class ResourceLimitExceeded(DocumentError):
    kind = "limit"


class DocumentTimeout(DocumentError):
    kind = "timeout"


class ConversionFailed(DocumentError):
    kind = "conversion"


class EngineUnavailable(DocumentError):
    kind = "engine"
