"""Layer kinds registered only by tests (issue 11: the extension point)."""
