"""Helpers the JupyterLab tests share (a helper module, not a test module)."""
import socket
import subprocess
import urllib.error


def stop_server(process: subprocess.Popen, shutdown) -> None:
    """Stop a `make lab` server: `shutdown()` (the API's clean way, which also stops the kernels), then
    wait, terminate, kill: whichever it takes."""
    if process.poll() is not None:
        return
    try:
        shutdown()
    except (urllib.error.URLError, ConnectionError, socket.timeout):
        pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
