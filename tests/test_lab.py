"""JupyterLab for real: the server lists the notebooks and a kernel runs recsys."""

import asyncio
import json
import secrets
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from integration import free_port

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    port, token = free_port(), secrets.token_hex(16)
    runtime = tmp_path_factory.mktemp("jupyter-runtime")
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.port={port}",
           "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={NOTEBOOKS}",
           "--ServerApp.port_retries=0", "--allow-root"]
    env = {"JUPYTER_RUNTIME_DIR": str(runtime), "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
           "HOME": str(runtime)}
    server = subprocess.Popen(cmd, cwd=NOTEBOOKS, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    out = server.stdout.read() if server.poll() is not None else ""
                    pytest.fail(f"JupyterLab did not start: {out[-2000:]}")
                time.sleep(0.3)
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


def api(base, token, path, method="GET", body=None):
    req = urllib.request.Request(f"{base}{path}", method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read()
        return json.loads(text) if text else None


def test_the_notebooks_are_listed(lab):
    base, token = lab
    listing = api(base, token, "/api/contents/")
    names = sorted(item["name"] for item in listing["content"] if item["type"] == "notebook")
    assert names == sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) and names
    first = api(base, token, f"/api/contents/{names[0]}")
    assert first["content"]["cells"][0]["cell_type"] == "markdown"


def test_a_kernel_starts_and_imports_recsys(lab):
    base, token = lab
    kernel = api(base, token, "/api/kernels", method="POST", body={"name": "python3"})
    try:
        reply = asyncio.run(execute(base, token, kernel["id"],
                                    "import recsys\nprint(recsys.__version__, len(recsys.__all__))"))
        import recsys

        assert reply["status"] == "ok"
        assert reply["stdout"].split() == [recsys.__version__, str(len(recsys.__all__))]
    finally:
        api(base, token, f"/api/kernels/{kernel['id']}", method="DELETE")


async def execute(base, token, kernel_id, code, timeout=60):
    """Run code in a kernel through the server's websocket (the Jupyter messaging protocol)."""
    from tornado.websocket import websocket_connect

    url = base.replace("http", "ws") + f"/api/kernels/{kernel_id}/channels?token={token}"
    ws = await websocket_connect(url)
    msg_id = uuid.uuid4().hex
    ws.write_message(json.dumps({
        "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex, "msg_type": "execute_request",
                   "version": "5.3", "date": ""},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }))
    stdout, status, idle = [], None, False
    deadline = time.time() + timeout
    while time.time() < deadline and not (idle and status is not None):  # either may come first
        raw = await asyncio.wait_for(ws.read_message(), timeout=deadline - time.time())
        if raw is None:
            break
        msg = json.loads(raw)
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = msg["header"]["msg_type"]
        if kind == "stream" and msg["content"]["name"] == "stdout":
            stdout.append(msg["content"]["text"])
        elif kind == "error":
            stdout.append("\n".join(msg["content"]["traceback"]))
        elif kind == "execute_reply":
            status = msg["content"]["status"]
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            idle = True
    ws.close()
    return {"status": status, "stdout": "".join(stdout)}
