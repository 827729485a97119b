"""The `python -m assistant` command: ask, retrieve, or evaluate on a question file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from index.settings import enforce_offline

enforce_offline()

from assistant.core import Assistant  # noqa: E402
from assistant.types import Answer, Passage  # noqa: E402
from index.errors import AssistantError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assistant", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    ask = commands.add_parser("ask", help="answer a question with cited sentences")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    retrieve = commands.add_parser("retrieve", help="the passages that best match a query")
    retrieve.add_argument("query")
    retrieve.add_argument("-k", type=int, default=5, help="how many passages (1-100, default 5)")
    retrieve.add_argument("--json", action="store_true", help="print the passages as JSON")
    evaluate = commands.add_parser(
        "eval", help="metrics on a question file (eval/dev.jsonl format)"
    )
    evaluate.add_argument("questions", type=Path)
    evaluate.add_argument("--json", action="store_true", help="print metrics and rows as JSON")
    args = parser.parse_args(argv)
    try:
        assistant = Assistant.load()
        if args.command == "ask":
            answer = assistant.ask(args.question)
            print(
                json.dumps(answer.to_dict(), indent=2, ensure_ascii=False)
                if args.json
                else _answer(answer)
            )
        elif args.command == "retrieve":
            passages = assistant.retrieve(args.query, args.k)
            if args.json:
                payload = {"query": args.query, "passages": [p.to_dict() for p in passages]}
                print(json.dumps(payload, indent=2, ensure_ascii=False))
            else:
                print("\n\n".join(_passage(i, p) for i, p in enumerate(passages, start=1)))
        else:
            from assistant.eval import evaluate as run_eval
            from assistant.eval import format_report, read_questions

            result = run_eval(assistant, read_questions(args.questions))
            print(
                json.dumps(result, indent=2, ensure_ascii=False)
                if args.json
                else format_report(result)
            )
    except AssistantError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"error: {error.strerror}: {error.filename}", file=sys.stderr)
        return 1
    return 0


def _source_line(passage: Passage) -> str:
    doc = passage.document
    details = ", ".join(x for x in (doc.publisher, doc.published) if x)
    return f"{doc.title}" + (f" ({details})" if details else "")


def _answer(answer: Answer) -> str:
    lines = [answer.answer]
    if answer.citations:
        lines.append("")
        lines.append("Sources:")
        for citation in answer.citations:
            lines.append(f"[{citation.n}] {_source_line(citation.passage)}")
    return "\n".join(lines)


def _passage(rank: int, passage: Passage) -> str:
    return f"{rank}. {_source_line(passage)}  score {passage.score:.3f}\n{passage.text.strip()}"


if __name__ == "__main__":
    sys.exit(main())
