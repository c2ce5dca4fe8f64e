"""The finetune_last_layer corpus: submissions a real class hands in, with the points each deserves.

* honest: unusual but correct solutions; every one keeps all 17 automatic points;
* mistake: plausible wrong answers, each losing exactly its share (the cells it
  fails, and the accuracy points when a function the training uses fails);
* attack: the THREATS.md categories; each may keep at most what its honest part
  deserves (zero where it did no honest work).

Bad input (empty files, broken JSON, ...) is generic: see autograder/bad_inputs.py.
"""
from __future__ import annotations

import copy
import json

import nbformat

from autograder.fixtures import Fixture, Notebooks, add_cell, edit_cells, less, zero
from coursekit.paths import PROJECT_ROOT, data_dir

NAME = "finetune_last_layer"
FULL = {"test_encode_batch": 2, "test_inspect_model": 3, "test_classifier_shapes": 1, "test_mean_pool": 2,
        "test_freeze_all": 1, "test_freeze_all_but_last": 2, "test_optimizer": 1, "test_training_loop": 1,
        "test_accuracy": 2, "test_export": 2}
ZERO = zero(FULL)


# ----------------------------------------------------------------- honest
def honest(nb: Notebooks) -> dict[str, Fixture]:
    ref = nb.reference_answers()
    solved = nb.solved
    out = {}

    def add(name, what, notebook):
        out[f"ok_{name}"] = Fixture("honest", what, notebook, expected=dict(FULL))

    add("requires_grad_idiom", "freezing with Module.requires_grad_ instead of a loop over parameters", solved({
        "freezing": [("    for parameter in model.parameters():\n        parameter.requires_grad = False",
                      "    model.requires_grad_(False)"),
                     ("    for parameter in encoder_layers(classifier.encoder)[-1].parameters():\n        parameter.requires_grad = True\n"
                      "    for parameter in classifier.head.parameters():\n        parameter.requires_grad = True",
                      "    encoder_layers(classifier.encoder)[-1].requires_grad_(True)\n    classifier.head.requires_grad_()")]}))
    add("einsum_pool", "mean pooling with einsum", solved({"classifier": [(
        "    mask = attention_mask.unsqueeze(-1).to(hidden_states.dtype)\n    return (hidden_states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)",
        "    weights = attention_mask.to(hidden_states.dtype)\n    summed = torch.einsum('bsd,bs->bd', hidden_states, weights)\n"
        "    return summed / weights.sum(dim=1, keepdim=True)")]}))
    add("masked_fill_pool", "mean pooling with masked_fill and token counts", solved({"classifier": [(
        "    mask = attention_mask.unsqueeze(-1).to(hidden_states.dtype)\n    return (hidden_states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)",
        "    padding = attention_mask.unsqueeze(-1) == 0\n    total = hidden_states.masked_fill(padding, 0.0).sum(dim=1)\n"
        "    count = attention_mask.sum(dim=1, keepdim=True)\n    return total / count")]}))
    add("recursive_layer_search", "encoder_layers found by walking named_modules for the longest ModuleList, parameters "
        "counted with named_modules", solved({"inspect_model": [(
            "    lists = [module for module in model.modules() if isinstance(module, nn.ModuleList)]\n    return max(lists, key=len)",
            "    best = None\n    for _, module in model.named_modules():\n        if isinstance(module, torch.nn.ModuleList) and (best is None or len(module) > len(best)):\n"
            "            best = module\n    return best"),
            ("    return [name for name, _ in model.named_children()]", "    return list(dict(model.named_children()))")]}))
    add("dict_encoding", "encode_batch with padding=True, keyword order changed, returned as a plain dict", solved({
        "encode_batch": [('    return tokenizer(list(texts), padding="longest", truncation=True, max_length=max_length, return_tensors="pt")',
                          '    encoded = tokenizer(texts, return_tensors="pt", max_length=max_length, truncation=True, padding=True)\n'
                          '    return {key: value for key, value in encoded.items()}')]}))
    add("filter_optimizer", "count_trainable and make_optimizer written with filter(), weight decay given explicitly", solved({
        "freezing": [("    return sum(p.numel() for p in model.parameters() if p.requires_grad)",
                      "    return sum(map(lambda p: p.numel(), filter(lambda p: p.requires_grad, model.parameters())))"),
                     ("    return torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)",
                      "    return torch.optim.AdamW(filter(lambda p: p.requires_grad, model.parameters()), lr=lr, weight_decay=0.01)")]}))
    add("loss_module_loop", "a training loop with nn.CrossEntropyLoss, zero_grad(set_to_none=True) first and float(loss)", solved({
        "training": [("        batch = mask_tokens(encode_batch(tokenizer, [texts[i] for i in chosen]), tokenizer, mask_rate)\n"
                      "        targets = torch.tensor([labels[i] for i in chosen])\n"
                      "        loss = nn.functional.cross_entropy(classifier(batch[\"input_ids\"], batch[\"attention_mask\"]), targets)\n"
                      "        optimizer.zero_grad()\n        loss.backward()\n        optimizer.step()\n        losses.append(loss.item())",
                      "        optimizer.zero_grad(set_to_none=True)\n        encoded = encode_batch(tokenizer, [texts[i] for i in chosen])\n"
                      "        encoded = mask_tokens(encoded, tokenizer, mask_rate)\n        criterion = nn.CrossEntropyLoss()\n"
                      "        logits = classifier(input_ids=encoded['input_ids'], attention_mask=encoded['attention_mask'])\n"
                      "        loss = criterion(logits, torch.as_tensor([labels[i] for i in chosen]))\n"
                      "        loss.backward()\n        optimizer.step()\n        losses.append(float(loss))")]}))
    add("argmax_predict", "predict with torch.argmax and an explicit index loop; classifier forward with outputs[0]", solved({
        "training": [("            labels = classifier(batch[\"input_ids\"], batch[\"attention_mask\"]).argmax(dim=-1).tolist()\n"
                      "            for i, label in zip(chosen, labels):\n                predictions[i] = label",
                      "            logits = classifier(batch[\"input_ids\"], batch[\"attention_mask\"])\n"
                      "            best = torch.argmax(logits, dim=1)\n            for position in range(len(chosen)):\n"
                      "                predictions[chosen[position]] = int(best[position])")],
        "classifier": [("        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state",
                        "        hidden = self.encoder(input_ids, attention_mask=attention_mask)[0]")]}))
    explore = solved()
    for after, code in (("encode_batch", "import os, sys, warnings\nos.environ['TOKENIZERS_PARALLELISM'] = 'false'\n"
                                         "warnings.warn('just checking')\nprint('debug', file=sys.stderr)\nprint(encode_batch(tokenizer, ['hi there']))"),
                        ("inspect_model", "%time count_encoder_layers(encoder)\n!pip list 2>/dev/null | grep -i torch"),
                        ("classifier", "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()\nimport torch\ntorch.manual_seed(123)"),
                        ("freezing", "%%capture\nprint(count_trainable(SentimentClassifier(encoder)))")):
        explore = add_cell(explore, code, after)
    add("exploration_cells", "exploration cells: os/sys/warnings, stderr, %time, !pip, %%capture, plots, a seed", explore)
    helpers = add_cell(solved(), "def json(x):\n    return str(x)\n\ndef copy(x):\n    return x\n\nre = 're is a word too'\n"
                       "def collections():\n    return []\nprint(json(1), copy(2), re)", "encode_batch")
    add("helpers_named_like_modules", "helpers named json, copy, re and collections", helpers)
    stale = solved()
    for count, cell in enumerate(stale["cells"]):
        if cell["cell_type"] == "code":
            cell["execution_count"] = 97 - count
            cell["outputs"] = [nbformat.v4.new_output("stream", name="stdout", text="All tests passed!\n")]
    add("stale_outputs", "out-of-order execution counts and stale outputs left in the file", json.loads(json.dumps(stale)))
    unicode = solved({"encode_batch": [('    """Tokenize', '    # Ünïcödé: café, naïve, 😀, 中文\n    """Tokenize')]})
    for cell in unicode["cells"]:
        cell["source"] = cell["source"].replace("\n", "\r\n") if isinstance(cell["source"], str) else cell["source"]
    add("unicode_crlf", "unicode comments and CRLF line endings", unicode)
    fresh_ids = solved()
    for number, cell in enumerate(fresh_ids["cells"]):
        cell["id"] = f"student-{number:03d}"
    fresh_ids["metadata"]["kernelspec"] = {"name": "nlp-course", "display_name": "NLP (venv)", "language": "python"}
    add("new_ids_other_kernel", "every cell id regenerated and a custom kernel name", fresh_ids)
    add("nbformat3", "saved as nbformat 3 by an old tool", nbformat.v3.convert.downgrade(nbformat.from_dict(solved())))
    add("reads_val_accuracy", "a cell of the student's own that prints val_accuracy (the validation pass then runs)",
        add_cell(solved(), 'print(f"my validation accuracy was {val_accuracy:.3f}")', "export"))
    return out


# ----------------------------------------------------------------- mistakes
def mistakes(nb: Notebooks) -> dict[str, Fixture]:
    solved = nb.solved
    out = {}

    def add(name, what, notebook, *lost):
        out[f"mistake_{name}"] = Fixture("mistake", what, notebook, expected=less(FULL, *lost))

    freeze_loop = ("    for parameter in encoder_layers(classifier.encoder)[-1].parameters():\n        parameter.requires_grad = True\n"
                   "    for parameter in classifier.head.parameters():\n        parameter.requires_grad = True")
    add("everything_trainable", "freeze_all_but_last forgets to freeze first",
        solved({"freezing": [("    freeze_all(classifier)\n", "")]}), "test_freeze_all_but_last", "test_accuracy")
    add("nothing_trainable", "freeze_all_but_last only freezes", solved({"freezing": [(freeze_loop, "    pass")]}),
        "test_freeze_all_but_last", "test_accuracy")
    add("first_layer_unfrozen", "unfreezes the first encoder layer instead of the last",
        solved({"freezing": [("encoder_layers(classifier.encoder)[-1]", "encoder_layers(classifier.encoder)[0]")]}),
        "test_freeze_all_but_last", "test_accuracy")
    add("pooler_trainable", "leaves the pooler trainable too", solved({"freezing": [(
        "    for parameter in classifier.head.parameters():",
        "    for parameter in classifier.encoder.pooler.parameters():\n        parameter.requires_grad = True\n"
        "    for parameter in classifier.head.parameters():")]}), "test_freeze_all_but_last", "test_accuracy")
    add("hard_coded_layers", "encoder_layers hard-codes BERT's encoder.layer (fails on DistilBERT and GPT-2)", solved({
        "inspect_model": [("    lists = [module for module in model.modules() if isinstance(module, nn.ModuleList)]\n    return max(lists, key=len)",
                           "    return model.encoder.layer")]}),
        "test_inspect_model", "test_freeze_all_but_last", "test_accuracy")
    add("pool_counts_padding", "mean_pool averages the padding too", solved({"classifier": [(
        "    mask = attention_mask.unsqueeze(-1).to(hidden_states.dtype)\n    return (hidden_states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)",
        "    return hidden_states.mean(dim=1)")]}), "test_mean_pool", "test_accuracy")
    add("mask_result_unused", "calls mask_tokens but trains on the unmasked batch", solved({"training": [(
        "        batch = mask_tokens(encode_batch(tokenizer, [texts[i] for i in chosen]), tokenizer, mask_rate)",
        "        batch = encode_batch(tokenizer, [texts[i] for i in chosen])\n        mask_tokens(batch, tokenizer, mask_rate)")]}),
        "test_training_loop", "test_accuracy")
    add("no_zero_grad", "never zeroes the gradients", solved({"training": [("        optimizer.zero_grad()\n", "")]}),
        "test_training_loop", "test_accuracy")
    add("export_trainable_only", "export_weights saves only the trainable tensors", solved({"export": [(
        "for name, tensor in model.state_dict().items()}",
        "for name, tensor in model.state_dict().items() if dict(model.named_parameters()).get(name) is not None "
        "and dict(model.named_parameters())[name].requires_grad}")]}), "test_export")
    # Students make more than one mistake: two independent ones in one notebook lose both shares.
    add("inspection_crashes_and_predict_order", "top_level_children left unfinished, and predict returns labels in "
        "batch order", solved({"inspect_model": [("    return [name for name, _ in model.named_children()]",
                                                  '    raise RuntimeError("unfinished")')],
                               "training": [("            for i, label in zip(chosen, labels):\n                predictions[i] = label",
                                             "            for label in labels:\n                predictions[predictions.index(None)] = label")]}),
        "test_inspect_model", "test_training_loop")
    add("counts_tensors_and_export_not_contiguous", "count_trainable counts tensors, and export_weights forgets "
        ".contiguous()", solved({"freezing": [("sum(p.numel() for p in model.parameters() if p.requires_grad)",
                                               "sum(1 for p in model.parameters() if p.requires_grad)")],
                                 "export": [("tensor.detach().contiguous()", "tensor.detach()")]}),
        "test_freeze_all", "test_export")
    add("pads_to_max_length_and_everything_trainable", "encode_batch pads every batch to max_length, and "
        "freeze_all_but_last forgets to freeze first (the training cell refuses to train)",
        solved({"encode_batch": [('padding="longest"', 'padding="max_length"')],
                "freezing": [("    freeze_all(classifier)\n", "")]}),
        "test_encode_batch", "test_freeze_all_but_last", "test_accuracy")
    add("hard_coded_width_and_optimizer", "the head's width hard-coded to 384, and AdamW handed every parameter",
        solved({"classifier": [("nn.Linear(encoder.config.hidden_size, num_labels)", "nn.Linear(384, num_labels)")],
                "freezing": [("[p for p in model.parameters() if p.requires_grad]", "model.parameters()")]}),
        "test_classifier_shapes", "test_optimizer", "test_accuracy")
    return out


# ----------------------------------------------------------------- attacks
ROOT, DATA = PROJECT_ROOT, data_dir()


def attacks(nb: Notebooks) -> dict[str, Fixture]:
    release = nb.submission()
    solved = nb.solved
    out = {}

    def add(name, category, what, notebook, allowed=None):
        out[f"atk_{name}"] = Fixture("attack", what, notebook, allowed=dict(allowed or ZERO), category=category)

    def cell(code, after="encode_batch", base=None):
        return add_cell(base if base is not None else release, code, after)

    def tests(change, base=None):
        from autograder import nbmeta

        return edit_cells(base if base is not None else release,
                          lambda c: change(c) if nbmeta.is_test(c) else c)

    passed = [json.loads(json.dumps(nbformat.v4.new_output("stream", name="stdout", text="All tests passed!\n")))]
    # Edited, deleted or forged test cells and metadata; stale "passed" outputs.
    add("edited_tests", "tests", "every test cell replaced by print('ok')", tests(lambda c: {**c, "source": "print('ok')"}))
    add("deleted_tests", "tests", "every test cell deleted", tests(lambda c: None))
    add("retyped_tests", "tests", "every test cell turned into markdown",
        tests(lambda c: json.loads(json.dumps(nbformat.v4.new_markdown_cell("print('ok')")))))
    add("forged_metadata", "tests", "answer cells marked as locked 100-point tests, tests renamed",
        edit_cells(release, lambda c: {**c, "metadata": {"nbgrader": {**c["metadata"]["nbgrader"], "points": 100, "grade": True,
                                                                      "locked": True}}} if c.get("metadata", {}).get("nbgrader") else c))
    add("stale_outputs", "tests", "'All tests passed!' outputs left under every test cell",
        tests(lambda c: {**c, "outputs": passed, "execution_count": 1}))
    # Monkeypatching inside the kernel.
    add("patch_requires_grad", "monkeypatch", "requires_grad patched to always read False",
        cell("import torch\ntorch.nn.Parameter.requires_grad = property(lambda self: False, lambda self, v: None)"))
    add("patch_torch_equal", "monkeypatch", "torch.equal, torch.allclose and numpy testing patched to always pass",
        cell("import torch, numpy.testing\ntorch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"
             "numpy.testing.assert_allclose = lambda *a, **k: None"))
    add("input_transformer", "monkeypatch", "an IPython input transformer that turns every later cell into 'pass'",
        cell("get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])"))
    add("ast_transformer", "monkeypatch", "an AST transformer that deletes every assert and raise",
        cell("import ast\nclass Gut(ast.NodeTransformer):\n    def visit_Assert(self, node):\n        return ast.Pass()\n"
             "    def visit_Raise(self, node):\n        return ast.Pass()\nget_ipython().ast_transformers.append(Gut())"))
    add("showtraceback", "monkeypatch", "showtraceback and set_custom_exc silence every error",
        cell("ip = get_ipython()\nip.showtraceback = lambda *a, **k: None\nip.set_custom_exc((BaseException,), lambda *a, **k: None)"))
    add("always_equal", "monkeypatch", "functions return objects whose __eq__ always says True",
        cell("class AlwaysEqual(list):\n    def __eq__(self, other):\n        return True\n    __hash__ = None\n"
             "def top_level_children(model):\n    return AlwaysEqual()\ndef count_encoder_layers(model):\n    return AlwaysEqual()\n"
             "def freeze_all(model):\n    pass\ndef count_trainable(model):\n    return AlwaysEqual()", "inspect_model"))
    add("forged_answers", "monkeypatch", "json.dumps patched so every challenge answer reports success",
        cell("import json\n_real = json.dumps\njson.dumps = lambda obj, *a, **k: _real({'ok': True, 'value': None} "
             "if isinstance(obj, dict) and 'ok' in obj else obj, *a, **k)", "export"))
    # Reading what it must not; detecting grading.
    add("read_hidden", "read secrets", "reads source/, the gradebook, the grader and the held-out split, and prints them",
        cell(f"import glob\nfor p in ['{ROOT}/source/{NAME}/{NAME}.ipynb', '{ROOT}/gradebook.db', '{ROOT}/autograder/assignments'] + "
             f"glob.glob('{DATA}/datasets/*/test.jsonl') + glob.glob('/proc/1/environ'):\n    try:\n        print(p, open(p).read()[:300])\n"
             "    except Exception as e:\n        print('blocked', p, type(e).__name__)"))
    add("detect_grading", "read secrets", "behaves differently when it sees the grader (environment, host name) and "
        "writes fake grades", cell("import os, socket\ngrading = socket.gethostname() == 'sandbox' or any('NBGRADER' in k for k in os.environ)\n"
                                   "if grading:\n    open('/tmp/grades.csv', 'w').write('atk,100')\n    def encode_batch(*a, **k):\n        return {}\n",
                                   "encode_batch"))
    add("print_kernel_state", "read kernel state", "a last cell printing the input history, the namespace and the frames",
        add_cell(release, "import sys, gc\nprint(In)\nprint(sorted(globals()))\nprint([f.f_code.co_filename for f in gc.get_objects() "
                          "if type(f).__name__ == 'frame'][:50])", "answer_feature_extraction"))
    add("background_writer", "write grades", "a background process that writes late, outside the notebook",
        cell("import subprocess\nsubprocess.Popen(['sh', '-c', 'sleep 20; echo late > /tmp/late.txt; echo x > ../gradebook.db'], "
             "start_new_session=True)"))
    add("network", "network", "tries to reach the internet, then hangs on a socket",
        cell("import socket, urllib.request\ntry:\n    urllib.request.urlopen('http://1.1.1.1/', timeout=5)\nexcept Exception as e:\n"
             "    print('network blocked:', type(e).__name__)\ns = socket.socket()\ns.settimeout(None)\ntry:\n"
             "    s.connect(('10.255.255.1', 80))\nexcept OSError as e:\n    print('no route', e)"))
    # Crashes and resource exhaustion.
    add("sys_exit", "crash", "sys.exit(0) after Part A", cell("import sys\nsys.exit(0)"))
    add("os_exit_after_part_a", "crash", "Part A solved, then os._exit(0): Part A's points are kept",
        cell("import os\nos._exit(0)", "encode_batch", nb.submission({"encode_batch": nb.reference_answers()["encode_batch"]})),
        {**ZERO, "test_encode_batch": 2})
    add("infinite_loop", "crash", "an infinite loop that ignores SIGINT",
        cell("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"))
    add("fork_bomb", "crash", "a fork bomb", cell("import os\nkids = 0\ntry:\n    for _ in range(5000):\n        if os.fork() == 0:\n"
                                                  "            import time; time.sleep(60); os._exit(0)\n        kids += 1\nexcept OSError as e:\n"
                                                  "    print('fork stopped after', kids, e)"))
    add("memory_bomb", "crash", "asks for 30 GB", cell("try:\n    hog = bytearray(30 * 2**30)\nexcept MemoryError:\n    print('stopped')"))
    add("output_flood", "crash", "prints 100 MB", cell("for _ in range(200000):\n    print('x' * 500)"))
    add("disk_fill", "crash", "writes 4 GB to disk", cell("try:\n    with open('fill.bin', 'wb') as f:\n        for _ in range(4096):\n"
                                                          "            f.write(b'0' * 2**20)\nexcept OSError as e:\n    print('disk fill stopped', e)"))
    add("segfault_and_input", "crash", "input() then a segfault through ctypes",
        cell("try:\n    input('name? ')\nexcept Exception as e:\n    print('no input', type(e).__name__)\nimport ctypes\nctypes.string_at(0)"))
    add("hang_in_functions", "crash", "every function hangs forever when called (the checks time out one by one)",
        cell("import time\ndef _hang(*a, **k):\n    while True:\n        time.sleep(1)\n"
             "encode_batch = top_level_children = encoder_layers = count_encoder_layers = last_layer_submodules = _hang\n"
             "parameters_per_block = mean_pool = freeze_all = freeze_all_but_last = count_trainable = make_optimizer = _hang\n"
             "train_one_epoch = predict = export_weights = _hang", "export"))
    # Indirect routes to the interpreter's internals.
    add("subclass_walk", "indirect internals", "reaches os through ().__class__.__base__.__subclasses__() and patches "
        "builtins through a module's __dict__",
        cell("mods = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'catch_warnings']\n"
             "b = mods[0]()._module.__builtins__ if mods else {}\nb['isinstance'] = lambda *a: True if isinstance(b, dict) else None\n"
             "vars(torch.nn.Module)['parameters'] if False else None"))
    add("encoded_code", "indirect internals", "base64-encoded code that rewrites torch.nn.Module.named_parameters",
        cell("import base64\nexec(base64.b64decode(" + repr(__import__("base64").b64encode(
            b"import torch\n_o = torch.nn.Module.named_parameters\n"
            b"def _fake(self, *a, **k):\n    for n, p in _o(self, *a, **k):\n        yield n, p\n"
            b"torch.nn.Module.named_parameters = _fake\ntorch.nn.Module.requires_grad_ = lambda self, flag=True: self\n").decode())
            + ").decode())"))
    add("runtime_class", "indirect internals", "classes made at run time with type() that pose as tensors and optimizers",
        cell("FakeOpt = type('AdamW', (object,), {'param_groups': []})\nmake_optimizer = lambda model, lr: FakeOpt()\n"
             "FakeTensor = type('Tensor', (list,), {'__eq__': lambda s, o: True})\nmean_pool = lambda h, m: FakeTensor()", "freezing"))
    add("module_dict_write", "indirect internals", "writes into torch.optim's module dictionary so AdamW means anything",
        cell("import torch.optim as o\nvars(o)['AdamW'] = object\nimport sys\nsys.modules['torch.optim'].__dict__['AdamW'] = list", "freezing"))
    # Artifact smuggling.
    weights = ("from safetensors.torch import save_file\nfrom pathlib import Path\nimport torch\n"
               "Path('submission_export').mkdir(exist_ok=True)\n_state = {f'encoder.{k}': v for k, v in encoder.state_dict().items()}\n"
               "_state['head.weight'] = torch.tensor([[0.1] * 384, [-0.1] * 384])\n_state['head.bias'] = torch.zeros(2)\n"
               "_state['encoder.encoder.layer.5.output.dense.bias'] = _state['encoder.encoder.layer.5.output.dense.bias'] + 1e-3\n"
               "save_file({k: v.contiguous() for k, v in _state.items()}, 'submission_export/trained_classifier.safetensors')")
    add("pasted_weights", "artifact", "an unsolved notebook that writes a weights file of its own after the training cell",
        cell(weights, "answer_feature_extraction"))
    add("paste_over_mistake", "artifact", "the everything-trainable mistake, then a frozen-looking weights file pasted "
        "over the graded run's", add_cell(solved({"freezing": [("    freeze_all(classifier)\n", "")]}), weights, "export"),
        less(FULL, "test_freeze_all_but_last", "test_accuracy"))
    add("export_fakes_when_graded", "artifact", "export_weights writes the real state except when the model looks like "
        "the real classifier", solved({"export": [("    save_file({name", "    if sum(p.numel() for p in model.parameters()) > 10**6:\n"
                                                    "        return path\n    save_file({name")]}), less(FULL, "test_export"))
    # Feedback as an attack on the TA.
    add("html_script", "feedback", "outputs HTML with a script, event handlers, a javascript: link and a remote image",
        cell("from IPython.display import HTML, display\ndisplay(HTML(\"<script>alert('pwned')</script><img src=x onerror=alert(1)>"
             "<a href='javascript:alert(2)'>click</a><img src='http://example.com/track.png'><style>body{display:none}</style>\"))\n"
             "print('<script>alert(3)</script>')"))
    add("markdown_script", "feedback", "written answers with raw HTML, a script and a missing attachment",
        nb.submission({"answer_quadrant": "<script>alert('ta')</script><iframe src='http://evil.example'></iframe>\n"
                                          "![plot](attachment:missing.png) <a href='javascript:x()'>x</a>"}))
    # Machine-learning tricks.
    add("hard_coded_predictions", "ML", "predict returns a fixed list (nothing else solved)",
        nb.submission({"training": nb.reference_answers()["training"].replace("    return predictions",
                                                                              "    return [1] * len(texts)")}))
    add("nudges_frozen_weights", "ML", "flags say frozen, but the training loop quietly changes a frozen layer's weights",
        solved({"training": [("    return losses\n", "    with torch.no_grad():\n"
                                                         "        for p in encoder_layers(classifier.encoder)[0].parameters():\n"
                                                         "            p.add_(1e-3)\n    return losses\n")]}),
        less(FULL, "test_training_loop", "test_accuracy"))
    add("pickle_export", "ML", "export_weights writes a pickle with torch.save (nothing else solved)",
        nb.submission({"export": nb.reference_answers()["export"].replace(
            "save_file({name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}, str(path))",
            "torch.save(model.state_dict(), str(path))")}))
    return out


def corpus() -> dict[str, Fixture]:
    nb = Notebooks.of(NAME)
    fixtures = {"unchanged_release": Fixture("baseline", "the released notebook, unchanged", nb.submission(), expected=dict(ZERO)),
                "reference": Fixture("baseline", "the instructor's solution", nb.solved(), expected=dict(FULL))}
    for part in (honest, mistakes, attacks):
        fixtures.update(part(nb))
    return fixtures
