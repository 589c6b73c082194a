"""One name per concept, for everything a resident and a clerk both see: the wallet (``machi-wallet``)
and the clerk console (``procedures.console.i18n``) take these texts from here, so the resident's
program and the city office never call one thing by two names ("identity level 2" in one place,
"resident of the city" in another).

Keys are the console's: a concept (``level``) or a concept's value as ``<prefix>_<value the API
sends>`` (``lvl_2``, ``st_in_review``, ``ev_benefit_paid``). Japanese first, English second.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["LANGS", "TERMS", "choose_language", "term"]

LANGS = ("ja", "en")

TERMS: dict[str, dict[str, str]] = {
    # ------------------------------------------------------------------ common
    "wallet": {"ja": "ウォレットアドレス", "en": "Wallet address"},
    "status": {"ja": "状態", "en": "Status"},
    "procedure": {"ja": "手続", "en": "Procedure"},
    "application": {"ja": "申請番号", "en": "Application"},
    "submitted": {"ja": "受付日時", "en": "Submitted"},
    "event": {"ja": "出来事", "en": "Event"},
    "when": {"ja": "日時", "en": "When"},
    "timeline": {"ja": "経過", "en": "Timeline"},
    "yes": {"ja": "はい", "en": "Yes"},
    "no": {"ja": "いいえ", "en": "No"},
    # ------------------------------------------------------------------ identity
    "level": {"ja": "本人確認レベル", "en": "Identity level"},
    "lvl_0": {"ja": "なし", "en": "None"},
    "lvl_1": {"ja": "カード認証済", "en": "Card authenticated"},
    "lvl_2": {"ja": "市民確認済", "en": "Resident of the city"},
    "verified": {"ja": "有効な本人確認", "en": "Verified"},
    "expires": {"ja": "有効期限", "en": "Expires"},
    "ids_linked": {"ja": "有効", "en": "Linked"},
    "ids_revoked": {"ja": "失効", "en": "Revoked"},
    "ids_rebound": {"ja": "再発行により移行済", "en": "Moved to a new wallet"},
    "ids_failed": {"ja": "登録失敗", "en": "Failed"},
    "ids_recovering": {"ja": "再発行の待機中", "en": "Recovery pending"},
    "ids_cancelled": {"ja": "再発行を取消", "en": "Recovery cancelled"},
    "revocation_reason": {"ja": "失効理由", "en": "Revocation reason"},
    "rr_moved_out": {"ja": "転出", "en": "Moved out"},
    "rr_deceased": {"ja": "死亡", "en": "Deceased"},
    "rr_card_revoked": {"ja": "カード失効", "en": "Card revoked"},
    "rr_requested": {"ja": "本人の申出", "en": "At the holder's request"},
    "rr_rebound": {"ja": "新しいウォレットへ移行", "en": "Moved to a new wallet"},
    # ------------------------------------------------------------------ chain writes
    "ist_queued": {"ja": "送信待ち", "en": "Queued"},
    "ist_pending": {"ja": "処理中", "en": "Pending"},
    "ist_confirmed": {"ja": "確定", "en": "Confirmed"},
    "ist_failed": {"ja": "失敗", "en": "Failed"},
    # ------------------------------------------------------------------ money
    "balance": {"ja": "残高", "en": "Balance"},
    "fee": {"ja": "手数料", "en": "Fee"},
    "benefit": {"ja": "給付", "en": "Benefit"},
    "fs_none": {"ja": "なし", "en": "None"},
    "fs_pending": {"ja": "処理中", "en": "Pending"},
    "fs_paid": {"ja": "支払済", "en": "Paid"},
    "fs_failed": {"ja": "失敗", "en": "Failed"},
    "fs_refunding": {"ja": "返金中", "en": "Refunding"},
    "fs_refunded": {"ja": "返金済", "en": "Refunded"},
    "fs_refund_failed": {"ja": "返金失敗", "en": "Refund failed"},
    # ------------------------------------------------------------------ applications
    "correction": {"ja": "補正依頼", "en": "Correction requested"},
    "anchored": {"ja": "記録済", "en": "Anchored"},
    "not_anchored": {"ja": "記録待ち", "en": "Not anchored yet"},
    "st_submitted": {"ja": "受付", "en": "Submitted"},
    "st_in_review": {"ja": "審査中", "en": "In review"},
    "st_returned": {"ja": "補正待ち", "en": "Returned"},
    "st_resubmitted": {"ja": "再提出", "en": "Resubmitted"},
    "st_approved": {"ja": "承認", "en": "Approved"},
    "st_rejected": {"ja": "却下", "en": "Rejected"},
    "st_withdrawn": {"ja": "取下げ", "en": "Withdrawn"},
    "st_lapsed": {"ja": "期限切れ", "en": "Lapsed"},
    "ev_submitted": {"ja": "申請", "en": "Submitted"},
    "ev_assigned": {"ja": "担当割当", "en": "Assigned"},
    "ev_claimed": {"ja": "担当", "en": "Claimed"},
    "ev_approved": {"ja": "承認", "en": "Approved"},
    "ev_rejected": {"ja": "却下", "en": "Rejected"},
    "ev_returned": {"ja": "補正依頼", "en": "Returned"},
    "ev_resubmitted": {"ja": "再提出", "en": "Resubmitted"},
    "ev_withdrawn": {"ja": "取下げ", "en": "Withdrawn"},
    "ev_lapsed": {"ja": "期限切れ", "en": "Lapsed"},
    "ev_commented": {"ja": "メモ", "en": "Comment"},
    "ev_fee_paid": {"ja": "手数料支払", "en": "Fee paid"},
    "ev_fee_failed": {"ja": "手数料支払失敗", "en": "Fee payment failed"},
    "ev_fee_refunded": {"ja": "手数料返金", "en": "Fee refunded"},
    "ev_benefit_paid": {"ja": "給付", "en": "Benefit paid"},
    "ev_benefit_failed": {"ja": "給付失敗", "en": "Benefit failed"},
    "ev_erased": {"ja": "消去", "en": "Erased"},
    "ev_reported": {"ja": "通報（Open311）", "en": "Reported (Open311)"},
    "ev_civic_reviewed": {"ja": "公開の確認", "en": "Reviewed for publication"},
    "ev_civic_in_progress": {"ja": "対応開始", "en": "Work started"},
    "ev_civic_merged": {"ja": "重複として統合", "en": "Merged as a duplicate"},
}


def term(key: str, lang: str) -> str:
    """The name of ``key`` in ``lang`` (``ja`` for an unknown language; the key itself if unknown)."""
    names = TERMS.get(key)
    if names is None:
        return key
    return names.get(lang) or names["ja"]


def choose_language(option: str | None, environ: Mapping[str, str], variable: str = "MACHI_WALLET_LANG") -> str:
    """``ja`` or ``en`` for a program of the city's (``machi-wallet``, ``machi-pos``): the option, else the
    program's environment ``variable``, else the locale (Japanese unless it names another language)."""
    if option in LANGS:
        return str(option)
    chosen = environ.get(variable, "").strip().lower()
    if chosen in LANGS:
        return chosen
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):  # POSIX precedence: the first one set decides
        value = environ.get(name)
        if value:
            language = value.split(".", 1)[0].split("_", 1)[0].split("@", 1)[0].lower()
            return "ja" if language in ("ja", "c", "posix", "") else "en"
    return "ja"
