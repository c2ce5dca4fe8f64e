"""Set-up and asset benchmark: cold and warm `make setup` on a fresh clone,
environment size on disk, and each asset's load time in a fresh process.

Usage: .venv/bin/python benchmarks/bench_setup.py [--skip-cold]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "setup_and_assets.json"

LOADERS = {
    "minilm (tokenizer + encoder)": "from coursekit import models; models.load_tokenizer(); models.load_encoder()",
    "glove-6b-50d (cached KeyedVectors)": "from coursekit import models; models.load_glove()",
    "spacy-en-sm": "from coursekit import models; models.load_spacy()",
    "nltk punkt + vader": "from coursekit.nltk_data import setup_nltk; setup_nltk(); import nltk; nltk.sent_tokenize('A. B.'); from nltk.sentiment import SentimentIntensityAnalyzer as S; S()",
    "datasets (3, train+validation)": "from coursekit import data; [data.load_dataset(n) for n in data.DATASETS]",
}


def du_mb(path: Path) -> int:
    out = subprocess.run(["du", "-sm", str(path)], capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else 0


def timed(cmd, cwd, env=None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def asset_times(python: str) -> dict:
    results = {}
    for name, code in LOADERS.items():
        import_only = timed([python, "-c", code.split(";")[0]], ROOT)
        total = timed([python, "-c", code], ROOT)
        results[name] = {"process_seconds": round(total, 2), "seconds_beyond_importing_coursekit": round(max(0.0, total - import_only), 2)}
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-cold", action="store_true")
    args = parser.parse_args()
    result = {"machine": f"{os.cpu_count()} cores", "load_average_at_start": round(os.getloadavg()[0], 2)}
    if not args.skip_cold:
        with tempfile.TemporaryDirectory() as tmp:
            clone = Path(tmp) / "clone"
            subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
            env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV",)}
            result["setup_cold_seconds"] = round(timed(["make", "setup"], clone, env), 1)
            result["setup_warm_seconds"] = round(timed(["make", "setup"], clone, env), 2)
            result["venv_mb"] = du_mb(clone / ".venv")
            result["data_mb"] = du_mb(clone / ".data")
    result["assets"] = asset_times(sys.executable)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
