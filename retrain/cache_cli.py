"""STUB (being written): `qdretrain cache`."""
import click


@click.command("cache")
def cache_command():
    """Precompute bottlenecks."""
    raise click.ClickException("not written yet")
