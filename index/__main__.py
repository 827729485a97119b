"""The `python -m index` command: build the index from source texts, or report its status."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from index.settings import enforce_offline

enforce_offline()

from index.build import build, rebuild  # noqa: E402
from index.errors import AssistantError, IndexDamagedError, IndexMissingError  # noqa: E402
from index.settings import Settings  # noqa: E402
from index.store import describe, open_generation, open_store  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m index", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="ingest source texts incrementally")
    build_cmd.add_argument(
        "paths", nargs="*", type=Path, help="files or folders (default: knowledge/)"
    )
    build_cmd.add_argument(
        "--rebuild",
        action="store_true",
        help="build the index anew beside the live one, then switch to it",
    )
    build_cmd.add_argument("--json", action="store_true", help="print the report as JSON")
    build_cmd.add_argument("--quiet", action="store_true", help="no progress bar")
    status_cmd = commands.add_parser(
        "status", help="documents, passages, model and store; checks the index reads back whole"
    )
    status_cmd.add_argument("--json", action="store_true", help="print the status as JSON")
    args = parser.parse_args(argv)
    settings: Settings | None = None
    try:
        settings = Settings()
        if args.command == "build":
            return _build(settings, args)
        return _status(settings, args.json)
    except AssistantError as error:
        print(f"error: {error}", file=sys.stderr)
        for line in _details(error, settings) if settings else []:
            print(f"  {line}", file=sys.stderr)
        return 1


def _details(error: AssistantError, settings: Settings) -> list[str]:
    """What the operator needs beyond the message, which HTTP clients see too: where the store
    is, what the library said, how to recover."""
    cause = error.__cause__
    lines = [f"store: {describe(settings.data_dir, settings.chroma_url)}"]
    if isinstance(error, IndexDamagedError) and error.detail:
        lines.append(f"found: {error.detail}")
    elif cause is not None:
        lines.append(f"cause: {type(cause).__name__}: {cause}")
    if isinstance(error, IndexDamagedError):
        lines.append(_recovery(settings))
    return lines


def _recovery(settings: Settings) -> str:
    if settings.chroma_url:
        return (
            "recover: delete the index's collections on the Chroma server (or give it a new"
            " ASSISTANT_COLLECTION), run `python -m index build`, then restart the app"
        )
    folder = settings.data_dir
    return (
        f"recover: move {folder} aside (mv {folder} {folder}.damaged), run"
        " `python -m index build`, then restart the app"
    )


def _build(settings: Settings, args: argparse.Namespace) -> int:
    paths = args.paths or [settings.knowledge_dir]
    options: dict[str, Any] = {
        "progress": not args.quiet and sys.stderr.isatty(),
        "sentence_vectors": settings.sentence_vectors,
    }
    if args.rebuild:
        fresh = open_generation(settings.data_dir, settings.collection, settings.chroma_url)
        report = rebuild(paths, fresh, **options)
    else:
        store = open_store(settings.data_dir, settings.collection, settings.chroma_url, create=True)
        report = build(paths, store, **options)
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
        store.check()
    except IndexMissingError as error:
        status = {"documents": 0, "chunks": 0, "store": where, "ready": False, "error": str(error)}
        print(json.dumps(status, indent=2) if as_json else f"no index: {error}")
        return 1
    except IndexDamagedError as error:
        status = {
            **{"documents": 0, "chunks": 0, "store": where, "ready": False, "error": str(error)},
            **{"damaged": True, "found": error.detail, "recover": _recovery(settings)},
        }
        text = f"damaged index: {error}\n  found: {error.detail}\n  {status['recover']}"
        print(json.dumps(status, indent=2) if as_json else text)
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
