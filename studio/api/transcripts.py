"""A transcript in the response formats of OpenAI's transcription API: json, text, srt, vtt, verbose_json."""

from __future__ import annotations

from studio.asr import Span, Transcript


def render(transcript: Transcript, duration: float, fmt: str, *, words: bool = False) -> tuple[str | dict, str]:
    """The response body (text, or a dict for JSON) and its media type."""
    text = transcript.text.strip()
    if fmt == "json":
        return {"text": text}, "application/json"
    if fmt == "text":
        return text + "\n", "text/plain"
    if fmt == "srt":
        return subtitles(transcript.segments, ","), "application/x-subrip"
    if fmt == "vtt":
        return "WEBVTT\n\n" + subtitles(transcript.segments, "."), "text/vtt"
    return verbose(transcript, duration, words=words), "application/json"


def verbose(transcript: Transcript, duration: float, *, words: bool) -> dict:
    segments = [
        {"id": i, "start": round(start, 3), "end": round(end, 3), "text": text.strip()}
        for i, (start, end, text) in enumerate(transcript.segments)
    ]
    out = {
        "task": "transcribe",
        "language": transcript.language or "",
        "duration": round(duration, 3),
        "text": transcript.text.strip(),
        "segments": segments,
    }
    if words:
        out["words"] = [
            {"word": word.strip(), "start": round(start, 3), "end": round(end, 3)}
            for start, end, word in transcript.words or ()
        ]
    return out


def subtitles(segments: list[Span], decimal: str) -> str:
    """SRT cues (numbered, comma before milliseconds) or WebVTT cues (dot), separated by blank lines."""
    cues = []
    for i, (start, end, text) in enumerate(segments, start=1):
        timing = f"{timestamp(start, decimal)} --> {timestamp(end, decimal)}"
        cue = f"{i}\n{timing}\n{text.strip()}\n" if decimal == "," else f"{timing}\n{text.strip()}\n"
        cues.append(cue)
    return "\n".join(cues)


def timestamp(seconds: float, decimal: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"
