"""Assignment plug-in: fine-tune the last layer of MiniLM for movie-review sentiment.

Notebook: ``source/finetune_last_layer/finetune_last_layer.ipynb``.
Doc: ``docs/finetune_last_layer.md`` (contract, checks, calibration, history).
"""
from __future__ import annotations

import random
from pathlib import Path

from autograder.plugin import Assignment, CellRule

from . import challenges

TRAINING_FUNCTIONS = ("encode_batch", "SentimentClassifier", "mean_pool", "freeze_all_but_last", "make_optimizer",
                      "train_one_epoch")


class FinetuneLastLayer(Assignment):
    name = "finetune_last_layer"
    notebook = "finetune_last_layer.ipynb"
    version = "1"
    folder = Path(__file__).resolve().parent
    export_files = ("trained_classifier.safetensors",)
    heldout_datasets = ("rotten_tomatoes",)
    corpus_minimums = (15, 8, 25, 10)  # the core assignment's corpus: see fixtures.py
    # The validation pass and its test only feed an in-notebook number that the trusted stage
    # measures again on the reserved split: the graded run replaces them with a one-line stand-in.
    stand_ins = ("evaluate", "test_accuracy")
    stand_in_note = ("the grader measures accuracy itself, on a reserved test split this notebook never sees "
                     "(see test_accuracy in the table above)")
    rules = (
        CellRule("test_encode_batch", ("encode_batch",),
                 "encode_batch on fresh texts: tensors, truncation to max_length, padding to the longest text"),
        CellRule("test_inspect_model", challenges.INSPECTION,
                 "the five inspection functions on BERT, DistilBERT and GPT-2 models of other depths"),
        CellRule("test_classifier_shapes", ("SentimentClassifier",),
                 "SentimentClassifier on other encoders and label counts: the encoder kept, a Linear head, the logits"),
        CellRule("test_mean_pool", ("mean_pool",), "mean_pool on fresh tensors and padded batches: padding never counts"),
        CellRule("test_freeze_all", ("freeze_all", "count_trainable"),
                 "freeze_all and count_trainable on models with random requires_grad flags"),
        CellRule("test_freeze_all_but_last", ("freeze_all_but_last",),
                 "freeze_all_but_last on classifiers of three architectures: exactly the last block and the head train"),
        CellRule("test_optimizer", ("make_optimizer",), "make_optimizer: AdamW over exactly the trainable parameters"),
        CellRule("test_training_loop", ("train_one_epoch", "predict"),
                 "train_one_epoch (masking off and on) and predict, compared step by step with the reference"),
        CellRule("test_accuracy", TRAINING_FUNCTIONS + ("artifact:snapshot", "artifact:frozen", "artifact:trained",
                                                        "artifact:accuracy"),
                 "the graded run's training (with your functions, all of which must pass their checks): "
                 "frozen tensors unchanged, last layer trained, accuracy on the reserved test split"),
        CellRule("test_export", ("export_weights",), "export_weights writes exactly the state of the model it is given"),
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


ASSIGNMENT = FinetuneLastLayer()
