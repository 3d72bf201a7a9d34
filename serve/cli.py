"""`qdretrain serve`: parse options, load the model, run uvicorn."""

from __future__ import annotations

import click

from common.cli_options import flag, user_errors
from serve.model import ARTIFACTS

SECURITY_NOTE = ("Note: --host {host} makes the page reachable from other machines. It has no login and "
                 "anyone who reaches it can run the model and, with --collect_dir, write files there. "
                 "Use it on trusted networks only.")


@click.command("serve")
@flag("--model_dir", required=True, type=click.Path(exists=True, file_okay=False),
      help="A trained and exported model dir (`qdretrain export --model_dir M` first).")
@flag("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@flag("--host", default="127.0.0.1", show_default=True, help="127.0.0.1: this machine only.")
@flag("--artifact", type=click.Choice(ARTIFACTS), default=None,
      help="The artifact answering first [model.tflite, else the first exported]; the page can switch.")
@flag("--collect_dir", type=click.Path(file_okay=False), default=None,
      help="Where \"that's wrong, it is ...\" corrections go, as <label>.ndjson (off if not given).")
@user_errors
def serve_command(model_dir, port, host, artifact, collect_dir):
    """Draw on the exported model in a browser: top-5 after every stroke, the exact input image,
    float vs int8, and corrections collected as .ndjson for the next training run."""
    import uvicorn

    from common.writable import check_writable
    from serve.app import create_app
    from serve.model import ServedModel
    if collect_dir is not None:
        check_writable(collect_dir, "--collect_dir")  # at start, not as a 500 on every correction
    model = ServedModel(model_dir, artifact)
    for name, problem in model.refused.items():
        click.echo(f"Not serving {name}: {problem}", err=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(SECURITY_NOTE.format(host=host), err=True)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"Serving {model_dir} ({', '.join(model.artifacts)}) at http://{shown}:{port}/  (Ctrl-C stops)")
    # timeout_keep_alive: an idle kept-alive connection is closed after 5 s; limit_concurrency: beyond
    # this many open connections new ones get 503 at once instead of piling up (bodies time out in
    # the app: serve/app.py BODY_TIMEOUT_S).
    uvicorn.run(create_app(model, collect_dir), host=host, port=port, log_level="warning",
                timeout_keep_alive=5, limit_concurrency=256)
