"""Loaders for the pretrained models: the transformer encoder and its
tokenizer, GloVe vectors, and the spaCy pipeline.

Every loader defaults to an asset that ships in a pip package (verified by
hash first), and also accepts a Hugging Face hub name or a local folder so a
user who has, say, ``distilbert-base-uncased`` can swap it in.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from coursekit import assets
from coursekit.paths import data_dir

DEFAULT_ENCODER = "minilm"
# Names that mean the packaged MiniLM (what a student may copy from the hub docs).
_MINILM_ALIASES = {"minilm", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}


def encoder_location(name_or_path: str | os.PathLike | None = None) -> str:
    """Resolve a model reference to something ``from_pretrained`` accepts.

    ``None`` or a MiniLM alias gives the verified packaged copy; an existing
    folder is used as it is; anything else is passed on as a hub name.
    """
    if name_or_path is None or str(name_or_path) in _MINILM_ALIASES:
        return str(assets.verify(DEFAULT_ENCODER))
    if Path(name_or_path).expanduser().is_dir():
        return str(Path(name_or_path).expanduser())
    return str(name_or_path)


def _from_pretrained(loader, name_or_path):
    location = encoder_location(name_or_path)
    try:
        return loader.from_pretrained(location)
    except OSError as error:
        raise assets.AssetMissingError(
            f"Could not load {name_or_path!r}: it is neither the packaged MiniLM, nor a local folder, "
            f"nor a model in your Hugging Face cache (this course runs offline; HF_HUB_OFFLINE="
            f"{os.environ.get('HF_HUB_OFFLINE')}). Use the default (pip package "
            f"'{assets.get(DEFAULT_ENCODER).pip_name}') or pass the path of a downloaded model folder."
        ) from error


def load_tokenizer(name_or_path: str | os.PathLike | None = None):
    """The tokenizer that matches :func:`load_encoder` (a fast Hugging Face tokenizer)."""
    from transformers import AutoTokenizer

    return _from_pretrained(AutoTokenizer, name_or_path)


def vocabulary(name_or_path: str | os.PathLike | None = None) -> dict[str, int]:
    """The tokenizer's vocabulary (word piece -> id), read without importing transformers (0.1 s, not 4 s)."""
    location = encoder_location(name_or_path)
    tokenizer_file = Path(location) / "tokenizer.json"
    if tokenizer_file.is_file():
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(tokenizer_file)).get_vocab()
    return load_tokenizer(name_or_path).get_vocab()


def load_encoder(name_or_path: str | os.PathLike | None = None):
    """The pretrained transformer encoder (``AutoModel``), in eval mode on the CPU."""
    from transformers import AutoModel

    model = _from_pretrained(AutoModel, name_or_path)
    return model.eval()


# ---------------------------------------------------------------- GloVe
GLOVE = "glove-6b-50d"


def _glove_cache() -> Path:
    return data_dir() / "cache" / "glove-6b-50d.kv"


def load_glove(mmap: bool = True):
    """GloVe 6B 50-d as gensim ``KeyedVectors`` (400,000 words).

    The first call builds the vectors from the packaged arrays (a few seconds)
    and saves gensim's native format in the data folder; later calls
    memory-map that copy, which takes well under a second.
    """
    from gensim.models import KeyedVectors

    folder = assets.verify(GLOVE)
    cache = _glove_cache()
    stamp_file = cache.with_suffix(".source.json")
    source_hashes = assets.load_manifest()[GLOVE]
    if cache.exists() and stamp_file.exists() and json.loads(stamp_file.read_text()) == source_hashes:
        return KeyedVectors.load(str(cache), mmap="r" if mmap else None)
    vectors = build_glove(folder)
    cache.parent.mkdir(parents=True, exist_ok=True)
    vectors.save(str(cache))
    stamp_file.write_text(json.dumps(source_hashes))
    return vectors


def build_glove(folder: Path):
    """Assemble KeyedVectors from the package's .npy matrix and parquet word index."""
    import numpy as np
    import pyarrow.parquet as pq
    from gensim.models import KeyedVectors

    matrix = np.load(folder / "glove_6B_50d_emb.npy")
    words = pq.read_table(folder / "glove_6B_index.parquet").column("index").to_pylist()
    if len(words) != matrix.shape[0]:
        raise assets.AssetCorruptError(f"GloVe index has {len(words)} words but {matrix.shape[0]} vectors")
    vectors = KeyedVectors(vector_size=matrix.shape[1])  # no count=: it would add zero rows
    vectors.add_vectors([str(w) for w in words], matrix.astype(np.float32, copy=False))
    return vectors


# ---------------------------------------------------------------- spaCy
SPACY = "spacy-en-sm"


def load_spacy(name: str | None = None):
    """An English spaCy pipeline: ``name`` if given, else the upstream
    ``en_core_web_sm`` when installed, else the verified packaged copy."""
    import spacy

    if name:
        return spacy.load(name)
    try:
        return spacy.load("en_core_web_sm")
    except OSError:
        pass
    folder = assets.verify(SPACY)
    return spacy.load(folder)
