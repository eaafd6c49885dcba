"""The Gradio web app (`kbqa ui`), installed as `kbqa.ui`.

Importing this package does not import gradio: `kbqa.ui.app` does.
"""
