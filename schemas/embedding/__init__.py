"""Text embedders shared by every service (placeholder, see factory below)."""
