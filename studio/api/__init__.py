"""The OpenAI-compatible speech API: `/v1/audio/speech`, transcriptions, voices, models and tags."""
