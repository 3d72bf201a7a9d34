"""`qdretrain serve`: a local web page to draw on an exported model and collect corrections."""
