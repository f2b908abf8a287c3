"""Run a test script in a subprocess with simulated CPU devices (the rest of the suite keeps
JAX's default single device: the device count is fixed when JAX starts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_with_devices(script: str, n_devices: int, timeout: float = 600) -> dict:
    """Run ``script`` with ``n_devices`` simulated CPU devices; return the JSON it prints on
    its line starting with ``RESULT``."""
    env = dict(os.environ)
    flag = f" --xla_force_host_platform_device_count={n_devices}"
    env["XLA_FLAGS"] = env.get("XLA_FLAGS", "") + flag
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(s for s in proc.stdout.splitlines() if s.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])
