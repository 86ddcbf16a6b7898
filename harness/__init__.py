"""pactjury: turn an AI agent's behavioral pact into stored, queryable evidence."""

__version__ = "0.1.0"
