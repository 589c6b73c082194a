"""What ``machi-pos`` says, in Japanese (the default) and English — the pattern of ``wallet.i18n``.

The language: ``--lang``, else ``MACHI_POS_LANG``, else the locale (``protocol.terms.choose_language``).
Messages are ``str.format`` templates by key; ``Texts.error`` words an error: the program's own by key,
the service's by its error code when known (Japanese), else as the service sent it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import protocol.texts
from protocol.terms import LANGS, choose_language
from protocol.texts import CARD_MESSAGES

__all__ = ["LANGS", "MESSAGES", "SERVICE_ERRORS", "Texts", "choose_language", "english", "pos_language"]

MESSAGES: dict[str, dict[str, str]] = {
    "error": {"ja": "エラー", "en": "Error"},
    "aborted": {"ja": "中止しました。", "en": "Aborted."},
    "no_terminal": {
        "ja": "（入力できる端末がありません。API キーは --key-file か MACHI_POS_API_KEY で渡せます）",
        "en": "(no terminal to answer on: give the API key with --key-file or MACHI_POS_API_KEY)",
    },
    # ------------------------------------------------------------------ the service and the key
    "service_timeout": {
        "ja": "{url} のサービスから時間内に応答がありません。もう一度お試しください",
        "en": "the service at {url} did not answer in time; try again",
    },
    "service_unreachable": {
        "ja": "{url} のまちレジャーのサービスに接続できません。ネットワークを確認してください",
        "en": "cannot reach the Machi Ledger service at {url}; check the network",
    },
    "service_nonsense": {
        "ja": "{url} から想定外の応答がありました（HTTP {status}）",
        "en": "unexpected reply from {url} (HTTP {status})",
    },
    "prompt_key": {"ja": "加盟店の API キー（mk_…、表示されません）", "en": "Merchant API key (mk_…, not shown)"},
    "key_file_unreadable": {
        "ja": "API キーのファイル {path} を読めません（{problem}）",
        "en": "cannot read the API key file {path} ({problem})",
    },
    "key_malformed": {
        "ja": "API キーの形式が違います（mk_ で始まる一行です）",
        "en": "that is not a merchant API key (one line starting with mk_)",
    },
    "logged_in": {"ja": "加盟店: [bold]{name}[/]（{id}）", "en": "merchant: [bold]{name}[/] ({id})"},
    # ------------------------------------------------------------------ offline payments
    "offline_synced": {"ja": "オフライン払いの確保額を同期しました（{count} 人）",
                       "en": "offline reserves synced ({count} residents)"},
    "offline_not_synced": {"ja": "まだ同期していません。通信できるときに machi-pos offline-sync を実行してください",
                           "en": "never synced: run `machi-pos offline-sync` while online"},
    "offline_store_unreadable": {"ja": "オフライン払いのファイル {path} を読めません",
                                 "en": "cannot read the offline payments file {path}"},
    "offline_accepted": {"ja": "[green]✓[/] オフライン払い {amount} コインを受け付けました（{payer}）。通信が戻ったら "
                               "machi-pos offline-relay で送ってください",
                         "en": "[green]✓[/] offline payment of {amount} coins accepted ({payer}); relay it with "
                               "`machi-pos offline-relay` when the network is back"},
    "offline_expires_soon": {
        "ja": "[yellow]![/] 未送信のオフライン払い {amount} コイン（{payer}）の有効期限まであと {left}"
              "（{at}）。期限を過ぎると支払われません。通信できしだい machi-pos offline-relay で送ってください",
        "en": "[yellow]![/] the kept offline payment of {amount} coins ({payer}) expires in {left} ({at}); "
              "after that it cannot be paid: relay it with `machi-pos offline-relay` as soon as the network is back"},
    "offline_expired_kept": {
        "ja": "[red]![/] 未送信のオフライン払い {amount} コイン（{payer}）は有効期限（{at}）を過ぎました。"
              "支払われません",
        "en": "[red]![/] the kept offline payment of {amount} coins ({payer}) expired at {at}: "
              "it cannot be paid any more"},
    "offline_kept": {
        "ja": "未送信: {amount} コイン（{payer}）",
        "en": "kept, not relayed yet: {amount} coins ({payer})"},
    "offline_nothing": {"ja": "送るオフライン払いはありません", "en": "no offline payments to relay"},
    "offline_relayed": {"ja": "{count} 件のオフライン払いを送りました", "en": "{count} offline payments relayed"},
    "offline_waiting": {"ja": "チェーンでの決済を待っています…", "en": "waiting for the chain to settle them…"},
    "offline_paid": {
        "ja": "[green]✓[/] {amount} コイン 入金済み（{id}）",
        "en": "[green]✓[/] {amount} coins paid ({id})"},
    "offline_refused": {"ja": "[red]✗[/] {amount} コイン 不成立（{id}）: {reason}",
                        "en": "[red]✗[/] {amount} coins NOT paid ({id}): {reason}"},
    "offline_still_relaying": {
        "ja": "… {amount} コイン 決済待ち（{id}）",
        "en": "… {amount} coins still settling ({id})"},
    "offline_not_ours": {"ja": "まちレジャーのオフライン払いのコードではありません",
                         "en": "this is not a Machi Ledger offline payment code"},
    "offline_malformed": {"ja": "オフライン払いのコードが壊れています", "en": "the offline payment code is damaged"},
    "offline_wrong_chain": {"ja": "別のチェーンか別の確保先のオフライン払いです",
                            "en": "this offline payment is for another chain or reserve"},
    "offline_wrong_merchant": {"ja": "このお店宛てのオフライン払いではありません",
                               "en": "this offline payment pays another merchant"},
    "offline_bad_signature": {"ja": "署名が内容と一致しません（改ざんの可能性）。受け取らないでください",
                              "en": "the payer's signature does not match this payment (tampered?); do not accept it"},
    "offline_expired": {"ja": "このオフライン払いは有効期限切れです", "en": "this offline payment has expired"},
    "offline_too_long": {"ja": "有効期間が長すぎるオフライン払いです",
                         "en": "this offline payment is valid for longer than counters accept"},
    "offline_seen": {"ja": "このオフライン払いは受け付け済みです", "en": "this offline payment was accepted already"},
    "offline_no_reserve": {"ja": "前回の同期の時点で、このお客様にはオフライン用の確保額がありません",
                           "en": "the payer had no offline reserve when this counter last synced"},
    "offline_release_pending": {"ja": "お客様の確保額は解除中です。オンラインで支払ってもらってください",
                                "en": "the payer's reserve is being released; pay online"},
    "offline_over_reserve": {"ja": "お客様の確保額の残りを超えています",
                             "en": "over what is left of the payer's offline reserve"},
    # ------------------------------------------------------------------ charging
    "prompt_amount": {"ja": "金額（コイン＝円）", "en": "Amount (coins = yen)"},
    "request_created": {"ja": "お支払い {amount} 円 — {id}", "en": "payment of ¥{amount} — {id}"},
    "scan_hint": {
        "ja": "お客様のスマートフォンで読み取ってください（machi-wallet pay でも支払えます）:",
        "en": "let the customer scan this (or pay it with machi-wallet pay):",
    },
    "waiting": {"ja": "お支払いを待っています… {seconds} 秒（Ctrl-C で取り消し）",
                "en": "waiting for the payment… {seconds} s (Ctrl-C cancels)"},
    "in_progress": {"ja": "お支払いを処理中… {seconds} 秒", "en": "payment in progress… {seconds} s"},
    "paid": {"ja": "[green]お支払いを受け付けました[/]: {amount} 円", "en": "[green]paid[/]: ¥{amount}"},
    "request_ended": {"ja": "このお支払いは{status}になりました", "en": "the payment request is {status}"},
    "not_paid_in_time": {
        "ja": "{seconds} 秒以内に支払われませんでした。お支払いは取り消しました（{id}）",
        "en": "not paid within {seconds} s; the request was canceled ({id})",
    },
    "canceled_by_cashier": {"ja": "お支払いを取り消しました（{id}）", "en": "canceled the payment request {id}"},
    "last_error": {"ja": "直前の支払いの失敗: {error}", "en": "last payment attempt failed: {error}"},
    "pdf_written": {"ja": "PDF のレシート: {path}", "en": "PDF receipt: {path}"},
    # ------------------------------------------------------------------ receipts
    "receipt_title": {"ja": "領収書", "en": "RECEIPT"},
    "receipt_store": {"ja": "店名", "en": "Store"},
    "receipt_date": {"ja": "日時", "en": "Date"},
    "receipt_item": {"ja": "品目", "en": "Item"},
    "receipt_amount": {"ja": "金額", "en": "Amount"},
    "receipt_refunded": {"ja": "返金済", "en": "Refunded"},
    "receipt_number": {"ja": "取引番号", "en": "Payment"},
    "receipt_paid_with": {"ja": "支払方法", "en": "Paid with"},
    "receipt_payer": {"ja": "支払元", "en": "Payer"},
    "receipt_tx": {"ja": "取引記録", "en": "Transaction"},
    "receipt_currency": {"ja": "地域通貨（まちレジャー）", "en": "regional coin (Machi Ledger)"},
    "receipt_not_paid": {"ja": "{id} は支払われていません（{status}）", "en": "{id} is not paid ({status})"},
    "yen": {"ja": "{amount} 円", "en": "¥{amount}"},
    # ------------------------------------------------------------------ refunds
    "confirm_refund": {"ja": "{id} の {amount} 円を返金しますか？", "en": "Refund ¥{amount} of {id}?"},
    "refund_waiting": {"ja": "返金を処理中… {seconds} 秒", "en": "refund in progress… {seconds} s"},
    "refunded": {"ja": "[green]返金しました[/]: {amount} 円（{id}）", "en": "[green]refunded[/] ¥{amount} ({id})"},
    "refund_failed": {"ja": "返金できませんでした（{code}）", "en": "the refund failed ({code})"},
    "refund_not_final": {
        "ja": "返金 {id} はまだ処理中です。あとで machi-pos statement で確認してください",
        "en": "refund {id} is still in progress; see it later in machi-pos statement",
    },
    "nothing_to_refund": {"ja": "{id} に返金できる額はありません", "en": "nothing left to refund on {id}"},
    # ------------------------------------------------------------------ the day's statement
    "statement_title": {"ja": "{day} の売上（{name}）", "en": "Statement of {day} ({name})"},
    "col_time": {"ja": "時刻", "en": "Time"},
    "col_type": {"ja": "種類", "en": "Type"},
    "col_id": {"ja": "番号", "en": "Id"},
    "col_description": {"ja": "内容", "en": "Description"},
    "col_effect": {"ja": "金額", "en": "Amount"},
    "type_payment": {"ja": "売上", "en": "Payment"},
    "type_refund": {"ja": "返金", "en": "Refund"},
    "type_payout": {"ja": "換金", "en": "Payout"},
    "total_payments": {"ja": "売上 {count} 件: {amount} 円", "en": "{count} payment(s): ¥{amount}"},
    "total_refunds": {"ja": "返金 {count} 件: {amount} 円", "en": "{count} refund(s): ¥{amount}"},
    "total_net": {"ja": "差引: {amount} 円", "en": "net: ¥{amount}"},
    "no_rows": {"ja": "この日の取引はありません", "en": "no transactions that day"},
    "csv_written": {"ja": "CSV を保存しました: {path}", "en": "CSV saved to {path}"},
    # ------------------------------------------------------------------ payment request statuses
    "prs_open": {"ja": "支払待ち", "en": "open"},
    "prs_paid": {"ja": "支払済", "en": "paid"},
    "prs_expired": {"ja": "期限切れ", "en": "expired"},
    "prs_canceled": {"ja": "取消", "en": "canceled"},
    "prs_partially_refunded": {"ja": "一部返金", "en": "partially refunded"},
    "prs_refunded": {"ja": "返金済", "en": "refunded"},
    # ------------------------------------------------------------------ card
    "card_prompt": {
        "ja": "{amount} 円（{name}）: マイナンバーカードをリーダーに置き、お客様が暗証番号（数字4桁）を"
              "入力してください",
        "en": "¥{amount} at {name}: the customer puts the My Number card on the reader and types the 4-digit PIN",
    },
    "prompt_card_pin": {"ja": "利用者証明用暗証番号（数字4桁、表示されません）",
                        "en": "Card PIN (4 digits, not shown)"},
    "statement_mismatch": {
        "ja": "サービスから画面と違う支払内容が届きました。カードでは署名しません",
        "en": "the service sent a statement for another payment than the one on the screen; the card does not sign",
    },
    "pin_attempts_over": {
        "ja": "暗証番号の入力を終わりにしました。お支払いは取り消しました",
        "en": "no more PIN attempts for this payment; it was canceled",
    },
    "card_locked_at_counter": {
        "ja": "このカードは暗証番号の誤りが続いたためロックされています。ご本人が市役所の窓口で解除できます",
        "en": "this card is locked after too many wrong PINs; its holder can have it reset at the city office",
    },
    "paid_with_card": {"ja": "マイナンバーカード（カードウォレット）", "en": "My Number card (card wallet)"},
    **CARD_MESSAGES,  # the card's words, the wallet's too
}

#: The service's error codes the cashier can meet, in Japanese (English: the service's own message).
SERVICE_ERRORS: dict[str, str] = {
    "invalid_api_key": "API キーが正しくありません",
    "api_key_revoked": "この API キーは無効になっています（失効または期限切れ）",
    "api_key_wrong_mode": "この API キーはこのサービスでは使えません",
    "merchant_key_required": "加盟店の API キーが必要です",
    "missing_scope": "この API キーにはその権限がありません",
    "merchant_suspended": "加盟店の利用が停止されています",
    "merchant_unavailable": "加盟店の登録がまだ有効ではありません",
    "invalid_parameter": "入力に誤りがあります",
    "not_found": "見つかりません",
    "refund_exceeds_payment": "返金額が支払額を超えています",
    "request_not_paid": "このお支払いはまだ支払われていません",
    "request_not_open": "このお支払いはもう受け付けていません",
    "payment_in_progress": "このお支払いは処理中です",
    "service_unavailable": "サービスが一時的に利用できません。しばらくしてからお試しください",
    "chain_unavailable": "台帳（ブロックチェーン）に一時的に接続できません。しばらくしてからお試しください",
    "rate_limited": "操作が多すぎます。しばらくしてからお試しください",
    "card_not_linked": "このカードはこの市のウォレットに登録されていません",
    "identity_not_live": "このカードの本人確認は失効しているか期限切れです。市役所の窓口で更新してください",
    "card_wallet_not_opted_in": "このカードにはカードウォレットがありません。市役所の窓口で申し込めます",
    "card_wallet_frozen": "このお客様のウォレットは凍結されています。カードでは支払えません",
    "card_payment_limit_exceeded": "カードで1回に支払える上限を超えています",
    "card_daily_limit_exceeded": "カードウォレットの1日の上限を超えています",
    "card_statement_mismatch": "カードが署名した内容がこのお支払いと一致しません",
    "certificate_revoked": "このカードの証明書は失効しています",
    "certificate_expired": "このカードの証明書は有効期限が切れています",
    "bad_card_signature": "カードの署名を確認できませんでした",
    "nonce_expired": "時間が経ちすぎました。もう一度お試しください",
    "nonce_reused": "この署名はすでに使われています。もう一度お試しください",
    "insufficient_balance": "カードウォレットの残高が足りません",
}


def english(key: str, values: Mapping[str, Any] | None = None) -> str:
    """``key`` worded in English (what an exception says when nobody translates it)."""
    return Texts("en")(key, **(values or {}))


def pos_language(option: str | None, environ: Mapping[str, str]) -> str:
    """``ja`` or ``en``: ``--lang``, else ``MACHI_POS_LANG``, else the locale."""
    return choose_language(option, environ, "MACHI_POS_LANG")


class Texts(protocol.texts.Texts):
    """The counter's words in one language (``protocol.texts.Texts`` with the counter's messages); the
    service's errors it does not translate keep their code in brackets, for the merchant's support."""

    MESSAGES = MESSAGES
    SERVICE_ERRORS = SERVICE_ERRORS
    SHOW_PARAM = False

    def service_message(self, message: str, code: str | None) -> str:
        return message + (f" [{code}]" if code else "")
