"""Command line: ``python -m coursekit verify|prepare|describe-data|write-manifest``."""
import json
import sys
import time

from coursekit import assets, data, models, nltk_data


def verify() -> int:
    failures = 0
    for asset in assets.REGISTRY.values():
        try:
            folder = assets.verify(asset.name)
            size = sum((folder / rel).stat().st_size for rel in asset.files)
            print(f"ok      {asset.name:16} {size / 1e6:7.1f} MB  {asset.pip_requirement}")
        except assets.AssetError as error:
            failures += 1
            print(f"FAILED  {asset.name:16} {error}")
    return 1 if failures else 0


def prepare() -> int:
    """Verify every asset and build the derived data (NLTK files, GloVe cache, splits)."""
    if verify():
        return 1
    steps = [("NLTK data", nltk_data.setup_nltk), ("GloVe cache", models.load_glove)]
    steps += [(f"dataset {name}", lambda name=name: data.prepare(name)) for name in data.DATASETS]
    for label, step in steps:
        start = time.perf_counter()
        step()
        print(f"ready   {label:24} {time.perf_counter() - start:5.1f} s")
    return 0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "verify"
    if command == "verify":
        return verify()
    if command == "prepare":
        return prepare()
    if command == "describe-data":
        print(json.dumps(data.describe(), indent=2))
        return 0
    if command == "write-manifest":
        assets.write_manifest()
        print(f"wrote {assets.MANIFEST_PATH}")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
