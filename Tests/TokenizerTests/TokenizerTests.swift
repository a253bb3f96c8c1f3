// TokenizerTests; see ARCHITECTURE.md.
