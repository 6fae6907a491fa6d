"""Read the decoder's `cosyvoice.yaml` without running it.

The file is HyperPyYAML: `!new:pkg.Class` builds an object, `!name:` / `!apply:` name or call a
function, `!ref <key>` points at another value. hyperpyyaml imports and calls whatever a file names,
so a downloaded file could run code. Here every tag becomes inert data (`Tagged`, `Ref`), every
named target is checked against the classes of the official decoder (nothing is ever imported), and
only their known parameters are read into our config dataclasses.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from studio.engine.files import require_file
from studio.engine.flow import CodebookConfig, DiTConfig, EncoderConfig, FlowConfig
from studio.engine.hift import F0PredictorConfig, HiFTConfig
from studio.errors import CheckpointError

# The official classes (stepvocoder/cosyvoice2 in Step-Audio-EditX) by class name. Any module path inside
# that package is accepted, because the file only names the class: we never import it.
PACKAGE = "stepvocoder.cosyvoice2."
FLOW = "CausalMaskedDiffWithXvec"
CODEBOOK = "DualCodebookEmbedding"
ENCODER = "UpsampleConformerEncoderV2"
CFM = "CausalConditionalCFM"
DIT = "DiT"
HIFT = "HiFTGenerator"
F0_PREDICTOR = "ConvRNNF0Predictor"
KNOWN_CLASSES = {FLOW, CODEBOOK, ENCODER, CFM, DIT, HIFT, F0_PREDICTOR}
# CosyVoice recipes seed the random generators at load time; reading them is harmless, so they are ignored.
SEED_FUNCTIONS = {"random.seed", "numpy.random.seed", "torch.manual_seed", "torch.cuda.manual_seed_all"}

# Constructor arguments that only matter for training, or whose single supported value we check.
IGNORED = {
    FLOW: {"input_embedding", "encoder", "decoder"},
    ENCODER: {"dropout_rate", "positional_dropout_rate", "attention_dropout_rate"},
    HIFT: {"f0_predictor", "istft_params"},
}
FIXED = {
    FLOW: {"output_type": "mel"},
    ENCODER: {
        "input_layer": "linear",
        "pos_enc_layer_type": "rel_pos_espnet",
        "selfattention_layer_type": "rel_selfattn",
        "normalize_before": True,
        "activation_type": "swish",
    },
}


@dataclass(frozen=True)
class Tagged:
    """A `!new:` / `!name:` / `!apply:` node, kept as data."""

    kind: str  # "new", "name" or "apply"
    target: str  # dotted path exactly as written
    args: Any  # mapping, list or scalar under the tag

    @property
    def class_name(self) -> str:
        return self.target.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class Ref:
    expression: str


@dataclass(frozen=True)
class MelConfig:
    """`mel_conf`: the 24 kHz log-mel that conditions the flow (computed by the audio tokenizer)."""

    num_mels: int = 80
    n_fft: int = 1920
    hop_size: int = 480
    win_size: int = 1920
    sampling_rate: int = 24_000
    fmin: float = 0.0
    fmax: float = 8000.0


@dataclass(frozen=True)
class DecoderConfig:
    mel: MelConfig
    flow: FlowConfig
    hift: HiFTConfig


class _InertLoader(yaml.SafeLoader):
    """SafeLoader plus HyperPyYAML's tags, all constructed as plain data."""


def _tagged(kind: str):
    def construct(loader: _InertLoader, suffix: str, node: yaml.Node) -> Tagged:
        if isinstance(node, yaml.MappingNode):
            args: Any = loader.construct_mapping(node, deep=True)
        elif isinstance(node, yaml.SequenceNode):
            args = loader.construct_sequence(node, deep=True)
        else:
            args = loader.construct_scalar(node)
        return Tagged(kind, suffix, args)

    return construct


for _kind in ("new", "name", "apply"):
    _InertLoader.add_multi_constructor(f"!{_kind}:", _tagged(_kind))
_InertLoader.add_constructor("!ref", lambda loader, node: Ref(loader.construct_scalar(node)))
_InertLoader.add_constructor("!copy", lambda loader, node: Ref(loader.construct_scalar(node)))
_InertLoader.add_constructor("!tuple", lambda loader, node: tuple(loader.construct_sequence(node, deep=True)))


def read_config(path: Path) -> DecoderConfig:
    """Parse `cosyvoice.yaml` into our configs; CheckpointError names the file and what is wrong."""
    path = require_file(Path(path), "decoder configuration")
    try:
        tree = yaml.load(path.read_text(encoding="utf-8"), Loader=_InertLoader)
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path} is not a readable decoder configuration: {err}") from err
    if not isinstance(tree, dict):
        raise CheckpointError(f"{path} is not a decoder configuration (expected a mapping at the top level).")
    try:
        tree = _resolve(tree, tree)
        _check_targets(tree, "")
        return _consistent(DecoderConfig(mel=_mel(tree), flow=_flow(tree), hift=_hift(tree)))
    except CheckpointError as err:
        raise CheckpointError(f"{path}: {err}") from err


# --- tags -------------------------------------------------------------------------------------

_REF = re.compile(r"<([A-Za-z_][\w.]*(?:\[[\w.]+\])*)>")


def _resolve(value: Any, root: dict, depth: int = 0) -> Any:
    """Replace every `!ref <a[b]>` with the value it points at (plain references only, no arithmetic)."""
    if depth > 32:
        raise CheckpointError("`!ref` references form a cycle.")
    if isinstance(value, Ref):
        match = _REF.fullmatch(value.expression.strip())
        if not match:
            raise CheckpointError(f"unsupported `!ref` expression {value.expression!r} (only `<key[sub]>` is read).")
        keys = re.findall(r"[^\[\]]+", match.group(1))
        target: Any = root
        for key in keys:
            if not isinstance(target, dict) or key not in target:
                raise CheckpointError(f"`!ref {value.expression}` points at nothing.")
            target = target[key]
        return _resolve(target, root, depth + 1)
    if isinstance(value, Tagged):
        return Tagged(value.kind, value.target, _resolve(value.args, root, depth))
    if isinstance(value, dict):
        return {key: _resolve(item, root, depth) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_resolve(item, root, depth) for item in value)
    return value


def _check_targets(value: Any, where: str) -> None:
    """Refuse any tag naming something outside the official decoder, before reading any value."""
    if isinstance(value, Tagged):
        known = (
            value.target in SEED_FUNCTIONS
            if value.kind == "apply"
            else value.target.startswith(PACKAGE) and value.class_name in KNOWN_CLASSES
        )
        if not known:
            raise CheckpointError(
                f"unknown class `{value.target}` in a `!{value.kind}:` tag at `{where or '(top)'}`. "
                "Only the official Step-Audio-EditX decoder classes are supported; this file does not belong "
                "to CosyVoice-300M-25Hz or was modified."
            )
        _check_targets(value.args, where)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_targets(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_targets(item, where)


def _node(parent: dict, key: str, class_name: str) -> dict:
    node = parent.get(key)
    if not isinstance(node, Tagged) or node.kind != "new" or node.class_name != class_name:
        raise CheckpointError(f"`{key}` must be `!new:...{class_name}`.")
    if not isinstance(node.args, dict):
        raise CheckpointError(f"`{key}` ({class_name}) needs a mapping of parameters.")
    return node.args


# --- values -----------------------------------------------------------------------------------


def _values(config_type: type, args: dict, class_name: str) -> dict[str, Any]:
    """The constructor arguments that map to fields of `config_type`, type-checked; unknown ones are refused."""
    fields = {field.name: field for field in dataclasses.fields(config_type)}
    values = {}
    for key, value in args.items():
        if key in IGNORED.get(class_name, ()):
            continue
        if key in FIXED.get(class_name, {}):
            if value != FIXED[class_name][key]:
                raise CheckpointError(
                    f"{class_name}.{key} = {value!r} is not supported (only {FIXED[class_name][key]!r})."
                )
            continue
        if key not in fields:
            raise CheckpointError(f"unknown parameter `{key}` for {class_name}.")
        values[key] = _typed(value, fields[key], f"{class_name}.{key}")
    return values


def _build(config_type: type, args: dict, class_name: str, **parts: Any) -> Any:
    try:
        return config_type(**_values(config_type, args, class_name), **parts)
    except TypeError as err:
        raise CheckpointError(f"{class_name} is missing a parameter: {err}") from err


def _typed(value: Any, field: dataclasses.Field, where: str) -> Any:
    kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "")
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "tuple[int, ...]" and _ints(value):
        return tuple(value)
    if kind == "tuple[tuple[int, ...], ...]" and isinstance(value, (list, tuple)) and all(_ints(v) for v in value):
        return tuple(tuple(v) for v in value)
    raise CheckpointError(f"{where} = {value!r} is not a valid {kind}.")


def _ints(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)


def _mel(tree: dict) -> MelConfig:
    args = tree.get("mel_conf")
    if not isinstance(args, dict):
        raise CheckpointError("`mel_conf` must be a mapping.")
    return _build(MelConfig, args, "mel_conf")


def _flow(tree: dict) -> FlowConfig:
    args = _node(tree, "flow", FLOW)
    cfm = _node(args, "decoder", CFM)
    if set(cfm) - {"estimator", "inference_cfg_rate"}:
        raise CheckpointError(f"unknown parameters {sorted(set(cfm) - {'estimator', 'inference_cfg_rate'})} for {CFM}.")
    return _build(
        FlowConfig,
        {**args, **({"inference_cfg_rate": cfm["inference_cfg_rate"]} if "inference_cfg_rate" in cfm else {})},
        FLOW,
        codebook=_build(CodebookConfig, _node(args, "input_embedding", CODEBOOK), CODEBOOK),
        encoder=_build(EncoderConfig, _node(args, "encoder", ENCODER), ENCODER),
        estimator=_build(DiTConfig, _node(cfm, "estimator", DIT), DIT),
    )


def _hift(tree: dict) -> HiFTConfig:
    args = _node(tree, "hift", HIFT)
    istft = args.get("istft_params", {"n_fft": 16, "hop_len": 4})
    if not isinstance(istft, dict) or set(istft) != {"n_fft", "hop_len"}:
        raise CheckpointError(f"HiFTGenerator.istft_params = {istft!r} must hold exactly n_fft and hop_len.")
    return _build(
        HiFTConfig,
        {**args, "istft_n_fft": istft["n_fft"], "istft_hop_len": istft["hop_len"]},
        HIFT,
        f0_predictor=_build(F0PredictorConfig, _node(args, "f0_predictor", F0_PREDICTOR), F0_PREDICTOR),
    )


def _consistent(config: DecoderConfig) -> DecoderConfig:
    """Refuse sizes that load but cannot work together (the reference would fail later, mid-inference)."""
    flow, hift, mel = config.flow, config.hift, config.mel
    rules = [
        (flow.codebook.input_size == flow.encoder.input_size, "the embedding size differs from the encoder input"),
        (flow.codebook.vocab_size >= 5121, "the embedding table has fewer than 5121 entries"),
        (flow.encoder.up_stride == 2 and flow.encoder.up_scale_factor == 2, "the encoder must up-sample by 2"),
        (flow.estimator.in_channels == 4 * flow.output_size, "the DiT input is not 4 x the mel size"),
        (flow.estimator.out_channels == flow.output_size == mel.num_mels, "the mel sizes differ"),
        (flow.estimator.num_heads * flow.estimator.head_dim > 0, "the DiT has no attention heads"),
        (flow.encoder.output_size % flow.encoder.attention_heads == 0, "encoder heads do not divide its size"),
        (len({len(hift.upsample_rates), len(hift.upsample_kernel_sizes)}) == 1, "HiFT upsampling lists differ"),
        (
            len(hift.source_resblock_kernel_sizes)
            == len(hift.source_resblock_dilation_sizes)
            == len(hift.upsample_rates),
            "HiFT needs one source branch per upsampling stage",
        ),
        (len(hift.resblock_kernel_sizes) == len(hift.resblock_dilation_sizes), "HiFT resblock lists differ"),
        (hift.f0_predictor.num_class == 1, "the F0 predictor must output one value"),
        (hift.samples_per_frame == mel.hop_size, "HiFT samples per frame differ from the mel hop"),
        (hift.sampling_rate == mel.sampling_rate, "HiFT and the mel use different sample rates"),
    ]
    broken = [reason for ok, reason in rules if not ok]
    if broken:
        raise CheckpointError("inconsistent sizes: " + "; ".join(broken) + ".")
    return config
