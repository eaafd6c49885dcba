"""Other sessions are served while one uploads (issue 11, item 1: one 150 KB upload once held the
whole server, `GET /config` took 44 s). The upload goes through the Gradio API of a real `kbqa ui`
while this test times requests another client makes meanwhile."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.ui.conftest import start_server, stop_server

# What froze the server: long runs of spaces, tabs, NBSP and ideographic spaces inside lines.
_RUN = " \t\u00a0\u3000" * (1 << 17)  # 512 Ki characters


@pytest.mark.slow
def test_the_server_answers_other_requests_during_an_upload(tmp_path: Path) -> None:
    import httpx
    from gradio_client import Client, handle_file

    files = []
    for index in range(3):
        path = tmp_path / f"runs-{index}.txt"
        path.write_text(f"Valve {index} opens at {index + 3} bar.{_RUN}end\n" * 4, "utf-8")
        files.append(path)
    html = tmp_path / "runs.html"
    html.write_text(f"<html><body><p>Pump A{_RUN}B</p><pre>x{_RUN}y</pre></body></html>", "utf-8")
    files.append(html)

    (tmp_path / "home").mkdir()
    server = start_server(tmp_path / "home", "responsive")
    try:
        client = Client(server.url, verbose=False)
        done: dict[str, object] = {}

        def upload() -> None:
            began = time.monotonic()
            done["result"] = client.predict(
                [handle_file(str(f)) for f in files], api_name="/on_upload"
            )
            done["seconds"] = time.monotonic() - began

        worker = threading.Thread(target=upload)
        worker.start()
        latencies = []
        while worker.is_alive():
            began = time.monotonic()
            assert httpx.get(server.url + "/config", timeout=60).status_code == 200
            latencies.append(time.monotonic() - began)
            time.sleep(0.2)
        worker.join()
        assert "result" in done, server.log_tail()
        assert "runs-0.txt" in str(done["result"])
        print(
            f"upload {done['seconds']:.1f} s, {len(latencies)} requests, slowest {max(latencies):.2f} s"
        )
        assert latencies and max(latencies) < 3.0, (latencies, done.get("seconds"))
    finally:
        stop_server(server)
