"""`python -m retrain ...` behaves exactly like `qdretrain ...`."""

from retrain.cli.main import main

if __name__ == "__main__":
    main()
