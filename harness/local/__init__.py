"""The embedded default model: its litellm provider, prompt format, field writer, prefix cache and server."""
