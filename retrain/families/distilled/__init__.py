"""The distilled family: a native net that learns from a trained teacher's soft predictions too."""
