"""Loading: every supported format, sources.json metadata, and bad files named and skipped."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import FACTUALLY, NILC, copy_knowledge, make_pdf

from index.load import load_documents


def test_corpus_loads_with_its_metadata(tmp_path: Path) -> None:
    result = load_documents([copy_knowledge(tmp_path / "k")])
    assert not result.failures
    by_id = {doc.id_: doc for doc in result.documents}
    assert set(by_id) == {NILC, FACTUALLY}
    nilc = by_id[NILC].metadata
    assert nilc["publisher"] == "National Immigration Law Center (NILC)"
    assert nilc["published"] == "2017-09-22"
    assert nilc["title"].startswith("Untangling the Immigration Enforcement Web")
    assert by_id[NILC].text == (tmp_path / "k" / NILC).read_text(encoding="utf-8")


def test_each_format_loads(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("# Field notes\n\nThe county signed an agreement in 2019.\n")
    (tmp_path / "page.html").write_text(
        "<html><head><title>Page title</title><script>var x = 1;</script></head>"
        "<body><h1>Heading</h1><p>Jails share booking lists.</p>"
        "<ul><li>Item one.</li></ul></body></html>"
    )
    make_pdf(tmp_path / "report.pdf", ["Fingerprints are shared with DHS.", "Second line."])
    records = [
        {"_id": "r1", "title": "Record one", "text": "First record text."},
        {"_id": "r2", "text": "Second record text.", "metadata": {"publisher": "Someone"}},
    ]
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    (tmp_path / "plain.txt").write_text("A plain text file without an entry in sources.json.\n")

    result = load_documents([tmp_path])

    assert not result.failures
    docs = {doc.id_: doc for doc in result.documents}
    assert set(docs) == {"notes.md", "page.html", "report.pdf", "r1", "r2", "plain.txt"}
    assert docs["notes.md"].metadata["title"] == "Field notes"
    assert docs["page.html"].metadata["title"] == "Page title"
    assert "Jails share booking lists." in docs["page.html"].text
    assert "var x" not in docs["page.html"].text
    assert "Fingerprints are shared with DHS." in docs["report.pdf"].text
    assert docs["r1"].text == "Record one\n\nFirst record text."
    assert docs["r1"].metadata["title"] == "Record one"
    assert docs["r2"].metadata["publisher"] == "Someone"
    assert docs["plain.txt"].metadata["title"].startswith("A plain text file")


def test_bad_files_are_named_with_a_reason_and_the_rest_loads(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("Good text that should load.\n")
    (tmp_path / "empty.txt").write_text("   \n")
    (tmp_path / "latin1.txt").write_bytes("Dirección del señor".encode("latin-1"))
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n")
    (tmp_path / "records.jsonl").write_text('{"_id": "ok", "text": "fine"}\n{"_id": "bad", \n')

    result = load_documents([tmp_path])

    assert {doc.id_ for doc in result.documents} == {"good.txt", "ok"}
    reasons = {Path(f.path).name: f.reason for f in result.failures}
    assert set(reasons) == {"empty.txt", "latin1.txt", "broken.pdf", "image.png", "records.jsonl"}
    assert "empty" in reasons["empty.txt"]
    assert "UTF-8" in reasons["latin1.txt"]
    assert "PDF" in reasons["broken.pdf"]
    assert "unsupported" in reasons["image.png"]
    bad_line = next(f for f in result.failures if f.path.endswith("records.jsonl"))
    assert bad_line.line == 2 and "JSON" in bad_line.reason


def test_a_missing_path_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    result = load_documents([tmp_path / "nowhere"])
    assert not result.documents
    assert len(result.failures) == 1 and "no such" in result.failures[0].reason


def test_paths_shown_start_at_the_build_folder_never_the_server_layout(tmp_path: Path) -> None:
    corpus = copy_knowledge(tmp_path / "deep" / "private" / "corpus")
    result = load_documents([corpus])
    paths = {doc.metadata["path"] for doc in result.documents}
    assert paths == {f"corpus/{NILC}", f"corpus/{FACTUALLY}"}
    assert not any(str(tmp_path) in path for path in paths)
    single = load_documents([corpus / NILC]).documents[0]
    assert single.metadata["path"] == f"corpus/{NILC}"
