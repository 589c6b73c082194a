"""``machi-wallet --help`` in the resident's language: the commands' and options' help in Japanese.

English help is the commands' docstrings and ``help=`` texts; ``HELP_JA`` gives the Japanese of each,
by command name (``""`` is the group) and option name. Click's own frame ("Usage:", "Options:") stays
as Click writes it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import click

from wallet.i18n import choose_language

__all__ = ["HELP_JA", "LocalizedCommand", "help_language"]

_CARD = "マイナンバーカード: ソフトウェアのテストカード（soft:PATH.p12）かカードリーダー（pcsc[:READER]）"
_AUTH_ONLY = "利用者証明用の鍵だけを使います（署名用パスワードなし）"

HELP_JA: dict[str, dict[str, str]] = {
    "": {
        "help": "まちレジャー 住民ウォレット",
        "api_url": "まちレジャーのサービス（環境変数 MACHI_API_URL）",
        "keystore": "鍵ファイル（既定は $MACHI_WALLET_HOME/keystore.json、~/.machi-wallet/keystore.json）",
        "lang": "表示の言語: ja（既定）か en（環境変数 MACHI_WALLET_LANG。なければロケールから）",
        "color": "パイプの先でも色をつける / 色をつけない（既定: 端末のときだけ）",
        "password_file": "ウォレットのパスワードをこのファイルの1行目から読みます（スクリプト用。環境変数 "
                         "MACHI_WALLET_PASSWORD_FILE。MACHI_WALLET_PASSWORD ならパスワードそのもの。"
                         "どちらもなければ入力を求めます）",
    },
    "init": {
        "short": "ウォレットを作成します",
        "help": "ウォレットを作成します: 新しい鍵を暗号化した鍵ファイルに保存します（既存のものは上書きしません）。",
    },
    "address": {"short": "ウォレットのアドレスを表示します", "help": "ウォレットのアドレスを表示します。"},
    "link-card": {
        "short": "ウォレットをマイナンバーカードと結びつけます",
        "help": "このウォレットをマイナンバーカードと結びつけます（チェーンに記録。個人情報は記録しません）。",
        "card_spec": _CARD,
        "auth_only": _AUTH_ONLY,
    },
    "whoami": {"short": "本人確認の状態を表示します", "help": "本人確認の状態: 市の記録とチェーン上の記録。"},
    "recover": {
        "short": "紛失したウォレットを新しいウォレットへ復旧します",
        "help": "新しいウォレットから: 紛失したウォレットの本人確認と残高を引き継ぎます（市が予告する待機期間の後）。",
        "card_spec": _CARD,
        "lost": "紛失したウォレットのアドレス",
        "auth_only": _AUTH_ONLY,
        "cancel": "古いウォレットから: 待機中の自分の復旧を取り消します",
    },
    "renew": {
        "short": "カードで本人確認を更新します",
        "help": "カードで本人確認をやり直します: このウォレットの本人確認（とレベル）を新しくします。",
        "card_spec": _CARD,
        "auth_only": _AUTH_ONLY,
    },
    "balance": {
        "short": "残高を表示します",
        "help": "ウォレットの残高（チェーン上の額、処理中の額、使える額）と残高上限を表示します。",
    },
    "history": {
        "short": "残高の動きをすべて表示します",
        "help": "残高の動き（チャージ、給付、支払い、返金、再発行による移行など）を新しい順に、"
                "相手の名前と各時点の残高つきで表示します。",
        "limit": "表示する件数の上限",
        "as_csv": "表ではなく CSV を標準出力に書きます",
    },
    "pay": {
        "short": "支払い要求に支払います",
        "help": "支払い要求に支払います: その URI（QR コードから）か番号（pr_…）を指定します。"
                "--offline では通信なしで、オフライン用の確保額から店舗に支払う署名を作ります。",
        "yes": "確認せずに支払います",
        "offline": "通信なしで支払います（TARGET は店舗のコードかウォレットのアドレス。--amount も指定）",
        "amount": "オフラインで支払うコイン",
        "valid_hours": "店舗が送信するまでオフライン払いが有効な時間",
        "out": "オフライン払いのコードを書き出すファイル（既定 offline-<nonce>.txt）",
        "no_qr": "オフライン払い: QR を出さずコードだけ表示します",
    },
    "reserve": {
        "short": "オフライン払い用にコインを確保します",
        "help": "オフライン払い用にコインをチェーン上に確保します（通信できるときに）。",
        "yes": "確認せずに確保します",
    },
    "release-reserve": {
        "short": "使わなかった確保額を戻します",
        "help": "使わなかったオフライン用の確保額の解除を申し込みます。"
                "期日が来たらもう一度実行するとコインが戻ります。",
        "yes": "確認せずに申し込みます",
    },
    "scan": {
        "short": "店舗の固定コードで支払います",
        "help": "店舗の固定コード（ethereum:…&merchant=mer_…）で支払います: 金額は自分で入力します。",
        "amount": "支払うコイン（指定しなければ入力を求めます）",
        "memo": "店舗へのメモ",
        "yes": "確認せずに支払います",
    },
    "send": {
        "short": "ほかのウォレットにコインを送ります",
        "help": "ほかのウォレットにコインを送ります（個人間）。",
        "memo": "受取人に見えるメモ",
        "yes": "確認せずに送ります",
    },
    "procedures": {"short": "申請できる手続の一覧", "help": "申請できる手続の一覧。"},
    "apply": {
        "short": "手続を申請します",
        "help": "手続 CODE を申請します（ウォレットで署名）。",
        "form_path": "申請内容の JSON ファイル（既定: 項目ごとに入力を求めます）",
        "attach": "添付するファイル（くり返し指定できます）",
        "yes": "手数料を支払う前に確認しません",
    },
    "applications": {
        "short": "自分の申請の一覧",
        "help": "自分の申請の一覧（新しい順）。",
        "status_": "この状態の申請だけ",
    },
    "status": {"short": "申請の状態と経過を表示します",
               "help": "申請ひとつの状態、補正依頼や決定、経過を表示します。"
                       "番号を省くと、本人確認と待機中の復旧を表示します。"},
    "withdraw": {
        "short": "申請を取り下げます",
        "help": "決定の前に申請を取り下げます（取下げ）。",
        "yes": "確認せずに取り下げます",
    },
    "respond": {
        "short": "補正依頼に答えます",
        "help": "補正依頼に答えます: 直した申請内容に署名し直して送ります。",
        "form_path": "直した申請内容（JSON）",
        "attach": "添付ファイルをこれらに差し替えます（くり返し指定できます）。指定しなければ今のファイルのまま",
    },
    "receipt": {
        "short": "申請の受領証を取得・検証します",
        "help": "申請の受領証を取得（または読み込み）します。--verify でチェーンと照合します。",
        "verify": "受領証をチェーンだけで検証します",
        "rpc_url": "市のチェーンのノード（環境変数 MACHI_RPC_URL）",
        "ledger": "信頼する ProcedureLedger のアドレス（環境変数 MACHI_LEDGER_ADDRESS。既定: 受領証に書かれたもの）",
        "out": "受領証をこのファイルにも保存します",
        "from_file": "取得せず、保存した受領証を検証します",
    },
}


def help_language(ctx: click.Context) -> str:
    """The language the user chose for this run: ``--lang`` (noted by its eager callback), else the environment."""
    root = ctx.find_root()
    return choose_language(root.meta.get("machi.lang"), os.environ)


@contextmanager
def _japanese(command: click.Command, name: str) -> Iterator[None]:
    texts = HELP_JA.get(name)
    if not texts:
        yield
        return
    saved = command.help, [(param, param.help) for param in command.params if isinstance(param, click.Option)]
    command.help = texts["help"]
    for param, _ in saved[1]:
        param.help = texts.get(param.name or "", param.help)
    try:
        yield
    finally:
        command.help = saved[0]
        for param, text in saved[1]:
            param.help = text


class LocalizedCommand(click.Command):
    """A command whose help is Japanese when the run is."""

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if help_language(ctx) != "ja":
            return super().format_help(ctx, formatter)
        with _japanese(self, self.name or ""):
            return super().format_help(ctx, formatter)

    def get_short_help_str(self, limit: int = 45) -> str:
        ctx = click.get_current_context(silent=True)
        texts = HELP_JA.get(self.name or "")
        if ctx is not None and texts and help_language(ctx) == "ja":
            return texts.get("short", texts["help"])
        return super().get_short_help_str(limit)


@contextmanager
def japanese_group_help(group: click.Group) -> Iterator[None]:
    """The group's own help and options in Japanese for the duration."""
    with _japanese(group, ""):
        yield
