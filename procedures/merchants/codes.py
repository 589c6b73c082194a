"""What a resident scans: EIP-681 payment URIs (``protocol.payment_uri``) of payment requests and
of a merchant's static code, and their QR images."""

from __future__ import annotations

import io

import qrcode
import qrcode.image.svg

from chain.plan import COIN
from chain.rpc import is_unreachable
from procedures.merchants.models import Merchant
from procedures.runtime import Runtime
from protocol.payment_uri import format_uri


def _coin_on_chain(runtime: Runtime) -> tuple[str, int]:
    """The coin's address and chain id: from the chain, or — while it is unreachable — from the
    recorded deployment, so merchants can still ask for payments during an outage."""
    try:
        domain = runtime.coin.domain()
    except Exception as exc:
        if not is_unreachable(exc):
            raise
        manifest = runtime.recorded_manifest()
        return manifest.address(COIN), manifest.chain_id
    return domain.verifying_contract, domain.chain_id


def request_uri(runtime: Runtime, merchant: Merchant, amount: int, request_id: str) -> str:
    """The EIP-681 URI of a payment request (see ``protocol.payment_uri``)."""
    coin, chain_id = _coin_on_chain(runtime)
    return format_uri(coin, chain_id, merchant.wallet, amount=amount, request_id=request_id)


def static_uri(runtime: Runtime, merchant: Merchant) -> str:
    """The EIP-681 URI of the merchant's static code (no amount)."""
    coin, chain_id = _coin_on_chain(runtime)
    return format_uri(coin, chain_id, merchant.wallet, merchant_id=merchant.id)


def qr_png(data: str, box_size: int = 8) -> bytes:
    """A PNG QR code of ``data`` (error correction M, quiet zone 4)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=4)
    code.add_data(data)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer)
    return buffer.getvalue()


def qr_svg(data: str) -> bytes:
    """An SVG QR code of ``data`` (one path, scalable)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4,
                         image_factory=qrcode.image.svg.SvgPathImage)
    code.add_data(data)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer)
    return buffer.getvalue()
