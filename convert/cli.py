"""STUB (being written): `qdretrain convert` and `qdretrain preview`."""
import click


@click.command("convert")
def convert_command():
    """Turn QuickDraw .npy/.ndjson files into OUTPUT/<label>/*.jpg."""
    raise click.ClickException("not written yet")


@click.command("preview")
def preview_command():
    """PNG grid of sample drawings per class."""
    raise click.ClickException("not written yet")
