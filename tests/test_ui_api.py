"""The studio driven through `gradio_client`, as a script or another program would drive it.

The real engine runs on the tiny checkpoint; every named endpoint is called, with good input and
with the bad input people send (wrong format, too long, missing transcript, unknown values).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from ui_support import MAX_NEW_TOKENS, first_success, serve_studio, studio_settings

from studio import audio as audio_io

pytestmark = pytest.mark.slow

WS = "api-test-workspace"
PUBLIC = {
    "clone", "edit", "transcribe_clone_prompt", "transcribe_edit_input", "transcribe_speed_input",
    "speed_model", "speed_tool", "denoise_model", "denoise_tool", "vad_model", "vad_tool",
    "take", "rate", "branch", "delete_take", "transcribe_take", "compare", "export",
    "load_model", "unload_model", "save_settings", "create_voice", "rename_voice", "delete_voice",
}  # fmt: skip


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_model_dir, examples):
    root = tmp_path_factory.mktemp("ui-api")
    settings = studio_settings(root / "data", tiny_model_dir, examples)
    with serve_studio(settings) as (url, engine):
        client = Client(url, verbose=False, download_files=str(root / "downloads"), analytics_enabled=False)
        save_defaults(client, WS)
        yield client, engine


def save_defaults(client: Client, workspace: str, **changes) -> dict:
    values = {"passes": 1, "intensity": 1.0, "seed": None, "max_input": 30, "keep_speaker": False}
    values |= {"max_new_tokens": MAX_NEW_TOKENS, "asr_model": "tiny.en", "fmt": "wav"} | changes
    return client.predict(workspace, "en", *values.values(), api_name="/save_settings")


def error_of(client: Client, *args, api_name: str) -> str:
    with pytest.raises(AppError) as caught:
        client.predict(*args, api_name=api_name)
    message = str(caught.value)
    assert "Traceback" not in message and 'File "' not in message
    return message


def clone(client: Client, prompt, text: str = "Hello there, how are you?", workspace: str = WS, **kw):
    args = {"voice": "", "prompt_audio": handle_file(str(prompt.path)), "prompt_text": prompt.text, "language": ""}
    args |= {"text": text} | kw
    return first_success(lambda seed: client.predict(workspace, "en", *args.values(), seed, api_name="/clone"))


def edit(client: Client, workspace: str = WS, **kw):
    args = {"source": "take", "upload": None, "audio_text": "", "mode": "emotion", "emotion": "happy"}
    args |= {"style": "whisper", "new_text": "", "passes": 1, "intensity": 1.0} | kw
    return first_success(lambda seed: client.predict(workspace, "en", *args.values(), seed, api_name="/edit"))


def test_every_action_has_a_named_endpoint(served):
    client, _ = served
    named = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {f"/{name}" for name in PUBLIC} <= named


def test_clone_then_two_edits_build_the_history(served, examples):
    client, _ = served
    prompt = examples["zero_shot_en_prompt"]
    audio, info = clone(client, prompt)
    assert sf.info(audio).samplerate == 24_000 and sf.info(audio).frames > 0
    assert info["operation"] == "clone" and info["current"] == info["id"]
    assert 0 < info["params"]["tokens"]["generated"][0] <= MAX_NEW_TOKENS, "the workspace's token cap applies"
    assert set(info["timings"]) >= {"llm", "tokenize"}
    _, image, shown, rating, note = client.predict(WS, "en", info["parent"], api_name="/take")
    assert shown["operation"] == "prompt" and shown["text"] == prompt.text
    assert Path(image).stat().st_size > 1000 and rating is None and note == ""

    # Tiny takes are too short to edit again, so both edits start from a real recording.
    recording = examples["en_happy_prompt"]
    upload = handle_file(str(recording.path))
    _, first = edit(client, source="upload", upload=upload, audio_text=recording.text, passes=2)
    assert (first["operation"], first["params"]["n_edit_iter"], first["params"]["passes_run"]) == ("emotion", 2, 2)
    assert first["text"] == recording.text and first["params"]["edit_info"] == "happy"
    original = client.predict(WS, "en", first["parent"], api_name="/take")[2]
    assert original["operation"] == "upload" and original["text"] == recording.text

    client.predict(WS, "en", original["id"], api_name="/branch")
    _, second = edit(client, mode="style", style="whisper")
    assert (second["operation"], second["parent"], second["params"]["edit_info"]) == (
        "style",
        original["id"],
        "whisper",
    )
    assert second["current"] == second["id"]


def test_bad_input_gets_readable_errors(served, examples, harvard, tmp_path):
    client, _ = served
    prompt = examples["zero_shot_en_prompt"]
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("this is not a recording")
    message = error_of(client, WS, "en", "", handle_file(str(not_audio)), "x", "", "hi", 0, api_name="/clone")
    assert "not audio" in message

    speech = audio_io.read(harvard.path)
    long_file = audio_io.write(speech.with_samples(np.tile(speech.samples, 4)), tmp_path / "long.wav")
    message = error_of(client, WS, "en", "", handle_file(str(long_file)), "x", "", "hi", 0, api_name="/clone")
    assert "43.2 s" in message and "30 s" in message

    message = error_of(client, WS, "en", "", handle_file(str(prompt.path)), "", "", "hi", 0, api_name="/clone")
    assert "transcript" in message
    assert "voice prompt" in error_of(client, WS, "en", "", None, "x", "", "hi", 0, api_name="/clone")
    assert "not in the list of choices" in error_of(
        client, WS, "en", "", handle_file(str(prompt.path)), "x", "[Klingon]", "hi", 0, api_name="/clone"
    )
    assert "workspace id" in error_of(client, "../../etc", "en", "take", None, 20, api_name="/denoise_tool")
    assert "no current take" in error_of(client, "fresh-workspace-1", "en", "take", None, 20, api_name="/denoise_tool")
    assert "还没有当前版本" in error_of(client, "fresh-workspace-1", "zh", "take", None, 20, api_name="/denoise_tool")

    with pytest.raises(AppError, match="not in the list of choices"):
        edit(client, mode="shouting")
    with pytest.raises(AppError, match="paralinguistic tags is empty"):
        edit(client, mode="paralinguistic", new_text="")
    with pytest.raises(AppError, match="greater than maximum value 4"):
        save_defaults(client, WS, passes=7)
    with pytest.raises(AppError, match="at least 10"):
        save_defaults(client, WS, max_new_tokens=5)


def test_fast_tools_work_on_an_uploaded_recording(served, harvard):
    client, _ = served
    workspace = "api-tools-workspace"
    source = audio_io.read(harvard.path)
    upload = handle_file(str(harvard.path))
    stretched, info = client.predict(workspace, "en", "upload", upload, 1.25, harvard.text, api_name="/speed_tool")
    assert info["operation"] == "tool-speed" and info["params"] == {"rate": 1.25}
    assert sf.info(stretched).duration == pytest.approx(source.duration / 1.25, abs=0.01)
    upload_take = info["parent"]

    _, denoised = client.predict(workspace, "en", "upload", upload, 20, api_name="/denoise_tool")
    assert denoised["parent"] == upload_take, "the same upload is one take, not a copy per tool"
    shortened, trimmed = client.predict(workspace, "en", "take", None, 0.1, api_name="/vad_tool")
    assert trimmed["parent"] == denoised["id"] and sf.info(shortened).duration < source.duration

    text = client.predict(workspace, "en", "upload", upload, api_name="/transcribe_speed_input")
    assert "birch canoe" in text.lower()


def test_model_side_of_the_tool_pages(served, examples):
    client, _ = served
    prompt = examples["zero_shot_en_prompt"]
    upload = handle_file(str(prompt.path))
    _, fast = first_success(
        lambda seed: client.predict(
            WS, "en", "upload", upload, seed, prompt.text, "more faster", api_name="/speed_model"
        )
    )
    assert fast["operation"] == "speed" and fast["params"]["edit_info"] == "more faster"
    client.predict(WS, "en", fast["parent"], api_name="/branch")
    _, clean = first_success(lambda seed: client.predict(WS, "en", "take", None, seed, api_name="/vad_model"))
    assert clean["operation"] == "vad" and clean["parent"] == fast["parent"]


def test_rate_branch_delete_and_export(served, harvard):
    client, _ = served
    workspace = "api-review-workspace"
    upload = handle_file(str(harvard.path))
    _, a = client.predict(workspace, "en", "upload", upload, 1.5, harvard.text, api_name="/speed_tool")
    _, b = client.predict(workspace, "en", "take", None, 0.0, api_name="/vad_tool")
    rated = client.predict(workspace, "en", a["id"], 4, "natural", api_name="/rate")
    assert (rated["rating"], rated["note"]) == (4, "natural")

    branched = client.predict(workspace, "en", a["parent"], api_name="/branch")
    assert branched["current"] == a["parent"]
    _, c = client.predict(workspace, "en", "take", None, 0.8, harvard.text, api_name="/speed_tool")
    assert c["parent"] == a["parent"]

    after = client.predict(workspace, "en", a["id"], api_name="/delete_take")
    assert after["current"] == c["id"]
    assert "not in this workspace" in error_of(client, workspace, "en", a["id"], api_name="/take")

    archive = client.predict(workspace, "en", api_name="/export")
    with zipfile.ZipFile(archive) as z:
        manifest = json.loads(z.read("manifest.json"))
        names = set(z.namelist())
    assert {t["id"] for t in manifest["takes"]} == {a["parent"], b["id"], c["id"]}
    assert b["id"] in {child["id"] for child in manifest["tree"][0]["children"]}, "b now hangs from the upload"
    assert names == {"manifest.json", "ratings.csv", *(t["file"] for t in manifest["takes"])}


def test_saved_voices_from_a_take_and_an_upload(served, harvard, examples):
    client, _ = served
    workspace = "api-voices-workspace"
    _, take = client.predict(
        workspace, "en", "upload", handle_file(str(harvard.path)), 1.0, harvard.text, api_name="/speed_tool"
    )
    voice_id = client.predict(workspace, "en", "Harvard reader", take["id"], None, "", api_name="/create_voice")
    assert voice_id.startswith("voice_")
    assert client.predict("en", voice_id, "Harvard narrator", api_name="/rename_voice") == voice_id
    assert "already exists" in error_of(
        client, workspace, "en", "harvard narrator", take["id"], None, "", api_name="/create_voice"
    )
    audio, text = client.predict("en", "happy_en", api_name="/pick_voice")
    assert text == examples["en_happy_prompt"].text and sf.info(audio).duration > 3
    client.predict("en", voice_id, api_name="/delete_voice")
    assert "preset" in error_of(client, "en", "happy_en", api_name="/delete_voice")


def test_load_and_unload_report_the_model_state(served):
    client, engine = served
    assert "Model not loaded" in client.predict("en", api_name="/unload_model")
    assert not engine.loaded
    status = client.predict("en", "base", "auto", "cpu", api_name="/load_model")
    assert "Model ready" in status and "cpu" in status and engine.loaded
    assert "Device is" in error_of(client, "en", "base", "auto", "tpu", api_name="/load_model")


def test_without_weights_the_studio_starts_and_the_fast_tools_work(tmp_path, examples, harvard):
    settings = studio_settings(tmp_path / "data", None, examples)
    with serve_studio(settings) as (url, _):
        client = Client(url, verbose=False, download_files=str(tmp_path / "dl"), analytics_enabled=False)
        prompt = examples["zero_shot_en_prompt"]
        message = error_of(
            client,
            "no-weights-ws",
            "en",
            "",
            handle_file(str(prompt.path)),
            prompt.text,
            "",
            "hi",
            0,
            api_name="/clone",
        )
        assert "python -m studio download" in message
        _, info = client.predict(
            "no-weights-ws", "en", "upload", handle_file(str(harvard.path)), 1.1, "", api_name="/speed_tool"
        )
        assert info["operation"] == "tool-speed"


def short_recording(asterisk, folder: Path) -> tuple[Path, str]:
    """A real 2-5 s prompt as WAV: long enough for every measure, short enough to measure quickly."""
    for rec in (r for r in asterisk if len(r.text.split()) >= 6):
        clip = audio_io.read(rec.path)
        if 2.0 < clip.duration < 5.0:
            return audio_io.write(clip, folder / f"{rec.name}.wav"), rec.text
    raise AssertionError("no 2-5 s prompt")


def test_ab_compare_measures_two_takes(served, asterisk, tmp_path):
    client, _ = served
    workspace = "api-compare-workspace"
    path, text = short_recording(asterisk, tmp_path)
    _, slow = client.predict(workspace, "en", "upload", handle_file(str(path)), 0.8, text, api_name="/speed_tool")
    _, clean = client.predict(workspace, "en", "take", None, 20, api_name="/denoise_tool")
    audio_a, audio_b, figure, table = client.predict(workspace, "en", slow["id"], clean["id"], api_name="/compare")
    assert sf.info(audio_a).duration == pytest.approx(sf.info(audio_b).duration, rel=0.01)
    assert Path(figure).stat().st_size > 5000
    rows = {row[0]: row[1:] for row in table["data"]}
    assert rows["Duration"][0] == rows["Duration"][1]
    similarity = float(rows["Speaker similarity A↔B"][0].split()[0])
    assert similarity > 0.8, "a take and its denoised copy are the same speaker"
    wer_a, wer_b = (float(v.split()[0]) for v in rows["Word error rate against the intended text"][:2])
    assert wer_a < 40 and wer_b < 40
    assert table["headers"][1:3] == [f"A · {slow['id']}", f"B · {clean['id']}"]
    assert rows["DNSMOS overall quality"][2] == "higher"
    zh = client.predict(workspace, "zh", slow["id"], clean["id"], api_name="/compare")[3]
    assert any(row[0] == "说话人相似度 A↔B" for row in zh["data"])
    assert "Pick two takes" in error_of(client, workspace, "en", slow["id"], None, api_name="/compare")
