"""The `python -m bench` command: quality and speed figures, printed and saved to bench/results/."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from index.settings import enforce_offline

enforce_offline()

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("which", choices=["scifact"], nargs="?", default="scifact")
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    if args.which == "scifact":
        from bench import scifact

        result = scifact.run()
        print(scifact.format_table(result))
        (RESULTS / "scifact.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
