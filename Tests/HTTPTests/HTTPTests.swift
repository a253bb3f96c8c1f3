// HTTPTests; see ARCHITECTURE.md.
