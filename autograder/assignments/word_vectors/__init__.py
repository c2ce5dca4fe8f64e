"""Assignment plug-in: word vectors with a classifier on top (3-class tweets, macro-F1).

Notebook: ``source/word_vectors/word_vectors.ipynb``.
Doc: ``README.md`` in this folder (contract, checks, calibration, budgets).
"""
from __future__ import annotations

import random
from pathlib import Path

from autograder.plugin import Assignment, CellRule

from . import challenges

# Every function the locked training cell uses to build, train and export the graded model.
TRAINING_FUNCTIONS = ("tokenize", "build_vocab", "encode", "pretrained_embedding", "masked_mean", "MeanClassifier",
                      "train_epoch", "export_model")
ARTIFACTS = ("artifact:files", "artifact:vocabulary", "artifact:frozen", "artifact:trained", "artifact:macro_f1")


class WordVectors(Assignment):
    name = "word_vectors"
    notebook = "word_vectors.ipynb"
    version = "1"
    folder = Path(__file__).resolve().parent
    export_files = ("classifier.safetensors", "vocab.json")
    heldout_datasets = ("tweets",)
    corpus_minimums = (5, 6, 10, 7)
    rules = (
        CellRule("test_tokenize", ("tokenize",),
                 "tokenize on fresh tweet-like texts: placeholders, lower-case, contraction pieces, symbols dropped"),
        CellRule("test_build_vocab", ("build_vocab",),
                 "build_vocab on fresh token lists and min_count values: training words only, in order, none from "
                 "the validation tweets"),
        CellRule("test_encode", ("encode",),
                 "encode on fresh vocabularies: fixed width, <unk>, padding and mask; empty, long and unknown-only texts"),
        CellRule("test_coverage", ("glove_coverage",),
                 "glove_coverage with other word vectors: both shares and the out-of-vocabulary list"),
        CellRule("test_embedding", ("pretrained_embedding",),
                 "pretrained_embedding with other word vectors: rows bit for bit, zero rows, frozen or not"),
        CellRule("test_masked_mean", ("masked_mean",),
                 "masked_mean on fresh tensors with garbage under padding and rows of padding only"),
        CellRule("test_classifier", ("MeanClassifier",),
                 "MeanClassifier on other embeddings and label counts: the embedding kept, the head, the logits"),
        CellRule("test_training", ("train_epoch", "predict"),
                 "train_epoch (frozen and trainable embeddings) compared step by step with the reference; predict"),
        CellRule("test_macro_f1", ("macro_f1",),
                 "macro_f1 on fresh labels, with a class never predicted and classes that never occur"),
        CellRule("test_export", ("export_model",),
                 "export_model writes exactly the model's tensors and the words in id order"),
        CellRule("test_heldout_f1", TRAINING_FUNCTIONS + ARTIFACTS,
                 "the graded run's training (with your functions, all of which must pass their checks): the exported "
                 "vocabulary from the training sample, GloVe's rows unchanged, the head trained, macro-F1 on the "
                 "reserved test split at or above the bar"),
        CellRule("test_word2vec", ("train_word2vec",),
                 "train_word2vec on a fresh corpus with another seed: the same words and vectors as the reference"),
    )

    def draw_challenges(self, rng: random.Random) -> list[dict]:
        return challenges.draw(rng)

    def judge(self, spec, student, reference):
        return challenges.judge(spec, student, reference)

    def make_checker(self):
        from .artifacts import Checker

        return Checker(self.bar)

    def fixtures(self):
        from .fixtures import corpus

        return corpus()


ASSIGNMENT = WordVectors()
