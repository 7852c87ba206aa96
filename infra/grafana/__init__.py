"""Grafana provisioning and dashboards (dashboards.py writes dashboards/*.json)."""
