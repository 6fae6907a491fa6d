"""Speed and quality of the fast tools and of Whisper on real speech, beside the alternatives we rejected.

    python benchmarks/tools.py [--runs 3]

Material: 10.8 s of Harvard sentences (codec2-examples) and 60 s of Asterisk prompts (Allison Smith)
joined with known pauses; noisy versions mix in real music (asterisk-moh-opsound-wav) at 5 dB SNR.
Each figure is the best of --runs warm runs (models loaded beforehand; load times are listed apart);
RTF = processing time / audio duration on this machine's CPU. The load average at the start is printed
because a shared machine slows every row alike. Quality: duration error, speaker similarity to the
input (resemblyzer cosine), Whisper tiny.en WER and DNSMOS overall for speed; PESQ-wb, STOI and DNSMOS
for denoisers (outputs aligned by cross-correlation first, the lag is listed); frame accuracy at 10 ms
against the known pauses for VAD; WER for transcription. With CUDA present, Whisper is also timed on it.
"""

# ruff: noqa: E402  (the project root goes on sys.path before the studio is imported)
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import numpy as np
from scipy import signal
from tools_support import decode_many

from studio import audio as audio_io
from studio import metrics
from studio.asr import Transcriber
from studio.audio import Audio
from studio.settings import Settings
from studio.testing import corpora
from studio.tools import denoise, loudness, speed, vad

SR = 16_000
MUSIC = Path("/usr/share/asterisk/moh/macroform-cold_day.wav")
TARGETS = {"tool": 0.15, "asr": 0.10}


class Clip:
    """A stretch of real speech with its text and where its pauses are."""

    def __init__(self, name: str, audio: Audio, text: str, speech: list[tuple[float, float]]) -> None:
        self.name, self.audio, self.text, self.speech = name, audio, text, speech


def material() -> list[Clip]:
    harvard = audio_io.read(corpora.HARVARD_16K)
    prompts = [p for p in corpora.asterisk_prompts() if 4 <= len(p.text.split()) <= 30][::3]
    clips = decode_many([p.path for p in prompts[:40]])
    pieces, texts, speech, t = [], [], [], 0.5
    pieces.append(np.zeros(SR // 2, np.float32))
    rng = np.random.default_rng(0)
    for prompt, clip in zip(prompts, clips, strict=False):
        body = _speech_only(clip.samples)
        if t + len(body) / SR > 59.0:
            break
        gap = float(rng.uniform(0.5, 1.2))
        pieces += [body, np.zeros(round(gap * SR), np.float32)]
        speech.append((t, t + len(body) / SR))
        texts.append(prompt.text)
        t += len(body) / SR + gap
    joined = np.concatenate(pieces)
    joined = np.concatenate([joined, np.zeros(max(0, 60 * SR - len(joined)), np.float32)])[: 60 * SR]
    return [
        Clip("10 s", harvard, corpora.HARVARD_TEXT, []),  # its pauses are not known exactly
        Clip("60 s", Audio(joined, SR), " ".join(texts), speech),
    ]


def _speech_only(samples: np.ndarray) -> np.ndarray:
    frames = samples[: len(samples) // 320 * 320].reshape(-1, 320)
    level = np.sqrt(np.mean(frames**2, axis=1))
    loud = np.flatnonzero(level > level.max() * 10 ** (-45 / 20))
    return samples[loud[0] * 320 : (loud[-1] + 1) * 320]


def with_music(clean: Audio, snr_db: float = 5.0) -> Audio:
    music = audio_io.read(MUSIC, sr=SR).samples[SR * 30 :][: len(clean.samples)]
    noisy = clean.samples + music * (np.std(clean.samples) / np.std(music)) * 10 ** (-snr_db / 20)
    return clean.with_samples(noisy / max(1.0, np.max(np.abs(noisy)) / 0.99))


class Timing:
    """Wall and CPU seconds (all threads) of the fastest of several runs: on a busy shared machine
    wall time swells with the load, CPU time much less."""

    def __init__(self, wall: float = 0.0, cpu: float = 0.0) -> None:
        self.wall, self.cpu = wall, cpu


def best_time(runs: int, fn, *args):
    best, result = Timing(float("inf")), None
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn(*args)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if wall < best.wall:
            best = Timing(wall, cpu)
    return best, result


def row(tool: str, method: str, clip: Clip, timing: Timing, kind: str = "tool", **quality) -> dict:
    rtf = timing.wall / clip.audio.duration
    out = {"tool": tool, "method": method, "audio": clip.name, "seconds": round(timing.wall, 3), "rtf": round(rtf, 4)}
    out["cpu_seconds"] = round(timing.cpu, 3)
    out.update({k: (round(v, 3) if isinstance(v, float) else v) for k, v in quality.items()})
    if method.endswith("(ours)"):
        out["target_rtf"] = TARGETS[kind]
        out["meets_target"] = rtf <= TARGETS[kind]
    print(json.dumps(out), flush=True)
    return out


# --- speed ------------------------------------------------------------------------------------


def speed_rows(clips: list[Clip], runs: int, transcriber: Transcriber) -> None:
    import librosa

    methods = {
        "Rubber Band R3 (ours)": lambda a, r: speed.change_speed(a, r, engine="rubberband"),
        "sox tempo (fallback)": lambda a, r: speed.change_speed(a, r, engine="sox"),
        "librosa phase vocoder": lambda a, r: a.with_samples(librosa.effects.time_stretch(a.samples, rate=r)),
    }
    for clip in clips:
        for rate in (0.7, 1.5):
            for method, fn in methods.items():
                timing, out = best_time(runs, fn, clip.audio, rate)
                expected = clip.audio.duration / rate
                row(
                    "speed",
                    f"{method} x{rate}",
                    clip,
                    timing,
                    duration_error_pct=100 * abs(out.duration - expected) / expected,
                    similarity=metrics.speaker_similarity(out, clip.audio).value,
                    wer_pct=metrics.wer(clip.text, transcriber.transcribe(out, language="en").text).value,
                    dnsmos_ovrl=metrics.dnsmos(out)["dnsmos_ovrl"].value,
                )


# --- denoise ----------------------------------------------------------------------------------


def _rnnoise(noisy: Audio) -> Audio:
    from pyrnnoise import rnnoise

    at48 = audio_io.resample(noisy, 48_000).samples
    frames = np.pad(at48, (0, -len(at48) % 480)).reshape(-1, 480)
    state = rnnoise.create()
    try:
        out = np.concatenate([rnnoise.process_mono_frame(state, (f * 32767).astype(np.int16))[0] for f in frames])
    finally:
        rnnoise.destroy(state)
    return audio_io.resample(Audio(out.astype(np.float32) / 32768, 48_000), noisy.sr)


def _noisereduce(noisy: Audio) -> Audio:
    import noisereduce

    return noisy.with_samples(noisereduce.reduce_noise(y=noisy.samples, sr=noisy.sr))


def _aligned(out: np.ndarray, clean: np.ndarray) -> tuple[np.ndarray, float]:
    corr = signal.correlate(out, clean, mode="full", method="fft")
    lag = int(np.argmax(corr)) - (len(clean) - 1)
    shifted = np.roll(out, -lag)
    return shifted, 1000 * lag / SR


def denoise_rows(clips: list[Clip], runs: int) -> None:
    from pesq import pesq
    from pystoi import stoi

    methods = {
        "DeepFilterNet3, parallel chunks (ours)": denoise.denoise,
        "DeepFilterNet3, one pass": lambda a: denoise.denoise(a, workers=1),
        "RNNoise (pyrnnoise)": _rnnoise,
        "noisereduce (spectral gating)": _noisereduce,
    }
    for clip in clips:
        noisy = with_music(clip.audio)
        row(
            "denoise",
            "noisy input (music, 5 dB)",
            clip,
            Timing(),
            pesq_wb=float(pesq(SR, clip.audio.samples, noisy.samples, "wb")),
            stoi=float(stoi(clip.audio.samples, noisy.samples, SR)),
            dnsmos_ovrl=metrics.dnsmos(noisy)["dnsmos_ovrl"].value,
        )
        for method, fn in methods.items():
            timing, out = best_time(runs, fn, noisy)
            samples, lag_ms = _aligned(out.samples[: len(clip.audio.samples)], clip.audio.samples)
            row(
                "denoise",
                method,
                clip,
                timing,
                lag_ms=lag_ms,
                pesq_wb=float(pesq(SR, clip.audio.samples, samples, "wb")),
                stoi=float(stoi(clip.audio.samples, samples, SR)),
                dnsmos_ovrl=metrics.dnsmos(out)["dnsmos_ovrl"].value,
            )


# --- VAD and pause removal --------------------------------------------------------------------


def _webrtc_segments(audio: Audio) -> list[tuple[float, float]]:
    import webrtcvad

    detector = webrtcvad.Vad(3)
    pcm = (np.clip(audio.samples, -1, 1) * 32767).astype("<i2")
    frame = SR * 30 // 1000
    flags = [detector.is_speech(pcm[i : i + frame].tobytes(), SR) for i in range(0, len(pcm) - frame + 1, frame)]
    return [(i * 0.03, (i + 1) * 0.03) for i, f in enumerate(flags) if f]


def _frame_accuracy(found: list[tuple[float, float]], truth: list[tuple[float, float]], duration: float) -> float:
    times = np.arange(0, duration, 0.01) + 0.005

    def mask(spans):
        m = np.zeros(len(times), bool)
        for a, b in spans:
            m |= (times >= a) & (times < b)
        return m

    return float(np.mean(mask(found) == mask(truth)))


def vad_rows(clips: list[Clip], runs: int) -> None:
    methods = {
        "Silero VAD (ours)": lambda a: vad.speech_segments(a, min_pause=0.3),
        "webrtcvad mode 3": _webrtc_segments,
    }
    for clip in clips:
        for method, fn in methods.items():
            timing, found = best_time(runs, fn, clip.audio)
            quality = {}
            if clip.speech:
                quality["frame_accuracy"] = _frame_accuracy(found, clip.speech, clip.audio.duration)
            row("vad", method, clip, timing, **quality)
        timing, edit = best_time(runs, vad.remove_pauses, clip.audio)
        row("trim-silence", "Silero + cuts (ours)", clip, timing, removed_s=edit.removed)


# --- loudness ---------------------------------------------------------------------------------


def loudness_rows(clips: list[Clip], runs: int) -> None:
    for clip in clips:
        quiet = clip.audio.with_samples(clip.audio.samples * 0.1)
        timing, result = best_time(runs, loudness.normalize, quiet, -23.0, -1.0)
        row(
            "loudness",
            "BS.1770 gain + 4x true peak (ours)",
            clip,
            timing,
            lufs_error=abs(result.output_lufs + 23.0),
            true_peak_dbtp=result.true_peak_dbtp,
        )


# --- transcription ----------------------------------------------------------------------------


def asr_rows(clips: list[Clip], runs: int, settings: Settings) -> None:
    import torch

    variants = [("faster-whisper tiny.en int8, beam 5 (ours)", "faster-whisper", 5)]
    variants += [("faster-whisper tiny.en int8, beam 1", "faster-whisper", 1)]
    variants += [("openai-whisper tiny.en fp32 (converted), beam 5", "openai-whisper", 5)]
    devices = [("cpu", "")] + ([("cuda", " on CUDA")] if torch.cuda.is_available() else [])
    if len(devices) == 1:
        print(json.dumps({"note": "no CUDA device: the GPU part of the transcription benchmark was skipped"}))
    for device, where in devices:
        for method, backend, beam in variants:
            local = Settings(data_dir=settings.data_dir, device=device, asr_model="tiny.en")
            transcriber = Transcriber(local, backend=backend, beam_size=beam)
            started = time.perf_counter()
            transcriber.transcribe(clips[0].audio)
            load = time.perf_counter() - started
            for clip in clips:
                timing, result = best_time(runs, transcriber.transcribe, clip.audio)
                name = method if device == "cpu" else method.replace(" (ours)", "") + where
                quality = {"wer_pct": metrics.wer(clip.text, result.text).value, "first_call_s": load}
                row("asr", name, clip, timing, kind="asr", **quality)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=("speed", "denoise", "vad", "loudness", "asr"), default=None)
    args = parser.parse_args()
    import tempfile

    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="bench-tools-")))
    print(json.dumps({"cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2)}))
    clips = material()
    transcriber = Transcriber(settings, model="tiny.en")
    for clip in clips:  # load every model once so the rows below are warm
        metrics.speaker_similarity(clip.audio, clip.audio)
        metrics.dnsmos(clip.audio)
        denoise.denoise(clip.audio)
        vad.speech_segments(clip.audio)
        transcriber.transcribe(clip.audio)
    sections = {
        "speed": lambda: speed_rows(clips, args.runs, transcriber),
        "denoise": lambda: denoise_rows(clips, args.runs),
        "vad": lambda: vad_rows(clips, args.runs),
        "loudness": lambda: loudness_rows(clips, args.runs),
        "asr": lambda: asr_rows(clips, args.runs, settings),
    }
    for name, section in sections.items():
        if args.only in (None, name):
            section()
    print(json.dumps({"load_average_1min_end": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()
