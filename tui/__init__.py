"""The terminal UI (Textual) over the public `search` API; `tui.app.run` is its entry point."""
