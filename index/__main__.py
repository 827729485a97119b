"""The `python -m index` command: build the index from source texts, or report its status."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from index.settings import enforce_offline

enforce_offline()

from index.build import build  # noqa: E402
from index.errors import AssistantError, IndexMissingError  # noqa: E402
from index.settings import Settings  # noqa: E402
from index.store import describe, open_store  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m index", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="ingest source texts incrementally")
    build_cmd.add_argument(
        "paths", nargs="*", type=Path, help="files or folders (default: knowledge/)"
    )
    build_cmd.add_argument(
        "--rebuild", action="store_true", help="drop the index and build it anew"
    )
    build_cmd.add_argument("--json", action="store_true", help="print the report as JSON")
    build_cmd.add_argument("--quiet", action="store_true", help="no progress bar")
    status_cmd = commands.add_parser("status", help="documents, passages, model and store")
    status_cmd.add_argument("--json", action="store_true", help="print the status as JSON")
    args = parser.parse_args(argv)
    try:
        settings = Settings()
        if args.command == "build":
            return _build(settings, args)
        return _status(settings, args.json)
    except AssistantError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _build(settings: Settings, args: argparse.Namespace) -> int:
    paths = args.paths or [settings.knowledge_dir]
    store = open_store(settings.data_dir, settings.collection, settings.chroma_url, create=True)
    if args.rebuild:
        store.drop()
        store = open_store(settings.data_dir, settings.collection, settings.chroma_url, create=True)
    report = build(
        paths,
        store,
        progress=not args.quiet and sys.stderr.isatty(),
        sentence_vectors=settings.sentence_vectors,
    )
    for failure in report.failed:
        print(f"skipped {failure}", file=sys.stderr)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.summary())
    return 0 if report.ok else 1


def _status(settings: Settings, as_json: bool) -> int:
    where = describe(settings.data_dir, settings.chroma_url)
    try:
        store = open_store(
            settings.data_dir, settings.collection, settings.chroma_url, create=False
        )
    except IndexMissingError as error:
        status = {"documents": 0, "chunks": 0, "store": where, "ready": False, "error": str(error)}
        print(json.dumps(status, indent=2) if as_json else f"no index: {error}")
        return 1
    documents, chunks = store.count()
    interrupted = store.interrupted()
    status = {
        "documents": documents,
        "chunks": chunks,
        "store": where,
        "collection": settings.collection,
        "ready": chunks > 0,
        "interrupted": interrupted,
        **store.settings(),
    }
    if interrupted:
        status["note"] = (
            "a build is running or was stopped before it finished; answers use the documents"
            " it completed. Run `python -m index build` to finish it."
        )
    if as_json:
        print(json.dumps(status, indent=2))
    else:
        for key, value in status.items():
            print(f"{key:>12}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
