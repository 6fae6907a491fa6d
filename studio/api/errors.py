"""Every API error in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.

StudioErrors carry their own status and code. Request validation errors become 400s naming the
field. Anything else is a bug: it is logged with its traceback and answered with a plain 500.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from studio.errors import BadInput, Busy, ModelNotLoaded, OutOfMemory, StudioError

log = logging.getLogger(__name__)


# Seconds a client should wait before retrying; the OpenAI SDKs honour Retry-After.
class EngineFailure(StudioError):
    """The model failed on one request for a reason that is not the request's (logged as a bug)."""

    status = 503
    code = "engine_error"
    type = "server_error"


RETRY_AFTER = {Busy: 5, ModelNotLoaded: 20, OutOfMemory: 10, EngineFailure: 5}

HTTP_CODES = {
    401: ("invalid_api_key", "invalid_request_error"),
    404: ("not_found", "invalid_request_error"),
    405: ("method_not_allowed", "invalid_request_error"),
    413: ("payload_too_large", "invalid_request_error"),
    415: ("unsupported_media_type", "invalid_request_error"),
}


class Unauthorized(StudioError):
    status = 401
    code = "invalid_api_key"


class UnsupportedMediaType(BadInput):
    status = 415
    code = "unsupported_media_type"


class AsrUnavailable(StudioError):
    status = 503
    code = "asr_unavailable"
    type = "server_error"


def error_response(
    status: int, message: str, *, code: str, kind: str, param: str | None = None, headers: dict | None = None
) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def studio_error_response(err: StudioError) -> JSONResponse:
    headers = {}
    retry = next((s for kind, s in RETRY_AFTER.items() if isinstance(err, kind)), None)
    if retry is not None:
        headers["Retry-After"] = str(retry)
    if isinstance(err, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    if err.status >= 500:
        log.warning("%s (%s): %s", err.status, err.code, err.message)
    return error_response(err.status, err.message, code=err.code, kind=err.type, param=err.param, headers=headers)


def validation_message(errors: list[dict]) -> tuple[str, str | None]:
    """One readable sentence for all of pydantic's complaints, and the first field named."""
    parts, params = [], []
    for e in errors:
        loc = [p for p in e.get("loc", ()) if p not in ("body", "query", "path", "header", "form")]
        if e.get("type") == "json_invalid":  # its location is a character position, not a field
            loc = [p for p in loc if isinstance(p, str)]
            message = f"not valid JSON ({e.get('ctx', {}).get('error', 'decode error')})"
        else:
            message = str(e.get("msg"))
        param = ".".join(str(p) for p in loc) or None
        params.append(param)
        parts.append(f"{param}: {message}" if param else f"the body is {message}")
    return "Invalid request: " + "; ".join(parts) + ".", next((p for p in params if p), None)


def install(app: FastAPI) -> None:
    @app.exception_handler(StudioError)
    async def on_studio_error(_: Request, err: StudioError) -> JSONResponse:
        return studio_error_response(err)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(_: Request, err: RequestValidationError) -> JSONResponse:
        message, param = validation_message(list(err.errors()))
        return error_response(400, message, code="invalid_value", kind="invalid_request_error", param=param)

    @app.exception_handler(HTTPException)
    async def on_http_error(_: Request, err: HTTPException) -> JSONResponse:
        code, kind = HTTP_CODES.get(err.status_code, ("http_error", "invalid_request_error"))
        return error_response(err.status_code, str(err.detail), code=code, kind=kind, headers=err.headers)

    @app.exception_handler(Exception)
    async def on_bug(request: Request, err: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=err)
        return error_response(
            500,
            "Internal error in the studio (a bug, not your request's fault); the server log has the details.",
            code="internal_error",
            kind="server_error",
        )
