"""`cosyvoice.yaml` is read as inert data: official values come out, nothing named in the file is imported or run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from studio.engine.cosyvoice_yaml import read_config
from studio.errors import CheckpointError
from studio.testing.tiny_decoder import OFFICIAL, TINY, yaml_text

EVIL_MODULE = """\
from pathlib import Path
Path({marker!r}).write_text("imported")
class CausalMaskedDiffWithXvec: ...
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cosyvoice.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_official_structure_reads_into_the_released_sizes(tmp_path: Path):
    config = read_config(write(tmp_path, yaml_text(OFFICIAL)))
    assert config.mel.sampling_rate == 24_000 and config.mel.hop_size == 480  # via `!ref <sample_rate>`
    flow = config.flow
    assert (flow.input_size, flow.output_size, flow.spk_embed_dim, flow.vocab_size) == (512, 80, 192, 5121)
    assert (flow.codebook.vocab_size, flow.codebook.input_size) == (5121, 512)
    encoder = flow.encoder
    assert (encoder.num_blocks, encoder.num_up_blocks, encoder.attention_heads, encoder.pre_lookahead_len) == (
        6,
        4,
        8,
        3,
    )
    assert encoder.up_scale_factor == 2.0 and isinstance(encoder.up_scale_factor, float)
    dit = flow.estimator
    assert (dit.in_channels, dit.out_channels, dit.depth, dit.num_heads, dit.head_dim, dit.hidden_size) == (
        320,
        80,
        16,
        8,
        64,
        512,
    )
    assert flow.inference_cfg_rate == 0.7
    hift = config.hift
    assert hift.upsample_rates == (8, 5, 3) and (hift.istft_n_fft, hift.istft_hop_len) == (16, 4)
    assert hift.samples_per_frame == 480 and hift.sampling_rate == 24_000
    assert hift.source_resblock_dilation_sizes == ((1, 3, 5),) * 3
    assert hift.f0_predictor.cond_channels == 512
    assert read_config(write(tmp_path, yaml_text(TINY))).flow.estimator.depth == TINY["depth"]


@pytest.mark.parametrize(
    "tag",
    [
        "!new:os.system",
        "!new:mypackage.vocoders.BetterVocoder",
        "!new:stepvocoder.cosyvoice2.bigvgan.bigvgan.BigVGAN",  # official, but not what the release uses
        "!name:subprocess.run",
        "!apply:os.system",
    ],
)
def test_unknown_targets_are_refused_by_name(tmp_path: Path, tag: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(os, "system", lambda *_: pytest.fail("os.system was called"))
    text = yaml_text(TINY).replace("hift: !new:stepvocoder.cosyvoice2.hifigan.generator.HiFTGenerator", f"hift: {tag}")
    with pytest.raises(CheckpointError) as err:
        read_config(write(tmp_path, text))
    assert tag.split(":", 1)[1] in str(err.value) and "cosyvoice.yaml" in str(err.value)
    assert "`hift`" in str(err.value)


def test_named_modules_are_never_imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    marker = tmp_path / "imported"
    package = tmp_path / "stepvocoder"
    (package / "cosyvoice2" / "flow").mkdir(parents=True)
    for folder in (package, package / "cosyvoice2", package / "cosyvoice2" / "flow"):
        (folder / "__init__.py").write_text(EVIL_MODULE.format(marker=str(marker)))
    (package / "cosyvoice2" / "flow" / "flow.py").write_text(EVIL_MODULE.format(marker=str(marker)))
    (tmp_path / "evil_decoder_module.py").write_text(EVIL_MODULE.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(tmp_path))

    assert read_config(write(tmp_path, yaml_text(TINY))).flow.encoder.num_blocks == TINY["num_blocks"]
    evil = yaml_text(TINY).replace("stepvocoder.cosyvoice2.flow.flow.", "evil_decoder_module.")
    with pytest.raises(CheckpointError, match=r"evil_decoder_module\.CausalMaskedDiffWithXvec"):
        read_config(write(tmp_path, evil))
    assert not marker.exists()
    assert "stepvocoder" not in sys.modules and "evil_decoder_module" not in sys.modules


def test_python_tags_are_refused(tmp_path: Path):
    marker = tmp_path / "ran"
    text = yaml_text(TINY) + f"payload: !!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(CheckpointError, match="not a readable decoder configuration"):
        read_config(write(tmp_path, text))
    assert not marker.exists()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("normalize_before: true", "normalize_before: false", "normalize_before = False is not supported"),
        ("key_bias: true", "key_bias: true\n        use_magic: 1", "unknown parameter `use_magic`"),
        ("depth: 2", "depth: two", "DiT.depth = 'two' is not a valid int"),
        ("upsample_rates: [8, 5, 3]", "upsample_rates: [8, 5, 2]", "samples per frame differ from the mel hop"),
        ("upsample_rates: [8, 5, 3]", "upsample_rates: [8, 60]", "upsampling lists differ"),
        ("in_channels: 320", "in_channels: 240", "DiT input is not 4 x the mel size"),
        ("inference_cfg_rate: 0.7", "inference_cfg_rate: 0.7\n        sigma_min: 0.1", "CausalConditionalCFM"),
        ("sampling_rate: !ref <sample_rate>", "sampling_rate: !ref <rate>", "points at nothing"),
        ("sampling_rate: !ref <sample_rate>", "sampling_rate: !ref <sample_rate> * 2", "unsupported `!ref`"),
        ("sample_rate: 24000", "sample_rate: !include:other.yaml", "not a readable decoder configuration"),
    ],
)
def test_unsupported_values_are_named(tmp_path: Path, old: str, new: str, message: str):
    text = yaml_text(TINY)
    assert old in text
    with pytest.raises(CheckpointError, match=message.replace("[", r"\[").replace("*", r"\*")):
        read_config(write(tmp_path, text.replace(old, new, 1)))


def test_missing_and_pointer_files_are_named(tmp_path: Path):
    with pytest.raises(CheckpointError, match=r"Missing model file .*cosyvoice\.yaml"):
        read_config(tmp_path / "cosyvoice.yaml")
    pointer = write(tmp_path, "version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 2704\n")
    with pytest.raises(CheckpointError, match=r"cosyvoice\.yaml .*Git-LFS pointer"):
        read_config(pointer)
