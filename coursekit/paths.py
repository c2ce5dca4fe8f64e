"""Where the project and its local data folder live."""
import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent


def data_dir() -> Path:
    """The project-local data folder (``COURSE_DATA`` overrides it)."""
    override = os.environ.get("COURSE_DATA")
    path = Path(override) if override else PROJECT_ROOT / ".data"
    path.mkdir(parents=True, exist_ok=True)
    return path
