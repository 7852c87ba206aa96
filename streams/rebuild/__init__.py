"""Rebuilding the read model from the log, and scheduled maintenance (issue #5)."""
