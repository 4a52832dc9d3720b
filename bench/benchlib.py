"""What every benchmark under bench/ shares: waiting for a driver's socket,
reading a process's memory, and running `dynvolctl bench`."""

import json
import signal
import socket
import subprocess
import time


def rss_kb(pid, field="VmRSS"):
    """VmRSS (or another /proc/PID/status field, e.g. RssAnon) in kB, or
    None without a pid or once the process is gone."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def wait_socket(path, proc, timeout=10):
    """Returns once path accepts connections; exits if proc (when given)
    died first or nothing listened within timeout seconds."""
    end = time.time() + timeout
    while time.time() < end:
        if proc and proc.poll() is not None:
            raise SystemExit(f"driver exited with {proc.returncode}")
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            s.close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("driver did not start listening")


def ctl_bench(ctl, endpoint, *args):
    """`dynvolctl -e endpoint -o json bench args...`, parsed."""
    out = subprocess.run([ctl, "-e", endpoint, "-o", "json", "bench", *args],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"bench {args} failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def stop_driver(proc, timeout=30):
    """SIGTERM (the driver drains), then SIGKILL if it takes longer than
    timeout seconds; None is nothing to stop."""
    if not proc:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
