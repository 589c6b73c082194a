"""What the city's programs say, in Japanese and English: the frame that ``machi-wallet`` (``wallet.i18n``) and
``machi-pos`` (``pos.i18n``) fill with their own messages, and the card's messages both need.

Messages are ``str.format`` templates by key, ``{"ja": …, "en": …}``; a key not among a program's messages is
looked up in ``protocol.terms`` (the names a resident also meets at the city office). ``Texts.error`` words an
error: the program's own by its key, a card's by kind and secret (PIN or signing password), the service's by
its error code in Japanese when the program knows the code, else as the service sent it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from protocol.errors import CardError, CardLocked, InvalidPinFormat, ProtocolError, WrongPin
from protocol.terms import LANGS, TERMS

__all__ = ["CARD_MESSAGES", "Texts"]

#: The card's words (``which`` is ``PIN`` or ``signing password``, as ``protocol.errors`` names them).
CARD_MESSAGES: dict[str, dict[str, str]] = {
    "pin_which_PIN": {"ja": "利用者証明用暗証番号", "en": "PIN"},
    "pin_which_signing password": {"ja": "署名用パスワード", "en": "signing password"},
    "wrong_pin": {"ja": "{which}が違います", "en": "wrong {which}"},
    "wrong_pin_left": {
        "ja": "{which}が違います。あと {left} 回間違えるとカードがロックされます",
        "en": "wrong {which}; {left} attempt(s) left before the card locks",
    },
    "card_locked": {
        "ja": "{which}がロックされています（誤入力が続いたため）。市区町村の窓口で解除してください",
        "en": "the card's {which} is locked after too many wrong attempts; reset it at the city office",
    },
    "pin_format_PIN": {
        "ja": "利用者証明用暗証番号は数字4桁です（カードには送っていないので、回数は減っていません）",
        "en": "invalid PIN format: the user-authentication PIN is 4 digits",
    },
    "pin_format_signing password": {
        "ja": "署名用パスワードは英数字6〜16文字です（カードには送っていないので、回数は減っていません）",
        "en": "invalid PIN format: the signing password is 6-16 letters and digits",
    },
    "card_failed": {"ja": "カードを使えませんでした（{detail}）", "en": "card error: {detail}"},
}


class Texts:
    """A program's words in one language: ``texts(key, **values)``; ``texts.term(prefix, value)`` for the name
    of a value (``term("st", "in_review")`` → 審査中), falling back to the value itself.

    Subclasses set ``MESSAGES`` (their own, the card's included) and ``SERVICE_ERRORS`` (code → Japanese).
    """

    MESSAGES: ClassVar[Mapping[str, Mapping[str, str]]] = CARD_MESSAGES
    SERVICE_ERRORS: ClassVar[Mapping[str, str]] = {}
    #: Name the field a translated service error is about (the resident typed it; a cashier did not).
    SHOW_PARAM: ClassVar[bool] = True

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGS else "ja"

    def __call__(self, key: str, **values: Any) -> str:
        entry = self.MESSAGES.get(key) or TERMS.get(key)
        if entry is None:
            return key
        text = entry.get(self.lang) or entry["ja"]
        return text.format(**values) if values else text

    def term(self, prefix: str, value: object) -> str:
        key = f"{prefix}_{value}"
        return self(key) if key in self.MESSAGES or key in TERMS else str(value)

    def error(self, exc: BaseException) -> str:
        """What to tell the user about ``exc`` (the program's own, a card's, or the service's)."""
        key, values = getattr(exc, "key", None), getattr(exc, "values", None) or {}
        if key is not None:
            return self(key, **values)
        if isinstance(exc, ProtocolError):
            return self._card(exc)
        code = getattr(exc, "code", None)
        message = str(getattr(exc, "message", None) or exc)
        if self.lang == "ja" and isinstance(code, str) and code in self.SERVICE_ERRORS:
            param = getattr(exc, "param", None) if self.SHOW_PARAM else None
            return self.SERVICE_ERRORS[code] + (f"（{param}）" if param else "") + f" [{code}]"
        return self.service_message(message, code)

    def service_message(self, message: str, code: str | None) -> str:
        """The service's own wording of an error this program does not translate."""
        return message

    def _card(self, exc: ProtocolError) -> str:
        which = str(exc.details.get("which", "PIN"))
        named = self(f"pin_which_{which}")
        if isinstance(exc, WrongPin):
            if exc.retries_left:
                return self("wrong_pin_left", which=named, left=exc.retries_left)
            return self("wrong_pin", which=named)
        if isinstance(exc, CardLocked):
            return self("card_locked", which=named)
        if isinstance(exc, InvalidPinFormat):
            return self(f"pin_format_{which}")
        if isinstance(exc, CardError):
            return self("card_failed", detail=exc.details.get("detail", exc.message))
        return exc.message
