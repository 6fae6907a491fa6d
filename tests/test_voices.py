from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from studio import audio as audio_io
from studio.errors import AudioInputError, BadInput, NotFound
from studio.settings import Settings
from studio.voices import DEFAULT_VOICE, PRESETS, PresetMissing, PresetReadOnly, VoiceStore


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", model_dir=tmp_path / "models")


@pytest.fixture
def store(settings: Settings, examples) -> VoiceStore:
    presets = Path(settings.data_dir) / "presets"
    presets.mkdir(parents=True)
    for preset in PRESETS.values():
        shutil.copy(examples[Path(preset.file).stem].path, presets / preset.file)
    return VoiceStore(settings)


def test_preset_transcripts_are_the_official_ones(store: VoiceStore, examples) -> None:
    assert DEFAULT_VOICE == "fear_female"
    for preset in PRESETS.values():
        assert preset.text == examples[Path(preset.file).stem].text
        voice = store.get(preset.id)
        assert voice.available and voice.kind == "preset" and voice.text == preset.text
        clip = voice.load()
        assert 2.0 < clip.duration < 30.0


def test_presets_are_found_beside_the_model_too(settings: Settings, examples) -> None:
    target = Path(settings.model_dir) / "presets"
    target.mkdir(parents=True)
    shutil.copy(examples["en_happy_prompt"].path, target / "en_happy_prompt.wav")
    store = VoiceStore(settings)
    assert store.get("happy_en").available
    assert not store.get("fear_female").available


def test_missing_preset_says_how_to_get_it(settings: Settings) -> None:
    voice = VoiceStore(settings).get("whisper_cn")
    assert not voice.available and voice.to_dict()["available"] is False
    with pytest.raises(PresetMissing, match=r"whisper_prompt\.wav.*python -m studio download") as err:
        voice.load()
    assert err.value.status == 503


def test_create_get_rename_delete(store: VoiceStore, harvard) -> None:
    clip = audio_io.trim(audio_io.read(harvard.path), 0.0, 3.0)
    voice = store.create("  My   narrator ", clip, " The birch canoe slid on the smooth planks. ", language="en")
    assert voice.id.startswith("voice_") and voice.name == "My narrator"
    assert voice.text == "The birch canoe slid on the smooth planks."
    assert (store.root / f"{voice.id}.wav").is_file() and (store.root / f"{voice.id}.json").is_file()
    again = VoiceStore(store.settings).get(voice.id)  # persisted, visible to a second store
    assert again.text == voice.text and again.language == "en" and again.kind == "saved"
    stored = again.load()
    assert stored.sr == clip.sr and len(stored.samples) == len(clip.samples)
    assert np.max(np.abs(stored.samples - clip.samples)) < 1e-3  # 16-bit PCM
    assert [v.id for v in store.list()][-1] == voice.id
    assert store.rename(voice.id, "Narrator 2").name == "Narrator 2"
    assert store.get(voice.id).name == "Narrator 2"
    store.delete(voice.id)
    assert not list(store.root.glob(f"{voice.id}.*"))
    with pytest.raises(NotFound):
        store.get(voice.id)


def test_refusals(store: VoiceStore, harvard) -> None:
    clip = audio_io.trim(audio_io.read(harvard.path), 0.0, 3.0)
    store.create("Taken", clip, "The birch canoe slid on the smooth planks.")
    with pytest.raises(BadInput, match="already exists"):
        store.create("taken", clip, "text")
    with pytest.raises(BadInput, match="needs a name"):
        store.create("   ", clip, "text")
    with pytest.raises(BadInput, match="limit is 64"):
        store.create("x" * 65, clip, "text")
    with pytest.raises(BadInput, match="transcript"):
        store.create("No text", clip, "  ")
    with pytest.raises(BadInput, match="language code"):
        store.create("Lang", clip, "text", language="english!")
    with pytest.raises(AudioInputError, match=r"voice recording.*at least"):
        store.create("Short", audio_io.trim(clip, 0.0, 0.2), "text")
    long = clip.with_samples(np.tile(clip.samples, 11))
    with pytest.raises(AudioInputError, match="limit is 30 s"):
        store.create("Long", long, "text")
    with pytest.raises(PresetReadOnly):
        store.delete("fear_female")
    with pytest.raises(PresetReadOnly):
        store.rename("happy_en", "mine")
    for bad in ("../../etc/passwd", "voice_../x", "nobody", ""):
        with pytest.raises(NotFound):
            store.get(bad)


def test_unreadable_metadata_is_skipped(store: VoiceStore, harvard) -> None:
    clip = audio_io.trim(audio_io.read(harvard.path), 0.0, 2.0)
    voice = store.create("Good", clip, "The birch canoe.")
    bad = store.root / "voice_00000000000000ff.json"
    bad.write_text("{not json", encoding="utf-8")
    bad.with_suffix(".wav").write_bytes((store.root / f"{voice.id}.wav").read_bytes())
    assert [v.id for v in store.list() if v.kind == "saved"] == [voice.id]


def test_concurrent_creates_keep_names_unique(store: VoiceStore, harvard) -> None:
    clip = audio_io.trim(audio_io.read(harvard.path), 0.0, 2.0)

    def create(i: int) -> str:
        try:
            return store.create(f"voice {i % 3}", clip, "The birch canoe.").id
        except BadInput:
            return ""

    with ThreadPoolExecutor(8) as pool:
        made = [i for i in pool.map(create, range(12)) if i]
    assert len(made) == 3
    assert sorted(v.name for v in store.list() if v.kind == "saved") == ["voice 0", "voice 1", "voice 2"]
