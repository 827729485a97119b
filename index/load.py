"""Load: source files (txt, md, html, pdf, jsonl) plus sources.json metadata -> Documents."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llama_index.core.schema import Document

from index.errors import SourceFileError
from index.settings import PROJECT_ROOT

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".jsonl")
SOURCES_FILE = "sources.json"
METADATA_KEYS = ("title", "publisher", "author", "published", "url", "language")
MAX_TITLE_CHARS = 200


@dataclass
class LoadResult:
    """What loading a set of paths produced: documents, and the files that failed with why."""

    documents: list[Document] = field(default_factory=list)
    failures: list[SourceFileError] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)  # absolute; internal, scopes removals
    missing_roots: list[str] = field(default_factory=list)


def display_path(path: Path, root: Path | None = None) -> str:
    """A path as shown to people: relative to the project when inside it, else starting at the
    build root's folder ("corpus/a.txt"), never the server's absolute layout."""
    resolved = path.resolve()
    bases = [PROJECT_ROOT]
    if root is not None:
        folder = root if root.is_dir() else root.parent
        bases.append(folder.resolve().parent)
    for base in bases:
        try:
            return resolved.relative_to(base).as_posix()
        except ValueError:
            continue
    return resolved.name


def load_documents(paths: Iterable[Path]) -> LoadResult:
    """Every supported file under the given folders or files; bad files are reported, not fatal."""
    result = LoadResult()
    for root in paths:
        root = Path(root)
        result.roots.append(root.resolve().as_posix())
        if not root.exists():
            result.missing_roots.append(result.roots[-1])
            result.failures.append(
                SourceFileError(display_path(root, root), "no such file or folder")
            )
            continue
        base = root if root.is_dir() else root.parent
        inside = root.resolve()
        entries = sorted(root.rglob("*")) if root.is_dir() else [root]
        catalogs: dict[Path, dict[str, dict[str, Any]]] = {}
        for file in entries:
            rel = file.relative_to(base)
            if any(part.startswith(".") for part in rel.parts):
                continue
            if file.is_symlink() and _leads_out(file, inside):
                # a link out of the corpus would index (and show) whatever it points to
                result.failures.append(
                    SourceFileError(
                        _shown(file, root),
                        "a link that leads out of the folder (or nowhere): skipped",
                    )
                )
                continue
            if file.name == SOURCES_FILE or not file.is_file():
                continue
            try:
                catalog = _catalog(file.parent, catalogs, root, result.failures)
                shown = display_path(file, root)
                documents, failures = _load_file(file, rel, shown, catalog.get(file.name, {}))
            except SourceFileError as error:
                result.failures.append(error)
                continue
            for document in documents:
                document.metadata["root"] = result.roots[-1]
            result.documents.extend(documents)
            result.failures.extend(failures)
    return result


def _leads_out(link: Path, inside: Path) -> bool:
    """Whether a link points outside the folder `inside` (or nowhere: a loop)."""
    try:
        return not link.resolve().is_relative_to(inside)
    except (OSError, RuntimeError):  # RuntimeError: a loop of links (Python 3.11)
        return True


def _shown(path: Path, root: Path) -> str:
    """A path as display_path shows it, without following the last part if it is a link."""
    return f"{display_path(path.parent, root)}/{path.name}"


def _catalog(
    folder: Path,
    cache: dict[Path, dict[str, dict[str, Any]]],
    root: Path,
    failures: list[SourceFileError],
) -> dict[str, dict[str, Any]]:
    """The sources.json entries of a folder by file name; none when it is absent or unusable."""
    # An unusable one is reported once, and the folder's files load without it.
    if folder not in cache:
        cache[folder] = {}
        path = folder / SOURCES_FILE
        if path.is_symlink() and _leads_out(path, root.resolve()):
            return cache[folder]  # the link itself is reported by load_documents
        if path.is_file():
            shown = _shown(path, root)
            try:
                entries = json.loads(path.read_text(encoding="utf-8"))
            except OSError as error:
                reason = f"cannot be read ({error.strerror}); the folder's files load without it"
                failures.append(SourceFileError(shown, reason))
                return cache[folder]
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                reason = f"not valid JSON ({error}); the folder's files load without it"
                failures.append(SourceFileError(shown, reason))
                return cache[folder]
            if not isinstance(entries, list):
                reason = "must be a JSON list of objects; the folder's files load without it"
                failures.append(SourceFileError(shown, reason))
                return cache[folder]
            cache[folder] = {
                str(entry["file"]): entry
                for entry in entries
                if isinstance(entry, dict) and entry.get("file")
            }
    return cache[folder]


def _load_file(
    file: Path, rel: Path, shown: str, entry: dict[str, Any]
) -> tuple[list[Document], list[SourceFileError]]:
    """One file's documents, and its bad records (JSONL only); raises when the whole file is bad."""
    suffix = file.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise SourceFileError(
            shown,
            f"unsupported file type '{suffix or file.name}' (supported: txt, md, html, pdf, jsonl)",
        )
    if suffix == ".jsonl":
        return _load_jsonl(file, shown)
    if suffix == ".pdf":
        text, title = _read_pdf(file, shown), None
    elif suffix in (".html", ".htm"):
        text, title = _read_html(_read_text(file, shown))
    else:
        text = _read_text(file, shown)
        title = _markdown_title(text) if suffix in (".md", ".markdown") else None
    if not text.strip():
        raise SourceFileError(shown, "no text in the file (empty or whitespace only)")
    metadata = {key: entry.get(key) for key in METADATA_KEYS}
    metadata["title"] = metadata["title"] or title or _first_line_title(text) or file.stem
    metadata["path"] = shown
    return [_document(rel.as_posix(), text, metadata)], []


def _document(doc_id: str, text: str, metadata: dict[str, Any]) -> Document:
    clean = {key: ("" if value is None else str(value)) for key, value in metadata.items()}
    return Document(id_=doc_id, text=text, metadata=clean)


def _read_text(file: Path, shown: str) -> str:
    try:
        raw = file.read_bytes()
    except OSError as error:
        raise SourceFileError(shown, f"cannot be read ({error.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SourceFileError(
            shown, f"not UTF-8 text (bad byte at position {error.start}); save it as UTF-8"
        ) from None
    if "\x00" in text:
        raise SourceFileError(shown, "contains NUL bytes: looks like a binary file, not text")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _read_pdf(file: Path, shown: str) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(file)
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, OSError, ValueError, KeyError, TypeError) as error:
        raise SourceFileError(
            shown, f"not a readable PDF ({type(error).__name__}: {error})"
        ) from None
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    if not text:
        raise SourceFileError(shown, "the PDF has no extractable text (scanned images need OCR)")
    return text


_HTML_BLOCKS = ("p", "li", "div", "section", "article", "tr", "blockquote", "pre", "br", "dd", "dt")


def _read_html(markup: str) -> tuple[str, str | None]:
    """Visible text of an HTML page, headings marked with '#' so the chunker can see them."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    title_tag = soup.find("title")
    title = title_tag.get_text(" ", strip=True) if title_tag else None
    for tag in soup(["script", "style", "noscript", "template", "head", "svg"]):
        tag.decompose()
    for level in range(1, 7):
        for heading in soup.find_all(f"h{level}"):
            heading.insert_before("\n\n" + "#" * level + " ")
            heading.insert_after("\n\n")
    for tag in soup.find_all("li"):
        tag.insert_before("\n• ")
    for tag in soup.find_all(_HTML_BLOCKS):
        tag.insert_after("\n\n")
    text = soup.get_text()
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text, title or _markdown_title(text)


def _markdown_title(text: str) -> str | None:
    match = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else None


def _first_line_title(text: str) -> str | None:
    first = text.strip().split("\n", 1)[0].strip().lstrip("#").strip()
    return first if 0 < len(first) <= MAX_TITLE_CHARS else None


def _load_jsonl(file: Path, shown: str) -> tuple[list[Document], list[SourceFileError]]:
    documents: list[Document] = []
    failures: list[SourceFileError] = []
    for number, line in enumerate(_read_text(file, shown).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            failures.append(SourceFileError(shown, f"not valid JSON ({error.msg})", number))
            continue
        try:
            documents.append(_jsonl_document(record, shown))
        except SourceFileError as error:
            failures.append(SourceFileError(shown, error.reason, number))
    if not documents and not failures:
        raise SourceFileError(shown, "no records in the file (empty)")
    return documents, failures


def _jsonl_document(record: Any, shown: str) -> Document:
    if not isinstance(record, dict):
        raise SourceFileError(shown, "a record must be a JSON object")
    doc_id = record.get("_id", record.get("id"))
    body = record.get("text")
    if doc_id is None or str(doc_id).strip() == "":
        raise SourceFileError(shown, "record has no '_id'")
    if not isinstance(body, str) or not body.strip():
        raise SourceFileError(shown, f"record {doc_id!r} has no 'text'")
    extra = record["metadata"] if isinstance(record.get("metadata"), dict) else {}
    title = str(record.get("title") or "").strip()
    # The title is part of the document text: it is what BEIR-style retrieval ranks on too.
    text = f"{title}\n\n{body}" if title else body
    metadata = {key: record.get(key, extra.get(key)) for key in METADATA_KEYS}
    metadata["title"] = title or _first_line_title(body) or str(doc_id)
    metadata["path"] = shown
    return _document(str(doc_id), text, metadata)
