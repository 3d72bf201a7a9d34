"""STUB (being written): `qdretrain launch`."""
import click


@click.command("launch")
def launch_command():
    """Start N local workers."""
    raise click.ClickException("not written yet")
