"""The `python -m bench` command: quality and speed figures, printed and saved to bench/results/.

python -m bench            # everything, in the order below (about an hour on 2 cores from nothing)
python -m bench versus     # retrieval vs LlamaIndex defaults on eval/dev.jsonl
python -m bench coldstart  # python app.py to a healthy server, vs bare imports
python -m bench ingest     # 1,000 SciFact abstracts: build vs raw SentenceTransformer.encode
python -m bench scifact    # BEIR SciFact, full size: build, latency, nDCG@10, Recall@100
python -m bench scale      # ~100,000 passages served by app.py: latency and memory
"""

from __future__ import annotations

import argparse
import importlib
import sys

from index.settings import PROJECT_ROOT, enforce_offline

enforce_offline()

from bench.common import save  # noqa: E402

BENCHMARKS = ("versus", "coldstart", "ingest", "scifact", "scale")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("which", choices=["all", *BENCHMARKS], nargs="*", default="all")
    parser.add_argument(
        "--fresh", action="store_true", help="scifact: rebuild the index from nothing, timed"
    )
    args = parser.parse_args(argv)
    which = [args.which] if isinstance(args.which, str) else args.which  # the default is "all"
    chosen = BENCHMARKS if "all" in which else tuple(which)
    for name in chosen:
        module = importlib.import_module(f"bench.{name}")
        print(f"\n== {name}: {module.__doc__.splitlines()[0]}", flush=True)
        result = module.run(fresh=args.fresh) if name == "scifact" else module.run()
        print(module.format_table(result), flush=True)
        print(f"(saved to {save(name, result).relative_to(PROJECT_ROOT)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
