"""UI: the Gradio web chat, for people asking and for helpline staff.

An answer with inline [n] markers; under it the sources numbered the same way, each opening to
show the cited passage highlighted in its surrounding text; one click copies the answer with a
numbered reference list; a staff view shows the top passages with scores; a Library tab lists
the documents. Labels, examples and notices in English and Spanish (from the browser's language,
switchable).

Everything that comes from a document, its metadata or a person is shown as text: Gradio renders
chat messages and Markdown as HTML, so such text is escaped before it reaches a component. The
conversation is kept by the server for the session (the page sends only the new question), and
nothing of it is stored in the browser. Requests reach these functions only through
assistant.gate, which checks them first.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

from index.settings import enforce_offline

enforce_offline()

import gradio as gr  # noqa: E402

from assistant.core import (  # noqa: E402
    MAX_QUESTION_CHARS,
    AssistantProvider,
    blank,
    check_text,
)
from assistant.types import Answer, DocumentInfo, Passage  # noqa: E402
from index.errors import AssistantError, InvalidInputError  # noqa: E402

log = logging.getLogger("assistant.ui")

# The conversation the server keeps per session: enough to show it and to read a follow-up.
MAX_KEPT_MESSAGES = 40
FOLLOW_UP_TURNS = 6

LANGUAGES = {"English": "en", "Español": "es"}

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Immigration data-sharing assistant",
        "notice": (
            "Answers come only from the documents in the <strong>Library</strong> tab{dates},"
            " quoted word for"
            " word with their sources. They are not legal advice: for your own situation, talk to"
            " a lawyer or a trusted immigrant-rights organization."
        ),
        "dates": " (published {first} to {last})",
        "ask_tab": "Ask",
        "library_tab": "Library",
        "conversation": "Conversation",
        "question": "Your question",
        "placeholder": "Ask in English or Spanish, e.g. “Can ICE use DMV photos?”",
        "ask": "Ask",
        "copy": "Copy answer with sources",
        "copied": "Copied: the answer and its sources are on the clipboard.",
        "nothing": "Ask a question first; then the answer can be copied.",
        "new": "New conversation",
        "staff": "Staff view (top passages and scores)",
        "examples": "Try a question",
        "sources": "Sources",
        "in_context": "The cited passage is highlighted in its surrounding text.",
        "staff_title": "Top passages for the last question",
        "score": "score",
        "references": "Sources",
        "library_intro": "The assistant answers only from these documents.",
        "col_title": "Title",
        "col_publisher": "Publisher",
        "col_date": "Published",
        "col_passages": "Passages",
        "empty": "Type a question first.",
        "invalid": (
            f"The question cannot be read: at most {MAX_QUESTION_CHARS:,} characters of text,"
            " without control characters."
        ),
        "failed": "Something went wrong while answering. Please try again.",
        "language": "Language / Idioma",
    },
    "es": {
        "title": "Asistente sobre el intercambio de datos con inmigración",
        "notice": (
            "Las respuestas salen solo de los documentos de la pestaña <strong>Biblioteca</strong>"
            "{dates},"
            " citados palabra por palabra con sus fuentes (en inglés). No son asesoría legal: para"
            " su caso, hable con un abogado o con una organización de confianza que defienda a"
            " inmigrantes."
        ),
        "dates": " (publicados de {first} a {last})",
        "ask_tab": "Preguntar",
        "library_tab": "Biblioteca",
        "conversation": "Conversación",
        "question": "Su pregunta",
        "placeholder": "Pregunte en español o en inglés, p. ej. «¿Puede ICE usar fotos del DMV?»",
        "ask": "Preguntar",
        "copy": "Copiar respuesta con fuentes",
        "copied": "Copiado: la respuesta y sus fuentes están en el portapapeles.",
        "nothing": "Haga una pregunta primero; luego podrá copiar la respuesta.",
        "new": "Nueva conversación",
        "staff": "Vista para personal (pasajes y puntuaciones)",
        "examples": "Pruebe una pregunta",
        "sources": "Fuentes",
        "in_context": "El pasaje citado aparece resaltado dentro de su texto.",
        "staff_title": "Pasajes principales de la última pregunta",
        "score": "puntuación",
        "references": "Fuentes",
        "library_intro": "El asistente responde solo con estos documentos.",
        "col_title": "Título",
        "col_publisher": "Editorial",
        "col_date": "Publicado",
        "col_passages": "Pasajes",
        "empty": "Escriba una pregunta primero.",
        "invalid": (
            f"No se puede leer la pregunta: como máximo {MAX_QUESTION_CHARS} caracteres de"
            " texto, sin caracteres de control."
        ),
        "failed": "Algo salió mal al responder. Vuelva a intentarlo.",
        "language": "Language / Idioma",
    },
}

EXAMPLES = {
    "en": [
        "When did ICE start its own gang database?",
        "Can ICE use DMV photos to find people?",
        "What does a 287(g) agreement let local police do?",
        "Are fingerprints from a local arrest shared with ICE?",
        "Can ICE get my address from my tax records?",
    ],
    "es": [
        "¿Puede ICE usar los registros del DMV para encontrar a una persona?",
        "¿Qué es un acuerdo 287(g)?",
        "¿Comparte la policía local las huellas digitales con ICE?",
        "¿Puede ICE conseguir mi dirección a través del IRS?",
        "¿Tiene ICE su propia base de datos de pandillas?",
    ],
}

CSS = """
#notice { border-left: 4px solid var(--color-accent); padding: 0.25rem 0.75rem; }
.sources ol { padding-left: 0; list-style: none; }
.sources li {
  border-left: 3px solid var(--color-accent); padding: 0.25rem 0.75rem; margin: 0.5rem 0;
}
.sources summary { cursor: pointer; }
.sources summary:focus-visible { outline: 2px solid var(--color-accent); }
.sources .context { white-space: pre-wrap; margin: 0.5rem 0 0; line-height: 1.5; }
.sources mark { background: #fff3a3; color: #111; padding: 0 0.1rem; }
.sources .where { font-size: 0.85em; opacity: 0.75; }
.staff table, .library table { width: 100%; border-collapse: collapse; font-size: 0.92em; }
.staff td, .staff th, .library td, .library th {
  border-bottom: 1px solid var(--border-color-primary); padding: 0.3rem; vertical-align: top;
}
@media (max-width: 640px) { .sources .context { font-size: 0.92em; } }
"""

# Copies the prepared plain text; falls back to a hidden textarea where the Clipboard API is
# unavailable (pages not served from localhost or https).
_COPY_MESSAGES = json.dumps(
    {code: {k: TEXT[code][k] for k in ("nothing", "copied")} for code in TEXT}, ensure_ascii=False
)
COPY_JS = (
    "async (text, language) => {\n"
    "  const m = " + _COPY_MESSAGES + "[language === 'Español' ? 'es' : 'en'];\n"
    "  if (!text) { return m.nothing; }\n"
    "  try { await navigator.clipboard.writeText(text); }\n"
    "  catch (error) {\n"
    "    const area = document.createElement('textarea');\n"
    "    area.value = text; document.body.appendChild(area); area.select();\n"
    "    document.execCommand('copy'); area.remove();\n"
    "  }\n"
    "  return m.copied;\n"
    "}"
)
BROWSER_LANGUAGE_JS = (
    "() => (navigator.language || 'en').toLowerCase().startsWith('es') ? 'Español' : 'English'"
)


def _details(passage: Passage) -> str:
    doc = passage.document
    return " · ".join(html.escape(x) for x in (doc.publisher, doc.published) if x)


def sources_html(
    answer: Answer,
    language: str = "en",
    context: Any = None,
) -> str:
    """Each citation: number, title, publisher and date; opening it shows the passage
    highlighted in its surrounding text (`context(passage)` gives before, passage, after)."""
    if not answer.citations:
        return ""
    text = TEXT[language]
    items = []
    for citation in answer.citations:
        passage = citation.passage
        before, cited, after = context(passage) if context else ("", passage.text, "")
        where = passage.document.url or passage.document.path or ""
        items.append(
            f'<li id="source-{citation.n}"><details>'
            f"<summary><strong>[{citation.n}] {html.escape(passage.document.title)}</strong>"
            + (f" — {_details(passage)}" if _details(passage) else "")
            + "</summary>"
            f'<p class="context">{html.escape(before)}<mark>{html.escape(cited)}</mark>'
            f"{html.escape(after)}</p>"
            + (f'<p class="where">{html.escape(where)}</p>' if where else "")
            + "</details></li>"
        )
    return (
        f'<section class="sources" aria-label="{text["sources"]}">'
        f'<h3>{text["sources"]}</h3><p class="where">{text["in_context"]}</p>'
        f"<ol>{''.join(items)}</ol></section>"
    )


def copy_text(answer: Answer, language: str = "en") -> str:
    """The answer as plain text, then a numbered reference list: ready to paste."""
    if not answer.citations:
        return answer.answer
    lines = [answer.answer, "", TEXT[language]["references"] + ":"]
    for citation in answer.citations:
        doc = citation.passage.document
        parts = [doc.title, doc.publisher, doc.published, doc.url or doc.path]
        lines.append(f"[{citation.n}] " + ". ".join(p for p in parts if p))
    return "\n".join(lines)


def staff_html(passages: Sequence[Passage], language: str = "en") -> str:
    """The passages the answer was chosen from, with scores and documents."""
    text = TEXT[language]
    rows = "".join(
        f"<tr><td>{rank}</td><td>{passage.score:.3f}</td>"
        f"<td><strong>{html.escape(passage.document.title)}</strong><br>"
        f"<small>{html.escape(passage.section)}{_kind(passage)}</small></td>"
        f"<td>{html.escape(_clip(passage.text, 320))}</td></tr>"
        for rank, passage in enumerate(passages, start=1)
    )
    return (
        f'<section class="staff"><h3>{text["staff_title"]}</h3><table>'
        f"<tr><th>#</th><th>{text['score']}</th><th>{text['col_title']}</th><th></th></tr>"
        f"{rows}</table></section>"
    )


def _kind(passage: Passage) -> str:
    return "" if passage.kind == "content" else f" · {passage.kind}"


def library_html(documents: Sequence[DocumentInfo], language: str = "en") -> str:
    text = TEXT[language]
    rows = "".join(
        f"<tr><td>{html.escape(d.title)}</td><td>{html.escape(d.publisher or '')}</td>"
        f"<td>{html.escape(d.published or '')}</td><td>{d.chunks}</td></tr>"
        for d in documents
    )
    return (
        f'<section class="library"><p>{text["library_intro"]}</p><table>'
        f"<tr><th>{text['col_title']}</th><th>{text['col_publisher']}</th>"
        f"<th>{text['col_date']}</th><th>{text['col_passages']}</th></tr>{rows}</table></section>"
    )


def notice(documents: Sequence[DocumentInfo], language: str) -> str:
    """The framing at the top of the page, as HTML, with the span of the documents' dates."""
    dates = sorted(d.published for d in documents if d.published)
    text = TEXT[language]
    span = ""
    if dates:
        span = text["dates"].format(first=html.escape(dates[0]), last=html.escape(dates[-1]))
    return f"<p>{text['notice'].format(dates=span)}</p>"


def shown(text: str) -> str:
    """Text for a chat message: the Chatbot renders HTML, so markup shows as the characters it
    is made of (quotes, &lt; and &gt; stay readable; nothing becomes an element)."""
    return html.escape(text, quote=False)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _forget(blocks: gr.Blocks, request: gr.Request) -> None:
    """Drop what the server holds of a closed page's session."""
    holder = blocks.state_holder
    with holder.lock:
        holder.session_data.pop(request.session_hash or "", None)
        holder.time_last_used.pop(request.session_hash or "", None)


class Chat(NamedTuple):
    """The page, and the ids of its functions that answer questions (the ones the gate limits
    per address and holds back while there is no index)."""

    blocks: gr.Blocks
    questions: list[int]


def create_ui(provider: AssistantProvider) -> Chat:
    """The chat page."""

    def documents() -> list[DocumentInfo]:
        try:
            return provider.get().documents()
        except AssistantError:
            return []

    def check(question: str, language_name: str, kept: list[dict[str, str]] | None) -> list[Any]:
        """Gradio's validator: a question that cannot be asked is refused when it is sent,
        before it is queued (422, the reason shown beside the question box)."""
        text = TEXT[LANGUAGES.get(language_name, "en")]
        problem = ""
        if blank(question or ""):
            problem = text["empty"]
        else:
            try:
                check_text(question, "question")
            except InvalidInputError:
                problem = text["invalid"]
        return [gr.validate(not problem, problem), gr.validate(True, ""), gr.validate(True, "")]

    def respond(
        question: str, language_name: str, kept: list[dict[str, str]] | None
    ) -> tuple[list[dict[str, str]], str, str, str, str, list[dict[str, str]]]:
        language = LANGUAGES.get(language_name, "en")
        kept = list(kept or [])
        try:
            assistant = provider.get()
            answer, passages = assistant.consult(question, kept[-FOLLOW_UP_TURNS:])
            sources = sources_html(answer, language, assistant.context)
        except AssistantError as error:
            raise gr.Error(str(error), print_exception=False) from None
        except Exception as error:  # the UI's boundary: no traceback (it shows the question)
            log.error("chat: %s while answering", type(error).__name__)
            raise gr.Error(TEXT[language]["failed"], print_exception=False) from None
        kept += [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer.answer},
        ]
        kept = kept[-MAX_KEPT_MESSAGES:]
        messages = [{"role": m["role"], "content": shown(m["content"])} for m in kept]
        return (
            messages,
            sources,
            staff_html(passages, language),
            copy_text(answer, language),
            "",
            kept,
        )

    def switch(language_name: str) -> tuple[Any, ...]:
        language = LANGUAGES.get(language_name, "en")
        text = TEXT[language]
        docs = documents()
        return (
            f"# {text['title']}",
            notice(docs, language),
            gr.update(label=text["conversation"]),
            gr.update(label=text["question"], placeholder=text["placeholder"]),
            gr.update(value=text["ask"]),
            gr.update(value=text["copy"]),
            gr.update(value=text["new"]),
            gr.update(label=text["staff"]),
            gr.update(samples=[[q] for q in EXAMPLES[language]], label=text["examples"]),
            gr.update(label=text["ask_tab"]),
            gr.update(label=text["library_tab"]),
            library_html(docs, language),
        )

    en = TEXT["en"]
    with gr.Blocks(title=en["title"], analytics_enabled=False) as blocks:
        # Columns with minimum widths: on a phone the language switch drops below the title.
        with gr.Row():
            with gr.Column(scale=4, min_width=320):
                title = gr.Markdown(f"# {en['title']}", elem_id="title")
            with gr.Column(scale=1, min_width=220):
                language = gr.Radio(
                    list(LANGUAGES), value="English", label=en["language"], elem_id="language"
                )
        notice_box = gr.HTML(notice([], "en"), elem_id="notice")
        with gr.Tabs():
            with gr.Tab(en["ask_tab"], id="ask", elem_id="ask-tab") as ask_tab, gr.Row():
                with gr.Column(scale=3, min_width=320):
                    chatbot = gr.Chatbot(
                        label=en["conversation"],
                        height=380,
                        render_markdown=False,
                        feedback_options=None,
                        buttons=[],
                        elem_id="chat",
                    )
                    with gr.Row():
                        question = gr.Textbox(
                            label=en["question"],
                            placeholder=en["placeholder"],
                            scale=5,
                            min_width=260,
                            max_length=2000,
                            elem_id="question",
                        )
                        ask = gr.Button(
                            en["ask"], variant="primary", scale=1, min_width=120, elem_id="ask"
                        )
                    sources = gr.HTML(elem_id="sources")
                    with gr.Row():
                        copy = gr.Button(en["copy"], size="sm", elem_id="copy")
                        new = gr.Button(en["new"], size="sm", elem_id="new")
                    copied = gr.Markdown("", elem_id="copy-status")
                    examples = gr.Dataset(
                        components=[question],
                        samples=[[q] for q in EXAMPLES["en"]],
                        label=en["examples"],
                        elem_id="examples",
                    )
                    staff = gr.Checkbox(label=en["staff"], value=False, elem_id="staff")
                with gr.Column(scale=2, min_width=300, visible=False) as staff_panel:
                    staff_box = gr.HTML(elem_id="staff-panel")
            with gr.Tab(en["library_tab"], id="library", elem_id="library-tab") as library_tab:
                library = gr.HTML(elem_id="library")
        plain = gr.Textbox(visible=False)
        # what was said so far, held by the server for this page's session only
        kept = gr.State([])

        asking = [question, language, kept]
        outputs = [chatbot, sources, staff_box, plain, question, kept]
        question.submit(respond, asking, outputs, validator=check, api_visibility="private")
        ask.click(respond, asking, outputs, validator=check, api_visibility="private")
        examples.click(lambda sample: sample[0], examples, question, api_visibility="private").then(
            respond, asking, outputs, validator=check, api_visibility="private"
        )
        # "New conversation" and the conversation's own clear button forget the same things
        forgotten = [chatbot, sources, staff_box, plain, copied, kept]
        for starting_over in (new.click, chatbot.clear):
            starting_over(
                lambda: ([], "", "", "", "", []), None, forgotten, api_visibility="private"
            )
        copy.click(None, [plain, language], copied, js=COPY_JS, api_visibility="private")
        staff.change(
            lambda show: gr.update(visible=show), staff, staff_panel, api_visibility="private"
        )
        # Everything that carries words: relabelled when the language changes, and at page load.
        labelled = [
            title,
            notice_box,
            chatbot,
            question,
            ask,
            copy,
            new,
            staff,
            examples,
            ask_tab,
            library_tab,
            library,
        ]
        language.change(
            switch,
            language,
            labelled,
            api_visibility="private",
        )
        # One after the other: two independent load events raced, and under load the labels of
        # the value before the browser's language was read could arrive last.
        blocks.load(None, None, language, js=BROWSER_LANGUAGE_JS, api_visibility="private").then(
            switch, language, labelled, api_visibility="private"
        )

        # Gradio keeps every value a session showed (the whole conversation) in memory, and
        # for an hour after its page is closed: dropped as soon as the page goes.
        def forget(request: gr.Request) -> None:
            _forget(blocks, request)

        blocks.unload(forget)
        # Gradio's REST routes would skip the queue (and the gate's checks): closed.
        blocks.queue(api_open=False)
    return Chat(blocks, [i for i, fn in blocks.fns.items() if fn.fn is respond])
