"""Source texts -> Chroma: load, chunk, embed, store, build. Never imports `assistant`."""
