"""The assembled parts a tool, the ingest pipeline, the agent or the UI works with (see `Services`)."""
