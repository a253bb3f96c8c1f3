// ServerTests; see ARCHITECTURE.md.
