"""Web UI: Gradio page, live map, uploads, sharing and exports (see docs/architecture.md)."""
