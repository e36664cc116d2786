"""The search screen's widgets, by area: query box, filter bar, results, post view, status bar."""
