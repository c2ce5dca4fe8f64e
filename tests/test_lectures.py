"""Every lecture notebook runs top to bottom offline, and is committed clean."""
import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT

LECTURES = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


def _ids(paths):
    return [p.stem for p in paths]


@pytest.mark.parametrize("path", LECTURES, ids=_ids(LECTURES))
def test_lecture_is_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"stale output in {path.name}"


@pytest.mark.parametrize("path", LECTURES, ids=_ids(LECTURES))
def test_lecture_opens_with_objectives_and_ends_with_a_summary(path):
    notebook = nbformat.read(path, as_version=4)
    first = notebook.cells[0].source.lower()
    assert "objectives" in first and "prerequisites" in first
    tail = " ".join(c.source.lower() for c in notebook.cells[-3:] if c.cell_type == "markdown")
    assert "summary" in tail and "exercise" in tail


@pytest.mark.slow
@pytest.mark.parametrize("path", LECTURES, ids=_ids(LECTURES))
def test_lecture_executes_without_errors(path, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors


MODELS = ["Word2Vec", "GloVe", "spaCy", "NLTK's part-of-speech tagger", "Punkt", "BERT", "DistilBERT", "ALBERT",
          "ELMo", "Flair", "RoBERTa", "GPT-3", "Hugging Face Transformers", "TensorFlow Hub"]


def test_topic_table_maps_every_model_a_student_hears_about():
    table = (ROOT / "notebooks" / "README.md").read_text()
    missing = [m for m in MODELS if m not in table]
    assert not missing
    for lecture in LECTURES:
        assert lecture.name in table
