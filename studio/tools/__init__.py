"""Fast signal tools that run on CPU without the speech model: speed, denoise, pause removal, loudness.

None of them changes the words of a take; each module is also a `python -m studio` command.
"""

from __future__ import annotations

from studio.errors import StudioError


class ToolUnavailable(StudioError):
    """A tool's engine (a native library or program) is not installed on this machine."""

    status = 503
    code = "tool_unavailable"
    type = "server_error"
