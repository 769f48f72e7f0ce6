"""The assistant's tools: plain library functions first, wrapped for the agent in `tools.registry`."""
