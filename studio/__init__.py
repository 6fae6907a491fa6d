"""Step-Audio-EditX Studio: a web studio and an OpenAI-compatible speech API around Step-Audio-EditX.

Data flow: audio in -> tokens (engine.tokenizer) -> Step1 LLM (engine.step1) -> tokens ->
flow (engine.flow) -> vocoder (engine.hift) -> audio out. The UI (studio.ui) and the API (studio.api)
are thin layers over one engine object.
"""

__version__ = "0.1.0"
