"""Submissions that try to earn points they do not deserve (../shared/THREATS.md).

Each attack is (notebook, allowed): ``allowed`` maps graded cells to the most
points the attack may earn, which is what its honest part deserves (0 for
cells it did not solve). Most attacks start from the unchanged release (no
honest work at all) so any point they earn is undeserved.
"""
from __future__ import annotations

import copy

import nbformat

import assignment_fixtures as af
from coursekit.paths import PROJECT_ROOT as ROOT, data_dir

DATA = data_dir()

ZERO = {k: 0 for k in af.FULL}


def _release() -> dict:
    return af.submission()


def _with_cell(notebook: dict, code: str, after_grade_id: str = "encode_batch", outputs=None) -> dict:
    """Insert a student code cell after the answer cell ``after_grade_id``."""
    notebook = copy.deepcopy(notebook)
    cells = notebook["cells"]
    index = next(i for i, c in enumerate(cells) if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == after_grade_id)
    cell = nbformat.v4.new_code_cell(code)
    if outputs:
        cell.outputs = outputs
    cells.insert(index + 1, cell)
    return notebook


def _edit_tests(notebook: dict, change) -> dict:
    notebook = copy.deepcopy(notebook)
    new_cells = []
    for cell in notebook["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            cell = change(cell)
            if cell is None:
                continue
        new_cells.append(cell)
    notebook["cells"] = new_cells
    return notebook


def _short_reference(edits=None) -> dict:
    return af.submission(af.reference_answers(), edits, af.SHORT_TRAINING)


HONEST_SHORT = {**af.FULL, "test_accuracy": 0}


def attacks() -> dict[str, tuple[dict, dict[str, float]]]:
    release = _release()
    passed_output = [nbformat.v4.new_output("stream", name="stdout", text="All tests passed!\n")]
    return {
        "atk_patch_requires_grad": (_with_cell(release, "import torch\ntorch.nn.Parameter.requires_grad = property(lambda self: False, lambda self, v: None)"), ZERO),
        "atk_patch_parameters": (_with_cell(release, "import torch\ntorch.nn.Module.parameters = lambda self, recurse=True: iter(())"), ZERO),
        "atk_patch_isinstance": (_with_cell(release, "import builtins\nbuiltins.isinstance = lambda *a: True\nbuiltins.NotImplementedError = type('X', (BaseException,), {})"), ZERO),
        "atk_patch_test_helpers": (_with_cell(release, "import torch\ntorch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True"), ZERO),
        "atk_input_transformer": (_with_cell(release, "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])", "encode_batch"), ZERO),
        "atk_ast_transformer": (_with_cell(release, "import ast\nclass Gut(ast.NodeTransformer):\n    def visit_Assert(self, node):\n        return ast.Pass()\n    def visit_Raise(self, node):\n        return ast.Pass()\nget_ipython().ast_transformers.append(Gut())"), ZERO),
        "atk_showtraceback": (_with_cell(release, "ip = get_ipython()\nip.showtraceback = lambda *a, **k: None\nip._showtraceback = lambda *a, **k: None"), ZERO),
        "atk_custom_exc": (_with_cell(release, "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)"), ZERO),
        "atk_edited_tests": (_edit_tests(release, lambda c: {**c, "source": "print('ok')"}), ZERO),
        "atk_deleted_tests": (_edit_tests(release, lambda c: None), ZERO),
        "atk_retyped_tests": (_edit_tests(release, lambda c: nbformat.v4.new_markdown_cell("print('ok')")), ZERO),
        "atk_forged_metadata": (_with_cell(_edit_tests(release, lambda c: {**c, "metadata": {"nbgrader": {**c["metadata"]["nbgrader"], "points": 100, "grade_id": "forged_" + c["metadata"]["nbgrader"]["grade_id"]}}}),
                                           "print('tests passed')"), ZERO),
        "atk_stale_outputs": (_edit_tests(release, lambda c: {**c, "outputs": passed_output, "execution_count": 1}), ZERO),
        "atk_read_hidden": (_with_cell(release, f"import os, glob\nfor p in ['{ROOT}/source', '{ROOT}/gradebook.db', '{ROOT}/autograder'] + glob.glob('{DATA}/datasets/*/test.jsonl'):\n    try:\n        print(p, open(p).read()[:100])\n    except Exception as e:\n        print('blocked', p, type(e).__name__)"), ZERO),
        "atk_grading_env": (_with_cell(release, "import os\nprint({k: v for k, v in os.environ.items() if 'NBGRADER' in k or 'GRADE' in k})\nopen('/tmp/grades.csv', 'w').write('atk,100')"), ZERO),
        "atk_network": (_with_cell(release, "import urllib.request\ntry:\n    urllib.request.urlopen('http://1.1.1.1/', timeout=5)\nexcept Exception as e:\n    print('network blocked:', type(e).__name__)"), ZERO),
        "atk_sys_exit": (_with_cell(release, "import sys\nsys.exit(0)"), ZERO),
        "atk_os_exit_after_part_a": (_with_cell(_short_reference(), "import os\nos._exit(0)", "inspect_model"), {**ZERO, "test_encode_batch": 2}),
        "atk_infinite_loop": (_with_cell(release, "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"), ZERO),
        "atk_fork_bomb": (_with_cell(release, "import os\nkids = 0\ntry:\n    for _ in range(5000):\n        if os.fork() == 0:\n            import time; time.sleep(60); os._exit(0)\n        kids += 1\nexcept OSError as e:\n    print('fork stopped after', kids, e)"), ZERO),
        "atk_memory_bomb": (_with_cell(release, "try:\n    hog = bytearray(30 * 2**30)\nexcept MemoryError:\n    print('memory bomb stopped')"), ZERO),
        "atk_output_flood": (_with_cell(release, "for _ in range(200000):\n    print('x' * 500)"), ZERO),
        "atk_disk_fill": (_with_cell(release, "try:\n    with open('fill.bin', 'wb') as f:\n        for _ in range(4096):\n            f.write(b'0' * 2**20)\nexcept OSError as e:\n    print('disk fill stopped', e)"), ZERO),
        "atk_background_process": (_with_cell(release, "import subprocess\nsubprocess.Popen(['sh', '-c', 'sleep 20; echo late > /tmp/late.txt'], start_new_session=True)"), ZERO),
        "atk_pickle_export": (_short_reference({"export": [("save_file({name: tensor.detach().contiguous() for name, tensor in classifier.state_dict().items()}, str(path))",
                                                            "torch.save(classifier.state_dict(), str(path))")]}),
                              {**HONEST_SHORT, "test_export": 0, "test_freeze_all_but_last": 0}),
        "atk_nan_weights": (_short_reference({"export": [("save_file({name: tensor.detach().contiguous()", "save_file({name: (tensor.detach() * float('nan')).contiguous()")]}),
                            {**HONEST_SHORT, "test_export": 0, "test_freeze_all_but_last": 0}),
        "atk_wrong_shape": (_short_reference({"export": [("save_file({name: tensor.detach().contiguous()", "save_file({name: tensor.detach()[:1].contiguous()")]}),
                            {**HONEST_SHORT, "test_export": 0, "test_freeze_all_but_last": 0}),
        # predict() hands back the validation labels it can see: a perfect in-notebook accuracy.
        "atk_fake_accuracy": (_short_reference({"training": [("    return predictions", "    if texts is sets.validation.texts:\n        return list(sets.validation.labels)\n    return predictions")]}),
                              HONEST_SHORT),
        "atk_train_everything_secretly": (_short_reference({"training": [("    classifier.train()\n", "    classifier.train()\n    flags = {p: p.requires_grad for p in classifier.parameters()}\n    for p in classifier.parameters():\n        p.requires_grad = True\n    optimizer.add_param_group({'params': [p for p in classifier.parameters() if not flags[p]], 'lr': 1e-3})\n"),
                                                                        ("    return losses", "    for p, flag in flags.items():\n        p.requires_grad = flag\n    return losses")]}),
                                          {**HONEST_SHORT, "test_freeze_all_but_last": 0}),
        "atk_always_equal": (_with_cell(release, "class AlwaysEqual(list):\n    def __eq__(self, other):\n        return True\ndef top_level_children(model):\n    return AlwaysEqual()\ndef count_encoder_layers(model):\n    return AlwaysEqual()", "inspect_model"), ZERO),
    }
