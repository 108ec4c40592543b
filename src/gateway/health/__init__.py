"""The health port: its own process, so it answers while the workers are saturated."""
