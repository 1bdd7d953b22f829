#!/usr/bin/env python3
"""Ferry local AWS mock: moto running in-process behind an HTTP server.

Started by `scripts/stack up` (venv: .ferry/venv, pins: scripts/requirements-moto.txt).

Why in-process instead of `moto_server`: with `mock_aws(...)` active in this
process, Step Functions can really *execute* state machines
(`execute_state_machine=True`), and the boto3 calls that the state machine
interpreter makes to other services (Lambda, DynamoDB, SQS, ...) are routed to
the same in-memory backends that external clients (the Rust SDK, the AWS CLI,
boto3 with endpoint_url) reach over HTTP on --host:--port.

All state is in memory: it is lost when this process exits.

    python scripts/moto_server.py --host 127.0.0.1 --port 4566
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument(
        "--lambda-docker",
        choices=("auto", "yes", "no"),
        default=os.environ.get("FERRY_MOTO_LAMBDA_DOCKER", "auto"),
        help=(
            "Lambda invoke backend. 'yes': moto's docker runtime (needs a Docker daemon); "
            "'no': moto's simple Lambda (Invoke returns the payload / queued results, code "
            "is not run); 'auto' (default): 'yes' if /var/run/docker.sock exists, else 'no'."
        ),
    )
    parser.add_argument(
        "--access-log",
        action="store_true",
        default=os.environ.get("FERRY_MOTO_ACCESS_LOG", "") not in ("", "0"),
        help="log every HTTP request (default off; env FERRY_MOTO_ACCESS_LOG=1)",
    )
    args = parser.parse_args()

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.access_log:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    # Fake credentials for the in-process boto3 clients (moto requires *some*).
    for key, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        os.environ.setdefault(key, value)
    # Never let an inherited endpoint override redirect the in-process clients to ourselves.
    os.environ.pop("AWS_ENDPOINT_URL", None)

    from moto import mock_aws
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    if args.lambda_docker == "auto":
        use_docker = os.path.exists("/var/run/docker.sock")
    else:
        use_docker = args.lambda_docker == "yes"

    mock = mock_aws(
        config={
            "stepfunctions": {"execute_state_machine": True},
            "lambda": {"use_docker": use_docker},
        }
    )
    mock.start()

    # moto's DynamoDB backend is not thread-safe: a transaction whose condition fails restores a
    # snapshot of the table and can undo writes other requests made meanwhile (acknowledged
    # writes lost under concurrency, reproduced with moto 5.2.5). DynamoDB requests are therefore
    # served one at a time; other services stay concurrent (Step Functions calls back into us).
    app = DomainDispatcherApplication(create_backend_app)
    dynamodb_lock = threading.Lock()

    def serialized(environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with dynamodb_lock:
                return list(app(environ, start_response))
        return app(environ, start_response)

    server = make_server(args.host, args.port, serialized, True, request_handler=MotoRequestHandler)
    serve_thread = threading.Thread(target=server.serve_forever, daemon=True)
    serve_thread.start()
    print(
        f"ferry moto server listening on http://{args.host}:{args.port} "
        f"(stepfunctions.execute_state_machine=True, lambda.use_docker={use_docker}, pid {os.getpid()})",
        flush=True,
    )

    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        print(f"ferry moto server: got signal {signum}, stopping", flush=True)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    while not stop.wait(0.2):
        pass

    try:
        server.shutdown()
        serve_thread.join()
    finally:
        mock.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
