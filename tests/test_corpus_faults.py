"""Bad corpus files: each is named with its reason, every good file is indexed, the command
exits non-zero, and what was indexed before survives."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import FACTUALLY, NILC, copy_knowledge
from test_cli import run

from index.settings import Settings
from index.store import open_store


def test_a_build_over_bad_files(tmp_path: Path) -> None:
    corpus = copy_knowledge(Path(os.environ["ASSISTANT_KNOWLEDGE_DIR"]))
    assert run("index", "build").returncode == 0
    settings = Settings()
    before = open_store(settings.data_dir, settings.collection, None, create=False).manifest()

    (corpus / "empty.txt").write_text("")
    (corpus / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage")
    (corpus / "latin1.txt").write_bytes("Información sobre la policía".encode("latin-1"))
    records = [{"_id": "good-1", "title": "Good", "text": "A county jail shares booking lists."}]
    (corpus / "records.jsonl").write_text(json.dumps(records[0]) + "\n{broken json\n")
    (corpus / "slides.pptx").write_bytes(b"PK\x03\x04 not really")
    (corpus / "new.md").write_text("# New note\n\nThe sheriff signed a 287(g) agreement in 2019.\n")
    # A file that was indexed and is now unreadable keeps its passages.
    (corpus / NILC).write_bytes(b"\xff\xfe\x00broken")

    built = run("index", "build", "--json")

    assert built.returncode == 1
    failed = {Path(f["path"]).name: f for f in json.loads(built.stdout)["failed"]}
    assert set(failed) == {
        "empty.txt",
        "corrupt.pdf",
        "latin1.txt",
        "records.jsonl",
        "slides.pptx",
        NILC,
    }
    assert "empty" in failed["empty.txt"]["reason"]
    assert "PDF" in failed["corrupt.pdf"]["reason"]
    assert "UTF-8" in failed["latin1.txt"]["reason"]
    assert failed["records.jsonl"]["line"] == 2 and "JSON" in failed["records.jsonl"]["reason"]
    assert "unsupported" in failed["slides.pptx"]["reason"]
    for name in failed:
        assert name in built.stderr  # named on the terminal too, with the reason

    after = open_store(settings.data_dir, settings.collection, None, create=False).manifest()
    assert set(after) == {NILC, FACTUALLY, "good-1", "new.md"}
    assert after[NILC] == before[NILC] and after[FACTUALLY] == before[FACTUALLY]
    asked = run("assistant", "ask", "When did ICE start its own gang database?", "--json")
    assert "2010" in json.loads(asked.stdout)["answer"]


def test_links_out_of_the_corpus_and_a_bad_sources_json(tmp_path: Path) -> None:
    """A link leading out of the corpus folder is named and skipped, never followed; a folder's
    invalid sources.json is named, and the folder's files still load (titled from the file)."""
    corpus = copy_knowledge(Path(os.environ["ASSISTANT_KNOWLEDGE_DIR"]))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("The server's private note: the door code is 4242.\n")
    (corpus / "secret.txt").symlink_to(outside / "secret.txt")
    (corpus / "elsewhere").symlink_to(outside, target_is_directory=True)
    notes = corpus / "notes"
    notes.mkdir()
    (notes / "jail.md").write_text(
        "# County jail notes\n\nThe jail shares booking lists nightly.\n"
    )
    (notes / "sources.json").write_text('[{"file": "jail.md", "title": broken')

    built = run("index", "build", "--json")

    assert built.returncode == 1
    failed = {f["path"]: f["reason"] for f in json.loads(built.stdout)["failed"]}
    assert set(failed) == {
        "knowledge/secret.txt",
        "knowledge/elsewhere",
        "knowledge/notes/sources.json",
    }
    assert (
        "link" in failed["knowledge/secret.txt"]
        and "JSON" in failed["knowledge/notes/sources.json"]
    )
    for name in failed:
        assert name in built.stderr
    settings = Settings()
    manifest = open_store(settings.data_dir, settings.collection, None, create=False).manifest()
    assert set(manifest) == {NILC, FACTUALLY, "notes/jail.md"}
    assert manifest["notes/jail.md"].title == "County jail notes"
    assert "4242" not in run("assistant", "retrieve", "door code", "--json").stdout
