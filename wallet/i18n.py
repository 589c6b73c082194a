"""What ``machi-wallet`` says, in Japanese (the default) and English.

The language: ``--lang``, else ``MACHI_WALLET_LANG``, else the locale (``LC_ALL``, ``LC_MESSAGES``,
``LANG``: a Japanese locale or none at all — ``C``, ``POSIX``, unset — is Japanese, any other
language English). The names of things a resident also meets at the city office (identity levels,
application statuses, events…) are the console's, from ``protocol.terms``.

Messages are ``str.format`` templates by key. ``Texts.error`` words an error for the user: the wallet's
own by key; the service's by its error code when the wallet knows the code, else as the service sent it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import protocol.terms
import protocol.texts
from protocol.terms import LANGS

__all__ = ["LANGS", "MESSAGES", "SERVICE_ERRORS", "Texts", "choose_language", "english"]

MESSAGES: dict[str, dict[str, str]] = {
    # ------------------------------------------------------------------ shared
    "error": {"ja": "エラー", "en": "Error"},
    "aborted": {"ja": "中止しました。", "en": "Aborted."},
    "no_terminal": {
        "ja": "（入力できる端末がありません。パスワードなどは環境変数で渡せます: MACHI_WALLET_PASSWORD, "
              "MACHI_CARD_PIN, MACHI_CARD_SIGNING_PASSWORD。確認は --yes で省けます）",
        "en": "(no terminal to answer on: pass passwords in MACHI_WALLET_PASSWORD, MACHI_CARD_PIN, "
              "MACHI_CARD_SIGNING_PASSWORD, and skip confirmations with --yes)",
    },
    "coins": {"ja": "{amount} コイン", "en": "{amount} coins"},
    "optional": {"ja": "（任意）", "en": " (optional)"},
    "none": {"ja": "なし", "en": "none"},
    # ------------------------------------------------------------------ keystore and passwords
    "prompt_password": {"ja": "ウォレットのパスワード", "en": "Wallet password"},
    "prompt_new_password": {"ja": "新しいウォレットのパスワード", "en": "New wallet password"},
    "prompt_repeat": {"ja": "確認のためもう一度入力", "en": "Repeat for confirmation"},
    "created_wallet": {"ja": "ウォレットを作成しました: [bold]{address}[/]", "en": "created wallet [bold]{address}[/]"},
    "keystore_hint": {
        "ja": "鍵ファイル: {path}（バックアップとパスワードを保管してください。紛失してもマイナンバーカードで復旧でき"
              "ます）",
        "en": "keystore: {path} (keep a backup and the password; the card can recover it)",
    },
    "keystore_empty_password": {
        "ja": "ウォレットのパスワードを空にはできません",
        "en": "the wallet password must not be empty",
    },
    "keystore_exists": {
        "ja": "{path} はすでにあります。上書きはしません（別のウォレットには --keystore を使ってください）",
        "en": "{path} already exists; it is not overwritten (use --keystore for another wallet)",
    },
    "keystore_missing": {
        "ja": "{path} にウォレットがありません。machi-wallet init で作成してください",
        "en": "no wallet at {path}; create one with `machi-wallet init`",
    },
    "keystore_unreadable": {
        "ja": "{path} は読めない鍵ファイルです（{problem}）",
        "en": "{path} is not a readable keystore ({problem})",
    },
    "keystore_not_v3": {
        "ja": "{path} は Web3 Secret Storage 形式の鍵ファイルではありません",
        "en": "{path} is not a Web3 Secret Storage keystore",
    },
    "keystore_no_address": {
        "ja": "{path} にはアドレスが記録されていません。アドレスはロックを解除すると表示できます",
        "en": "{path} does not record its address; unlock it to see the address",
    },
    "keystore_bad_address": {
        "ja": "{path} に記録されたアドレスが正しくありません（{problem}）",
        "en": "{path}: {problem}",
    },
    "wrong_password": {"ja": "ウォレットのパスワードが違います", "en": "wrong wallet password"},
    # ------------------------------------------------------------------ the service
    "service_timeout": {
        "ja": "{url} のサービスから時間内に応答がありません。もう一度お試しください",
        "en": "the service at {url} did not answer in time; try again",
    },
    "service_unreachable": {
        "ja": "{url} のまちレジャーのサービスに接続できません。起動していますか？",
        "en": "cannot reach the Machi Ledger service at {url}; is it running?",
    },
    "service_nonsense": {
        "ja": "{url} から想定外の応答がありました（HTTP {status}）",
        "en": "unexpected reply from {url} (HTTP {status})",
    },
    # ------------------------------------------------------------------ card
    "prompt_pin": {"ja": "利用者証明用暗証番号（数字4桁）", "en": "Card PIN (4 digits)"},
    "prompt_signing_password": {
        "ja": "署名用パスワード（英数字6〜16文字。Enter で省略すると本人確認レベルは「カード認証済」まで）",
        "en": "Signing password (6-16 letters/digits; Enter to skip = card-authenticated level only)",
    },
    **protocol.texts.CARD_MESSAGES,  # wrong PIN, locked card…: the same words at the merchant's counter
    "card_spec": {
        "ja": "soft:PATH.p12 か pcsc[:READER] を指定してください",
        "en": "use soft:PATH.p12 or pcsc[:READER]",
    },
    "statement_mismatch": {
        "ja": "サービスから別のウォレットまたは目的の文面が届きました。署名しません",
        "en": "the service sent a statement for another wallet or purpose; refusing to sign it",
    },
    # ------------------------------------------------------------------ identity
    "waiting_attestation": {"ja": "本人確認をチェーンに記録しています…", "en": "Waiting for the attestation on chain…"},
    "waiting_recovery": {
        "ja": "ウォレットの復旧をチェーンに記録しています…",
        "en": "Waiting for the recovery on chain…",
    },
    "waiting_renewal": {"ja": "本人確認の更新をチェーンに記録しています…", "en": "Waiting for the renewal on chain…"},
    "still_pending": {
        "ja": "まだチェーンに記録されていません。あとで machi-wallet whoami で確認してください",
        "en": "still pending on chain; check later with `machi-wallet whoami`",
    },
    "refused_on_chain": {"ja": "チェーン上で拒否されました: {reason}", "en": "refused on chain: {reason}"},
    "unknown_reason": {"ja": "理由不明", "en": "unknown reason"},
    "title_linked": {"ja": "本人確認を登録しました", "en": "Linked"},
    "title_recovered": {"ja": "{lost} から復旧しました", "en": "Recovered from {lost}"},
    "title_recovery_requested": {"ja": "{lost} からの復旧を申請しました", "en": "Recovery from {lost} requested"},
    "recovery_requested_note": {
        "ja": "復旧はチェーン上で予告されました。{eta} 以降に自動で実行され、本人確認と残高がこのウォレットに移ります。"
              "それまでは古いウォレット（machi-wallet recover --cancel）か市の職員が取り消せます",
        "en": "The recovery is announced on chain. It runs by itself from {eta}: the identity and the balance move "
              "to this wallet. Until then the old wallet (machi-wallet recover --cancel) or the city's staff can "
              "cancel it",
    },
    "recovery_pending": {"ja": "待機中の復旧", "en": "Pending recovery"},
    "recovery_pending_value": {"ja": "{lost} → {new}", "en": "{lost} → {new}"},
    "recovery_eta": {"ja": "実行可能になる日時", "en": "Runs from"},
    "recovery_cancel": {"ja": "取消", "en": "Cancellation"},
    "recovery_cancel_requested": {"ja": "取消を申請済み", "en": "requested"},
    "recover_needs_card_and_lost": {
        "ja": "--card と --lost を指定してください（古いウォレットから取り消すときは --cancel）",
        "en": "give --card and --lost (or --cancel, from the old wallet, to cancel a pending recovery)",
    },
    "no_recovery_to_cancel": {
        "ja": "このウォレットについて取り消せる復旧はありません",
        "en": "there is no pending recovery of this wallet to cancel",
    },
    "recovery_cancel_sent": {
        "ja": "[green]✓[/] {new} への復旧の取消を送りました（チェーン上で確定すると取り消されます）",
        "en": "[green]✓[/] cancellation of the recovery to {new} sent (cancelled once confirmed on chain)",
    },
    "title_renewed": {"ja": "本人確認を更新しました", "en": "Renewed"},
    "done_on_chain": {"ja": "[green]✓[/] チェーン上で確定しました", "en": "[green]✓[/] confirmed on chain"},
    "title_whoami": {"ja": "本人確認", "en": "Who am I"},
    "verified_on_chain": {"ja": "チェーン上の本人確認", "en": "Verified on chain"},
    "identity": {"ja": "本人確認の状態", "en": "Identity"},
    "not_linked": {
        "ja": "未登録（machi-wallet link-card を実行してください）",
        "en": "not linked (run `machi-wallet link-card`)",
    },
    "note": {"ja": "備考", "en": "Note"},
    "intent_registry.attest": {"ja": "本人確認の記録", "en": "attestation"},
    "intent_registry.rebind": {"ja": "本人確認の移行", "en": "identity moved"},
    "intent_registry.renew": {"ja": "本人確認の更新", "en": "renewal"},
    "intent_registry.revoke": {"ja": "本人確認の失効", "en": "revocation"},
    "intent_coin.request_recovery": {"ja": "復旧の予告", "en": "recovery announced"},
    "intent_coin.execute_recovery": {"ja": "本人確認と残高の移動", "en": "identity and balance moved"},
    "intent_coin.cancel_recovery": {"ja": "復旧の取消", "en": "recovery cancelled"},
    # ------------------------------------------------------------------ money
    "being_sent": {"ja": "送金中", "en": "Being sent"},
    "being_received": {"ja": "受取中", "en": "Being received"},
    "available": {"ja": "使える額", "en": "Available"},
    "cap": {"ja": "残高上限", "en": "Cap"},
    "points": {"ja": "ポイント（加盟店で先に使われます）", "en": "Points (spent first at shops)"},
    "points_next_expiry": {"ja": "うち {day} まで", "en": "of which until {day}"},
    "points_expired": {"ja": "期限切れポイント（市に戻ります）", "en": "Expired points (back to the city)"},
    "not_verified_wallet": {
        "ja": "このウォレットは本人確認されていません。支払いや受け取りには machi-wallet link-card "
              "でマイナンバーカードを登録してください",
        "en": "this wallet is not verified: link your My Number card to pay and be paid",
    },
    "history_title": {"ja": "{address} の履歴", "en": "history of {address}"},
    "col_date": {"ja": "日時", "en": "Date"},
    "col_kind": {"ja": "種類", "en": "Kind"},
    "col_counterparty": {"ja": "相手", "en": "Counterparty"},
    "col_amount": {"ja": "金額", "en": "Amount"},
    "col_memo": {"ja": "メモ", "en": "Memo"},
    "col_balance_after": {"ja": "残高", "en": "Balance"},
    "no_transfers": {"ja": "まだ残高の動きはありません", "en": "no movements yet"},
    "history_adds_up": {"ja": "残高 {balance} コイン（履歴の合計）",
                        "en": "balance {balance} coins (the history adds up)"},
    "history_catching_up": {
        "ja": "[yellow]履歴は {indexed} コイン、チェーン上の残高は {balance} コインです。"
              "ブロックチェーンの読み込みが追いつくまでお待ちください[/]",
        "en": "[yellow]the history adds up to {indexed} coins, the chain holds {balance}: "
              "the chain index is catching up; try again shortly[/]",
    },
    "cp_lost_wallet": {"ja": "紛失したウォレット {address}", "en": "your lost wallet {address}"},
    "cp_new_wallet": {"ja": "新しいウォレット {address}", "en": "your new wallet {address}"},
    "tk_topup": {"ja": "チャージ", "en": "top-up"},
    "tk_benefit": {"ja": "給付", "en": "benefit"},
    "tk_topup_bonus": {"ja": "チャージのプレミアム", "en": "top-up premium"},
    "tk_reward": {"ja": "通報のお礼", "en": "report reward"},
    "tk_points": {"ja": "ポイント付与", "en": "points"},
    "tk_points_expired": {"ja": "ポイント失効", "en": "points expired"},
    "points_unit": {"ja": "{amount} pt", "en": "{amount} pt"},
    "paid_with_points": {"ja": "（うち {points} pt）", "en": " ({points} in points)"},
    "pay_split": {"ja": "内訳: ポイント {points} pt（先に使われます）＋ コイン {coins}",
                  "en": "paid with: {points} points (spent first) + {coins} coins"},
    "tk_mint": {"ja": "市からの入金", "en": "from the city"},
    "tk_recovery": {"ja": "再発行による移行", "en": "recovery move"},
    "tk_redemption": {"ja": "換金", "en": "redemption"},
    "tk_transfer": {"ja": "移動", "en": "transfer"},
    "tk_payment": {"ja": "支払い", "en": "payment"},
    "tk_p2p": {"ja": "送金", "en": "transfer"},
    "tk_refund": {"ja": "返金", "en": "refund"},
    "tk_fee": {"ja": "手数料", "en": "fee"},
    "tk_fee_refund": {"ja": "手数料の返金", "en": "fee refund"},
    "tk_payout": {"ja": "精算", "en": "payout"},
    "ts_accepted": {"ja": "受付", "en": "accepted"},
    "ts_pending": {"ja": "処理中", "en": "pending"},
    "ts_submitted": {"ja": "送信済", "en": "submitted"},
    "ts_confirmed": {"ja": "確定", "en": "confirmed"},
    "ts_failed": {"ja": "失敗", "en": "failed"},
    "payment_waiting": {"ja": "支払い: {status}…", "en": "payment {status}…"},
    "not_confirmed": {
        "ja": "{seconds} 秒たっても確定しません。あとで machi-wallet history で確認してください（取引 {id}）",
        "en": "not confirmed after {seconds} s; check later with `machi-wallet history` (transfer {id})",
    },
    "payment_failed": {
        "ja": "支払いに失敗しました: {message}（{code}）",
        "en": "the payment failed: {message} ({code})",
    },
    "confirmed_in": {
        "ja": "[green]✓[/] {what} — 取引 {tx} で確定しました",
        "en": "[green]✓[/] {what} — confirmed in transaction {tx}",
    },
    "not_a_payment_code": {"ja": "支払いコードではありません: {problem}", "en": "not a payment code: {problem}"},
    # ------------------------------------------------------------------ offline payments
    "offline_reserved": {"ja": "オフライン用の確保額", "en": "Offline reserve"},
    "offline_adding": {"ja": "確保中", "en": "Being reserved"},
    "confirm_reserve": {"ja": "{amount} コインをオフライン払い用に確保しますか？（解除には日数がかかります）",
                        "en": "Lock {amount} coins for offline payments? (releasing them takes days)"},
    "reserve_waiting": {"ja": "チェーンで確保を待っています…", "en": "waiting for the reserve on chain…"},
    "reserved_now": {"ja": "[green]✓[/] オフライン用の確保額は {reserved} コインです",
                     "en": "[green]✓[/] your offline reserve holds {reserved} coins"},
    "reserve_failed": {"ja": "確保できませんでした（残高か署名を確認してください）",
                       "en": "the reserve was not made (check the balance and try again)"},
    "offline_over_limit": {"ja": "オフライン用の確保は {limit} コインまでです（あと {left} コイン）",
                           "en": "an offline reserve holds at most {limit} coins ({left} more possible)"},
    "offline_not_ready": {
        "ja": "オフライン払いの準備ができていません。"
              "通信できるときに machi-wallet reserve か balance を実行してください",
        "en": "offline payments are not set up: run `machi-wallet reserve` (or `balance`) while online first",
    },
    "confirm_release": {"ja": "オフライン用の確保額 {amount} コインの解除を申し込みますか？（数日後に戻ります）",
                        "en": "Ask for the {amount} coins of your offline reserve back? (they return after days)"},
    "release_requested": {"ja": "解除を申し込みました。"
                                "{when} 以降にもう一度 machi-wallet release-reserve を実行してください",
                          "en": "release requested: run `machi-wallet release-reserve` again after {when}"},
    "release_done": {"ja": "[green]✓[/] {amount} コインがウォレットに戻ります",
                     "en": "[green]✓[/] {amount} coins are on their way back to your wallet"},
    "offline_amount_needed": {"ja": "--amount で金額を指定してください", "en": "give the amount with --amount"},
    "offline_give_merchant": {"ja": "店舗のコード（ethereum:…）かウォレットのアドレスを指定してください",
                              "en": "give the merchant's code (ethereum:…) or its wallet address"},
    "confirm_pay_offline": {"ja": "{to} にオフラインで {amount} コイン支払いますか？",
                            "en": "Pay {amount} coins offline to {to}?"},
    "offline_signed": {
        "ja": "[green]✓[/] {amount} コインのオフライン払いに署名しました（{hours} 時間有効）。QR を店舗に見せるか、"
              "ファイル {path} を渡してください",
        "en": "[green]✓[/] offline payment of {amount} coins signed (valid {hours} h): show the QR code at the counter "
              "or hand over the file {path}",
    },
    "static_code_use_scan": {
        "ja": "これは店舗の固定コードです。machi-wallet scan で金額を入力して支払ってください",
        "en": "this is a merchant's static code: use `machi-wallet scan` and type the amount",
    },
    "give_uri_or_id": {
        "ja": "支払い URI（ethereum:…）か支払い要求の番号（pr_…）を指定してください",
        "en": "give a payment URI (ethereum:…) or a payment request id (pr_…)",
    },
    "code_mismatch_request": {
        "ja": "コードがサービスの支払い要求と一致しません。支払わないでください",
        "en": "the code does not match the request held by the service; do not pay it",
    },
    "code_mismatch_merchant": {
        "ja": "コードがサービスの店舗情報と一致しません。支払わないでください",
        "en": "the code does not match the merchant held by the service; do not pay it",
    },
    "request_is": {"ja": "この支払い要求は「{status}」です", "en": "this payment request is {status}"},
    "prs_open": {"ja": "受付中", "en": "open"},
    "prs_paid": {"ja": "支払済", "en": "paid"},
    "prs_expired": {"ja": "期限切れ", "en": "expired"},
    "prs_canceled": {"ja": "取消済", "en": "canceled"},
    "prs_partially_refunded": {"ja": "一部返金済", "en": "partially refunded"},
    "prs_refunded": {"ja": "返金済", "en": "refunded"},
    "merchant_closed": {"ja": "{name} は現在支払いを受け付けていません", "en": "{name} cannot take payments right now"},
    "pay_what": {
        "ja": "[bold]{name}[/] に [bold]{amount}[/] コインを支払います",
        "en": "pay [bold]{amount}[/] coins to [bold]{name}[/]",
    },
    "confirm_pay": {"ja": "支払いますか？", "en": "Pay?"},
    "paid_to": {"ja": "{name} に {amount} コインを支払いました", "en": "paid {amount} coins to {name}"},
    "not_static_code": {"ja": "店舗の固定コードではありません", "en": "not a merchant's static code"},
    "not_static_code_pay": {
        "ja": "店舗の固定コードではありません（支払い要求には machi-wallet pay を使ってください）",
        "en": "not a merchant's static code (use `machi-wallet pay` for a payment request)",
    },
    "merchant_is": {"ja": "店舗: [bold]{name}[/]", "en": "merchant: [bold]{name}[/]"},
    "prompt_amount": {"ja": "金額（コイン）", "en": "Amount (coins)"},
    "confirm_pay_amount": {"ja": "{name} に {amount} コインを支払いますか？", "en": "Pay {amount} coins to {name}?"},
    "not_an_address": {
        "ja": "{address} はウォレットのアドレスではありません",
        "en": "{address} is not a wallet address",
    },
    "not_an_address_typo": {
        "ja": "{address} はウォレットのアドレスではありません（EIP-55 のチェックサムが合いません。打ち間違いでは？）",
        "en": "{address} is not a wallet address (its EIP-55 checksum does not match: mistyped?)",
    },
    "confirm_send": {"ja": "{to} に {amount} コインを送りますか？", "en": "Send {amount} coins to {to}?"},
    "sent_to": {"ja": "{to} に {amount} コインを送りました", "en": "sent {amount} coins to {to}"},
    # ------------------------------------------------------------------ procedures
    "procedures_title": {"ja": "手続一覧", "en": "Procedures"},
    "col_code": {"ja": "コード", "en": "Code"},
    "my_applications": {"ja": "わたしの申請", "en": "My applications"},
    "form_unreadable": {
        "ja": "申請内容のファイル {path} を読めません: {problem}",
        "en": "cannot read the form {path}: {problem}",
    },
    "form_not_object": {
        "ja": "{path} には JSON のオブジェクトを書いてください",
        "en": "{path} must hold a JSON object",
    },
    "field_required": {"ja": "{label}: 必須です", "en": "{label}: required to proceed"},
    "field_not_number": {"ja": "{label}: 数値ではありません", "en": "{label}: not a number"},
    "field_how_many": {"ja": "{label}: いくつですか？", "en": "{label}: how many?"},
    "field_date_hint": {"ja": "（YYYY-MM-DD）", "en": " (YYYY-MM-DD)"},
    "confirm_fee": {
        "ja": "この手続の手数料は {fee} コインです。いまウォレットから支払います。続けますか？",
        "en": "This procedure costs {fee} coins, paid from your wallet now. Continue?",
    },
    "filed": {
        "ja": "申請しました: [bold]{id}[/]（{title}）: {status}",
        "en": "filed [bold]{id}[/] ({title}): {status}",
    },
    "filed_fee": {"ja": "。手数料 {fee} コイン", "en": "; fee {fee} coins"},
    "treasury_not_ready": {
        "ja": "市の口座の準備ができていません。しばらくしてからお試しください",
        "en": "the city treasury is not ready; try again shortly",
    },
    "app_fee": {"ja": "手数料: {fee} コイン（{status}）", "en": "fee: {fee} coins ({status})"},
    "app_benefit": {"ja": "給付: {benefit} ポイント（{status}）", "en": "benefit: {benefit} points ({status})"},
    "correction_until": {
        "ja": "[yellow]補正依頼[/]（期限 {deadline}）: {reason}",
        "en": "[yellow]correction requested[/] until {deadline}: {reason}",
    },
    "answer_with": {
        "ja": "補正するには: machi-wallet respond {id} --form FILE.json",
        "en": "answer with: machi-wallet respond {id} --form FILE.json",
    },
    "decision": {"ja": "決定: {status}", "en": "decision: {status}"},
    "col_anchored": {"ja": "チェーン記録", "en": "Anchored"},
    "anchor_n": {"ja": "記録 {anchor}", "en": "anchor {anchor}"},
    "confirm_withdraw": {
        "ja": "{id} を取り下げますか？ 元に戻せません。",
        "en": "Withdraw {id}? This cannot be undone.",
    },
    "application_status": {"ja": "{id}: {status}", "en": "{id}: {status}"},
    "resubmitted": {"ja": "{id}: {status}（第 {revision} 版）", "en": "{id}: {status} (revision {revision})"},
    "receipt_summary": {
        "ja": "{id} の受領証: 出来事 {events} 件、うちチェーンに記録済 {anchored} 件",
        "en": "receipt of {id}: {events} events, {anchored} anchored",
    },
    "chain_unreachable": {
        "ja": "{url} のチェーンに接続できません: {problem}",
        "en": "cannot reach the chain at {url}: {problem}",
    },
    "trusting_ledger": {
        "ja": "[yellow]受領証に書かれた台帳のアドレス（{ledger}）を信頼しています。--ledger か MACHI_LEDGER_ADDRESS "
              "で固定してください[/]",
        "en": "[yellow]trusting the ledger address the receipt names ({ledger}); pin it with --ledger / "
              "MACHI_LEDGER_ADDRESS[/]",
    },
    "chain_lost": {
        "ja": "{url} のチェーンに接続できなくなりました。何も検証していません。もう一度お試しください: {problem}",
        "en": "chain unreachable at {url}, nothing verified; try again: {problem}",
    },
    "not_a_receipt": {"ja": "受領証ではありません: {problem}", "en": "not a receipt: {problem}"},
    "receipt_title": {
        "ja": "{id} の受領証（チェーン {chain}、台帳 {ledger}）",
        "en": "Receipt of {id} (chain {chain}, ledger {ledger})",
    },
    "col_result": {"ja": "結果", "en": "Result"},
    "col_anchor": {"ja": "記録", "en": "Anchor"},
    "col_detail": {"ja": "詳細", "en": "Detail"},
    "rc_verified": {"ja": "検証済", "en": "verified"},
    "rc_pending": {"ja": "記録待ち", "en": "pending"},
    "rc_mismatch": {"ja": "不一致", "en": "mismatch"},
    "rc_missing": {"ja": "見つかりません", "en": "missing"},
    "rc_invalid": {"ja": "無効", "en": "invalid"},
    "problem": {"ja": "[red]問題:[/] {problem}", "en": "[red]problem:[/] {problem}"},
    "receipt_pending": {
        "ja": "まだチェーンに記録されていません: {events}（1分ほどしてからもう一度確認してください）",
        "en": "not anchored yet: {events} (check again in a minute)",
    },
    "receipt_refused": {
        "ja": "この受領証はチェーンと照合できません（検証に失敗しました）",
        "en": "the receipt does NOT verify against the chain",
    },
    "receipt_verified": {
        "ja": "[green]検証しました[/]: {events} 件中 {verified} 件の出来事をチェーン上で確認",
        "en": "[green]verified[/]: {verified} of {events} events proven on chain",
    },
}

#: Service error codes a resident meets, worded for them (the service's own message is English).
SERVICE_ERRORS: dict[str, str] = {
    "certificate_expired": "マイナンバーカードの電子証明書の有効期限が切れています。市区町村の窓口で更新してください",
    "certificate_not_yet_valid": "マイナンバーカードの電子証明書はまだ有効になっていません",
    "certificate_revoked": "この電子証明書は失効しています（カードの更新や紛失の届出の後など）",
    "unknown_root": "このカードの電子証明書は受け付けられません（J-LIS が発行したものではありません）",
    "certificate_invalid": "このカードの電子証明書は受け付けられません",
    "malformed_certificate": "このカードの電子証明書を読み取れません",
    "wrong_key_usage": "このカードの電子証明書は受け付けられません（用途が違います）",
    "wrong_policy": "このカードの電子証明書は受け付けられません（ポリシーが違います）",
    "revocation_unavailable": "電子証明書の失効状況を確認できませんでした。しばらくしてからもう一度お試しください",
    "bad_card_signature": "カードの署名が一致しません。もう一度お試しください",
    "subject_already_linked": "このカードの持ち主には、すでに別のウォレットが登録されています（1人1ウォレット）。ウォ"
                              "レットを紛失したときは machi-wallet recover を使ってください",
    "wallet_already_linked": "このウォレットはすでに本人確認済みです",
    "wallet_retired": "このウォレットは再発行などにより使えなくなっています",
    "certificate_mismatch": "利用者証明用と署名用の電子証明書が別の人のものです",
    "subject_not_linked": "このカードで登録されたウォレットはありません。先に machi-wallet link-card "
                          "を実行してください",
    "lost_wallet_mismatch": "指定した紛失ウォレットは、このカードで登録されたウォレットではありません",
    "signing_certificate_required": "ウォレットの復旧には署名用電子証明書（6〜16文字のパスワード）が必要です",
    "recovery_pending": "このウォレットの復旧はすでに申請されて待機中です",
    "lost_wallet_frozen": "紛失したウォレットが凍結されています。窓口で紛失の届出をしてください",
    "no_pending_recovery": "待機中の復旧はありません",
    "subject_mismatch": "このカードは、このウォレットを登録した人のものではありません",
    "identity_not_found": "このウォレットには有効な本人確認がありません",
    "my_number_refused": "マイナンバー（個人番号）は送れません。申請内容から削除してください",
    "nonce_reused": "確認コードはすでに使われています。もう一度実行してください",
    "nonce_expired": "確認コードの有効期限が切れました。もう一度実行してください",
    "wallet_signature_mismatch": "ウォレットの署名が一致しません",
    "insufficient_balance": "残高が足りません",
    "points_expired": "残高が足りません（ポイントの一部が有効期限切れです）",
    "points_not_transferable": "コインが足りません（ポイントは加盟店での支払いにだけ使えます）",
    "wallet_not_verified": "このウォレットは本人確認されていません（machi-wallet link-card）",
    "balance_cap_exceeded": "残高の上限を超えます",
    "coin_paused": "通貨は一時停止中です。しばらくしてからお試しください",
    "request_expired": "この支払い要求は期限切れです",
    "request_not_open": "この支払い要求は支払いを受け付けていません",
    "payment_in_progress": "この支払いはすでに処理中です",
    "assurance_level_too_low": "この手続に必要な本人確認レベルがありません",
    "invalid_form": "申請内容に誤りがあります",
    "form_version_outdated": "申請様式が新しくなりました。もう一度申請してください",
    "correction_deadline_passed": "補正の期限を過ぎています",
    "invalid_attachments": "添付ファイルを受け付けられません",
    "attachment_too_large": "添付ファイルが大きすぎます",
    "fee_not_paid": "手数料が支払われていません",
    "authorization_expired": "署名の有効期限が切れました。もう一度お試しください",
    "signature_expired": "署名の有効期限が切れました。もう一度お試しください",
    "rate_limited": "操作が多すぎます。しばらくしてからお試しください",
    "not_authenticated": "ログインできませんでした。もう一度お試しください",
    "invalid_token": "ログインの有効期限が切れました。もう一度お試しください",
    "token_expired": "ログインの有効期限が切れました。もう一度お試しください",
    "service_unavailable": "サービスが一時的に利用できません。しばらくしてからお試しください",
    "identity_not_configured": "この市ではまだマイナンバーカードの登録を受け付けていません",
    "not_found": "見つかりません",
    "invalid_parameter": "入力に誤りがあります",
    "conflict": "いまはこの操作ができません",
}


def english(key: str, values: Mapping[str, Any] | None = None) -> str:
    """``key`` worded in English (what an exception says when nobody translates it)."""
    return Texts("en")(key, **(values or {}))


class Texts(protocol.texts.Texts):
    """The wallet's words in one language (``protocol.texts.Texts`` with the wallet's messages)."""

    MESSAGES = MESSAGES
    SERVICE_ERRORS = SERVICE_ERRORS


def choose_language(option: str | None, environ: Mapping[str, str]) -> str:
    """``ja`` or ``en``: the option, else ``MACHI_WALLET_LANG``, else the locale (Japanese unless it
    names another language)."""
    return protocol.terms.choose_language(option, environ, "MACHI_WALLET_LANG")
