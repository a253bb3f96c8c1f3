// CheckpointTests; see ARCHITECTURE.md.
