"""STUB (being written): `qdretrain export`, `qdretrain android`, `qdretrain label_image`."""
import click


@click.command("export")
def export_command():
    """Export and verify."""
    raise click.ClickException("not written yet")


@click.command("android")
def android_command():
    """Android assets."""
    raise click.ClickException("not written yet")


@click.command("label_image")
def label_image_command():
    """Classify images."""
    raise click.ClickException("not written yet")
