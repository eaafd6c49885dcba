"""The Gradio web app (`kbqa ui`). Importing this package does not import gradio: `ui.app` does."""
