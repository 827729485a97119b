"""A build run as its own process, for tests that kill it: python build_worker.py DATA CORPUS N"""

import sys
from pathlib import Path

from index.settings import enforce_offline

enforce_offline()

from index.build import build  # noqa: E402
from index.store import open_store  # noqa: E402

if __name__ == "__main__":
    data, corpus, per_write = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    store = open_store(data, "knowledge", None, create=True)
    print("started", file=sys.stderr, flush=True)
    report = build([corpus], store, progress=True, passages_per_write=per_write)
    print(f"finished {report.summary()}", file=sys.stderr, flush=True)
