// The Tokenizer module; see ARCHITECTURE.md.
