import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run_python(code: str, env: dict | None = None, args: tuple = (), timeout: int = 300, cwd=ROOT):
    """Run ``code`` in a fresh interpreter of this venv; return the CompletedProcess."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, *args, "-c", code], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=cwd)


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT
