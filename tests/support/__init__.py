"""The test harness: a mock OpenAI upstream, the gateway as a subprocess, configs."""
