"""QuickDraw numpy_bitmap (.npy) and simplified-stroke (.ndjson) files -> per-class JPG folders."""
