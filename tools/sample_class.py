"""Write a small sample class for `make demo`: a reference solution, partly
wrong answers, cheating attempts and broken files, as <student>.ipynb."""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "autograder")]

import assignment_fixtures  # noqa: E402
import attacks  # noqa: E402
import bad_inputs  # noqa: E402

PICK = {
    "reference": "the instructor's solution",
    "under_trained": "right code, trained on 48 examples",
    "first_layer_unfrozen": "trains the first encoder layer instead of the last",
    "atk_input_transformer": "rewrites every later cell to `pass`",
    "atk_fake_accuracy": "predict() returns the validation labels",
    "atk_pickle_export": "exports a pickle instead of safetensors",
}


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pool = {**{k: v[0] for k, v in assignment_fixtures.fixtures().items()}, **{k: v[0] for k, v in attacks.attacks().items()}}
    for student, why in PICK.items():
        (folder / f"{student}.ipynb").write_text(json.dumps(pool[student]))
        print(f"  {student:24} {why}")
    broken = bad_inputs.bad_cases(json.loads(assignment_fixtures.RELEASE.read_text()))
    for student in ("bad_truncated_json", "bad_zip_renamed"):
        (folder / f"{student}.ipynb").write_bytes(broken[student][0])
        print(f"  {student:24} a broken file")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
