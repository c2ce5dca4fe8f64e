"""Which stderr output is harmless noise, for nbgrader's ``IgnorePattern``.

nbgrader gives a test cell 0 points when it writes anything to stderr.
Libraries write warnings and progress bars there, so a correct answer could
score 0 because of a warning. The pattern below matches a stderr output only
when *every* line of it is known noise; an output with any other line (a
student's print to stderr, a traceback) is kept and still counts.
"""
import re

_NOISY_PACKAGES = r"(?:torch|transformers|tokenizers|huggingface_hub|sentence_transformers|safetensors|tqdm|sklearn|gensim|spacy|thinc|nltk|matplotlib)"
_NOISE_LINES = [
    # "…/site-packages/torch/x.py:12: UserWarning: …"
    rf"[^\n]*/site-packages/{_NOISY_PACKAGES}/[^\n]*:\d+: \w*Warning: [^\n]*",
    # the source line Python prints under such a warning
    r"[ \t]+(?:warnings\.warn|warn)\([^\n]*",
    # a tqdm bar frame: "label:  42%|████▏     | 42/100 [00:01<00:02, 30.1it/s]"
    r"[^\n]*\d+%\|[^\n|]*\| *[\d.]+[kMG]?/[\d.?]+[kMG]?[^\n]*",
    r"[ \t]*",
]
HARMLESS_STDERR_PATTERN = r"\A(?:(?:" + "|".join(_NOISE_LINES) + r")(?:\r\n|\r|\n|\Z))+\Z"


def is_harmless(text: str) -> bool:
    return re.search(HARMLESS_STDERR_PATTERN, text) is not None
