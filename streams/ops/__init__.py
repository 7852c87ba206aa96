"""Operating the log: consumer-group offsets, dead letters, replay (issue #5)."""
