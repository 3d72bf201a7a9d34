"""Load check for `qdretrain serve`: N concurrent clients x M classifications against a real uvicorn
server on 127.0.0.1; prints requests/s, p50/p95 latency and the error count; the server stops at the end.

  .venv/bin/python bench/bench_serve.py --model_dir M [--clients 20] [--requests 50] [--artifact model.tflite]
  --quick: 5 clients x 10 requests.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A real Quick, Draw!-sized drawing (3 strokes, ~40 points).
STROKES = [[[20 + 5 * i for i in range(20)], [40 + (i * 7) % 90 for i in range(20)]],
           [[200, 180, 150, 120, 90], [30, 90, 150, 200, 250]], [[10, 250], [128, 128]]]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_server(model_dir: str, artifact):
    import uvicorn

    from serve.app import create_app
    from serve.model import ServedModel
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(ServedModel(model_dir, artifact)), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}/classify"


def _client(url: str, count: int, latencies: list, errors: list, artifact):
    body = json.dumps({"strokes": STROKES, **({"artifact": artifact} if artifact else {})}).encode()
    for _ in range(count):
        start = time.perf_counter()
        try:
            request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as response:
                json.loads(response.read())["top"]
            latencies.append((time.perf_counter() - start) * 1000)
        except Exception as error:  # noqa: BLE001 - counted and shown
            errors.append(repr(error))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=50, help="per client")
    parser.add_argument("--artifact", default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    clients, per_client = (5, 10) if args.quick else (args.clients, args.requests)
    server, thread, url = _start_server(args.model_dir, args.artifact)
    latencies, errors = [], []
    try:
        workers = [threading.Thread(target=_client, args=(url, per_client, latencies, errors, args.artifact))
                   for _ in range(clients)]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - start
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else float("nan")
    print(f"{clients} clients x {per_client} classifications ({args.artifact or 'default artifact'}): "
          f"{len(latencies) / elapsed:.1f} requests/s, p50 {statistics.median(latencies):.1f} ms, "
          f"p95 {p95:.1f} ms, errors {len(errors)}; server stopped: {not thread.is_alive()}")
    if errors:
        print("first error:", errors[0])
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
