"""The wire formats the gateway speaks to callers besides OpenAI chat: pure translations."""
