"""Errors a user can cause or fix. The UI shows `str(err)`; the API maps `status` and `code`.

Anything that is not a StudioError is a bug in the studio, never the user's fault.
"""

from __future__ import annotations


class StudioError(Exception):
    """Base class: a clear, specific message meant for the person who sent the request."""

    status: int = 400
    code: str = "invalid_request"
    type: str = "invalid_request_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class BadInput(StudioError):
    """A request field is missing, malformed or out of range."""


class AudioInputError(BadInput):
    """Uploaded audio cannot be used: empty, corrupt, not audio, too short/long, silent, ..."""

    code = "invalid_audio"


class TooLarge(BadInput):
    status = 413
    code = "payload_too_large"


class NotFound(StudioError):
    status = 404
    code = "not_found"


class CheckpointError(StudioError):
    """Model files are missing, incomplete (Git-LFS pointers) or do not match the expected layout."""

    status = 503
    code = "model_files_invalid"
    type = "server_error"


class ModelNotLoaded(StudioError):
    status = 503
    code = "model_not_loaded"
    type = "server_error"


class OutOfMemory(StudioError):
    status = 503
    code = "out_of_memory"
    type = "server_error"


class Busy(StudioError):
    status = 429
    code = "queue_full"
    type = "rate_limit_error"
