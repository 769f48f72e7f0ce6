"""The assistant's library: plain functions returning `ToolResult`s, wrapped for the agent in `assistant.registry`."""
