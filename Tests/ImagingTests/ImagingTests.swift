// ImagingTests; see ARCHITECTURE.md.
