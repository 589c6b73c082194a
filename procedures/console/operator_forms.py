"""Shared plumbing of the operator pages: who acts, reading form fields, and the confirmation step.

Every state-changing operator action takes two posts: the form (validated at once, so bad input
comes back as a message before anything is asked), then ``operator_confirm.html`` which re-posts
the same fields with ``confirm=yes``.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from procedures.console.pages import ConsoleUser, render
from procedures.errors import InvalidRequest

__all__ = ["confirm_page", "confirmed", "operator_of", "text_field"]


def operator_of(user: ConsoleUser) -> str:
    """The audit name of the staff member, as the admin API writes it (``operator:<staff id>``)."""
    return f"operator:{user.account.id}"


def text_field(form: dict[str, Any], name: str, *, max_length: int, required: bool = False,
               message: str | None = None) -> str | None:
    """A stripped text field (``None`` when empty).

    Raises:
        InvalidRequest: required and empty, or longer than ``max_length``.
    """
    value = str(form.get(name, "") or "").strip()
    if required and not value:
        raise InvalidRequest(message or f"{name} is required", param=name)
    if len(value) > max_length:
        raise InvalidRequest(f"{name} must be at most {max_length} characters", param=name)
    return value or None


def confirmed(form: dict[str, Any]) -> bool:
    """The post comes from the confirmation page."""
    return form.get("confirm") == "yes"


def confirm_page(request: Request, user: ConsoleUser, *, question: str, action: str, fields: dict[str, Any],
                 summary: list[tuple[str, Any]], cancel: str, danger: bool = False) -> HTMLResponse:
    """The confirmation step: ``question`` (an i18n key), what will happen, and a form re-posting
    ``fields`` to ``action`` with ``confirm=yes``."""
    return render(request, "operator_confirm.html", {
        "question": question, "action": action, "fields": {k: "" if v is None else v for k, v in fields.items()},
        "summary": summary, "cancel": cancel, "danger": danger,
    }, user=user)
