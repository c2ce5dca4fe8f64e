"""Assignment plug-in: transfer (frozen MiniLM features + logistic regression) versus a model trained from
scratch, as the training set grows from 100 to 2,000 movie-review snippets.

Notebook: ``source/transfer_vs_scratch/transfer_vs_scratch.ipynb``.
Doc: ``README.md`` next to this file (contract, checks, tolerances, calibration, corpus).
"""
from __future__ import annotations

import random
from pathlib import Path

from autograder.plugin import Assignment, CellRule

from . import challenges

TRANSFER_FUNCTIONS = ("nested_subsets", "embed_texts", "fit_probe")
SCRATCH_FUNCTIONS = ("nested_subsets", "tokenize", "build_vocab", "encode", "BagOfEmbeddings", "train_scratch")


class TransferVsScratch(Assignment):
    name = "transfer_vs_scratch"
    notebook = "transfer_vs_scratch.ipynb"
    version = "2"  # 2: the retrained points are sampled under the grading's secret key
    folder = Path(__file__).resolve().parent
    export_files = ("curve.json", "curve.safetensors")
    heldout_datasets = ("rotten_tomatoes",)
    # A small corpus on purpose: every full notebook costs about a minute of CI (see README.md, "Corpus").
    corpus_minimums = (4, 5, 9, 8)
    rules = (
        CellRule("test_nested_subsets", ("nested_subsets",),
                 "nested_subsets on fresh pools, sizes and seeds: prefixes of one permutation; too-large sizes refused"),
        CellRule("test_embed_texts", ("embed_texts",),
                 "embed_texts with MiniLM and random BERT encoders: the mean over real tokens, rows in order"),
        CellRule("test_fit_probe", ("fit_probe",), "fit_probe on fresh features: LogisticRegression(C, max_iter=1000)"),
        CellRule("test_vocabulary", ("tokenize", "build_vocab"),
                 "tokenize and build_vocab on fresh texts: exact ids, only the words of the texts given"),
        CellRule("test_scratch_model", ("encode", "BagOfEmbeddings"),
                 "encode and BagOfEmbeddings on fresh texts, vocabularies and sizes: ids, padding, the mean, logits"),
        CellRule("test_train_scratch", ("train_scratch",),
                 "train_scratch on the grader's model: every batch loss and the trained weights"),
        CellRule("test_transfer_curve", TRANSFER_FUNCTIONS + ("artifact:export", "artifact:indices",
                                                              "artifact:transfer_points", "artifact:bar"),
                 "the graded run's transfer curve (with your functions, all of which must pass their checks): the "
                 "fixed subsets, every saved accuracy confirmed, sampled points retrained by the grader, the bar on "
                 "the reserved test split"),
        CellRule("test_scratch_curve", SCRATCH_FUNCTIONS + ("artifact:export", "artifact:indices", "artifact:vocab",
                                                            "artifact:scratch_points"),
                 "the graded run's scratch curve (with your functions, all of which must pass their checks): the same "
                 "subsets as the probe, vocabularies from their subsets only, every saved accuracy confirmed, sampled "
                 "points retrained by the grader"),
        CellRule("test_summary", ("summarize",), "summarize on fresh results: mean, sample std, min, max, repeats"),
        CellRule("test_plot", ("plot_curves",), "plot_curves on a fresh table: log x-axis, error bars, labels, legend"),
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


ASSIGNMENT = TransferVsScratch()
