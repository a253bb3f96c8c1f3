// TensorTests; see ARCHITECTURE.md.
