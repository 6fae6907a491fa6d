"""The model: audio tokenizer -> Step1 LLM -> flow decoder -> HiFT vocoder, behind one Engine object."""
