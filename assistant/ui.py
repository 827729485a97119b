"""UI: the Gradio web chat (answer, then each cited source with its metadata and passage)."""

from __future__ import annotations

import html
from typing import Any

from index.settings import enforce_offline

enforce_offline()

import gradio as gr  # noqa: E402

from assistant.core import AssistantProvider  # noqa: E402
from assistant.types import Answer  # noqa: E402
from index.errors import AssistantError  # noqa: E402

TITLE = "Immigration data-sharing assistant"
NOTICE = (
    "Answers come only from the documents listed under the answer, with their dates, quoted word"
    " for word. This is not legal advice; for your own situation, talk to a lawyer or a trusted"
    " immigrant-rights organisation."
)
EXAMPLES = [
    "When did ICE start its own gang database?",
    "Can ICE use DMV records to find people?",
    "What is a 287(g) agreement?",
    "What information is shared when ICE gets a fingerprint match?",
    "¿Puede ICE obtener mi dirección de mis impuestos?",
]

CSS = """
.sources { font-size: 0.95rem; }
.sources .source {
  border-left: 3px solid var(--color-accent); padding: 0.25rem 0.75rem; margin: 0.75rem 0;
}
.sources blockquote { margin: 0.4rem 0 0; white-space: pre-wrap; }
"""


def message_text(message: dict[str, Any]) -> str:
    """The text of a chat message in any of the shapes Gradio hands over."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def sources_html(answer: Answer) -> str:
    """Each citation: number, title, publisher and date, then the cited passage."""
    if not answer.citations:
        return ""
    items = []
    for citation in answer.citations:
        passage = citation.passage
        doc = passage.document
        details = " · ".join(html.escape(x) for x in (doc.publisher, doc.published) if x)
        items.append(
            f'<div class="source" id="source-{citation.n}">'
            f"<strong>[{citation.n}] {html.escape(doc.title)}</strong>"
            + (f"<br><small>{details}</small>" if details else "")
            + f"<blockquote>{html.escape(passage.text.strip())}</blockquote></div>"
        )
    return '<div class="sources"><h3>Sources</h3>' + "".join(items) + "</div>"


def create_ui(provider: AssistantProvider) -> gr.Blocks:
    """The chat page; `ask` is also callable through gradio_client."""

    def respond(
        question: str, messages: list[dict[str, Any]] | None
    ) -> tuple[list[dict[str, Any]], str, str]:
        messages = list(messages or [])
        if not question or not question.strip():
            raise gr.Error("Type a question first.")
        history = [
            {"role": m["role"], "content": message_text(m)}
            for m in messages
            if m.get("role") in ("user", "assistant")
        ]
        try:
            answer = provider.get().ask(question, history[-20:])
        except AssistantError as error:
            raise gr.Error(str(error)) from None
        messages += [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer.answer},
        ]
        return messages, sources_html(answer), ""

    with gr.Blocks(title=TITLE, analytics_enabled=False) as blocks:
        gr.Markdown(f"# {TITLE}\n{NOTICE}")
        chatbot = gr.Chatbot(
            label="Conversation",
            height=380,
            render_markdown=False,
            feedback_options=None,
            buttons=["copy"],
        )
        with gr.Row():
            question = gr.Textbox(
                label="Your question",
                placeholder="Ask in English or Spanish…",
                scale=5,
                max_length=2000,
                submit_btn=False,
            )
            ask = gr.Button("Ask", variant="primary", scale=1, min_width=80)
        sources = gr.HTML(label="Sources")
        gr.Examples(examples=[[q] for q in EXAMPLES], inputs=question, label="Try a question")
        clear = gr.Button("New conversation", variant="secondary", size="sm")

        question.submit(respond, [question, chatbot], [chatbot, sources, question], api_name="ask")
        ask.click(
            respond, [question, chatbot], [chatbot, sources, question], api_visibility="private"
        )
        clear.click(
            lambda: ([], "", ""), None, [chatbot, sources, question], api_visibility="private"
        )
    return blocks
