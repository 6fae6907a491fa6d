"""The Gradio studio: pages over the one engine object."""
