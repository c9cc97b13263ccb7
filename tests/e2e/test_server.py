"""``im_http.serving.server.serve``: a stop that lets the requests in flight finish."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import urllib.request

from bench.processes import free_port

SLOW_APP = """
import sys, time
from im_http.serving.server import Served, serve

def app(environ, start_response):
    time.sleep(1.0)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"finished"]

serve(lambda: Served(app), host="127.0.0.1", port=int(sys.argv[1]),
      on_listening=lambda host, port: print("listening", flush=True))
"""


def test_sigterm_lets_a_request_in_flight_finish_then_exits_0() -> None:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", SLOW_APP, str(port)],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "listening"
        answers: list[bytes] = []

        def call() -> None:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
                answers.append(response.read())

        caller = threading.Thread(target=call)
        caller.start()
        time.sleep(0.3)  # the request is now inside the slow app
        process.send_signal(signal.SIGTERM)
        caller.join(timeout=10)
        assert answers == [b"finished"]
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()
