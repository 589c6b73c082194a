"""Console texts, Japanese first with English. Keys are short English phrases."""

from __future__ import annotations

LANGS = ("ja", "en")

TEXTS: dict[str, dict[str, str]] = {
    "app_title": {"ja": "まちレジャー 職員コンソール", "en": "Machi Ledger clerk console"},
    "login": {"ja": "ログイン", "en": "Log in"},
    "logout": {"ja": "ログアウト", "en": "Log out"},
    "username": {"ja": "ユーザー名", "en": "Username"},
    "password": {"ja": "パスワード", "en": "Password"},
    "dashboard": {"ja": "ダッシュボード", "en": "Dashboard"},
    "queue": {"ja": "申請キュー", "en": "Application queue"},
    "merchants": {"ja": "加盟店", "en": "Merchants"},
    "topups": {"ja": "窓口チャージ", "en": "Counter top-ups"},
    "payouts": {"ja": "精算", "en": "Payouts"},
    "residents": {"ja": "住民", "en": "Residents"},
    "signed_in_as": {"ja": "ログイン中", "en": "Signed in as"},
    "role_clerk": {"ja": "担当職員", "en": "Clerk"},
    "role_supervisor": {"ja": "係長", "en": "Supervisor"},
    "role_admin": {"ja": "管理者", "en": "Administrator"},
    "bad_login": {"ja": "ユーザー名またはパスワードが違います。", "en": "Wrong username or password."},
    "locked": {"ja": "ログイン失敗が続いたため、しばらくロックされています。", "en": "Too many failed logins: the account is locked for a while."},
    "csrf": {"ja": "フォームの有効期限が切れました。もう一度お試しください。", "en": "The form expired. Please try again."},
    "session_expired": {"ja": "ログインしてください。", "en": "Please log in."},
    "forbidden": {"ja": "この操作の権限がありません。", "en": "You are not allowed to do this."},
    "not_found": {"ja": "見つかりません。", "en": "Not found."},
    "error": {"ja": "エラー", "en": "Error"},
    "switch_lang": {"ja": "English", "en": "日本語"},
    "today_payments": {"ja": "本日の決済", "en": "Today's payments"},
    "open_applications": {"ja": "処理中の申請（部署別）", "en": "Open applications by department"},
    "overdue": {"ja": "期限超過", "en": "Overdue"},
    "skip_to_content": {"ja": "本文へ移動", "en": "Skip to content"},
}


def translator(lang: str):  # type: ignore[no-untyped-def]
    """A ``t(key)`` function for templates (falls back to the key itself)."""
    lang = lang if lang in LANGS else "ja"

    def t(key: str) -> str:
        return TEXTS.get(key, {}).get(lang, key)

    return t
