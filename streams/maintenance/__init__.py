"""Scheduled maintenance (a Faust crontab on the leader worker) and admin operations."""
