// The libjpeg shim; see ARCHITECTURE.md.
