"""Alerts to Slack and webhooks: what is wrong, where, since when, and what to do."""
