"""The text side of the prompt: Step1's SentencePiece vocabulary and the `<audio_K>` ids.

`tokenizer.model` holds 65536 text pieces followed by the audio pieces: `<audio_K>` has id 65536 + K
(K 0..1023: vq02 codes; K 1024..5119: vq06 codes + 1024). The audio pieces are user-defined symbols
of the SentencePiece model, so a prompt string with `<audio_K>` runs encodes in one pass, exactly as
the released tokenizer encodes it. Encoding never adds `<s>`, whatever `add_bos_token` says in
tokenizer_config.json: the prompt builder places the one `<s>` itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import sentencepiece as spm

from studio.engine.files import require_file
from studio.errors import CheckpointError

BOS = 1  # <s>
EOT = 3  # <|EOT|>: end of a turn, and where generation stops
BOT = 4  # <|BOT|>: start of a turn
AUDIO_OFFSET = 65536
AUDIO_CODES = 5120  # 1024 vq02 + 4096 vq06


def audio_token_string(codes: Sequence[int]) -> str:
    """`<audio_K>` for each code K (a mixed vq02/vq06 code, not yet offset by 65536)."""
    for code in codes:
        if not 0 <= code < AUDIO_CODES:
            raise ValueError(f"audio code {code} is outside 0..{AUDIO_CODES - 1}")
    return "".join(f"<audio_{code}>" for code in codes)


class TextTokenizer:
    def __init__(self, processor: spm.SentencePieceProcessor, source: str = "tokenizer.model") -> None:
        for code in (0, AUDIO_CODES - 1):
            piece = f"<audio_{code}>"
            if processor.piece_to_id(piece) != AUDIO_OFFSET + code:
                raise CheckpointError(
                    f"{source} does not map {piece} to id {AUDIO_OFFSET + code}; it is not the Step-Audio-EditX "
                    "tokenizer. Re-download Step-Audio-EditX/tokenizer.model."
                )
        self.processor = processor

    @classmethod
    def load(cls, editx_dir: Path) -> TextTokenizer:
        path = require_file(Path(editx_dir) / "tokenizer.model", "Step1 text tokenizer")
        processor = spm.SentencePieceProcessor()
        try:
            processor.Load(str(path))
        except (OSError, RuntimeError) as err:
            raise CheckpointError(f"{path} is not a readable SentencePiece model ({err}). Re-download it.") from err
        return cls(processor, str(path))

    @property
    def vocab_size(self) -> int:
        return self.processor.GetPieceSize()

    def encode(self, text: str) -> list[int]:
        """Ids of `text`, with no `<s>` and no `</s>`."""
        return self.processor.EncodeAsIds(text)

    def decode(self, ids: Sequence[int]) -> str:
        return self.processor.DecodeIds(list(ids))
