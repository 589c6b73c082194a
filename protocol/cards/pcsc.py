"""The My Number card over PC/SC: the JPKI applet spoken in ISO 7816-4 APDUs.

Command set (short APDUs, as used by public JPKI tools such as jpki/myna and OpenSC's
jpki driver):

=========================  ===========================================================
SELECT JPKI AP             ``00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01``
SELECT EF                  ``00 A4 02 0C 02 <file id>``
READ BINARY                ``00 B0 <offset hi> <offset lo> <Le>`` (``Le`` 00 = 256)
VERIFY                     ``00 20 00 80 <Lc> <PIN ASCII>``; without data it reports
                           the retry counter as ``63 Cx``; ``69 83`` = locked
COMPUTE DIGITAL SIGNATURE  ``80 2A 00 80 <Lc> <DigestInfo> 00`` on the selected key EF
GET RESPONSE               ``00 C0 00 00 <Le>`` (after ``61 xx``, T=0 readers)
=========================  ===========================================================

Elementary files of the JPKI AP (``JpkiFile``): token 0006 (``JPKIAPICCTOKEN2``),
user-authentication certificate 000A (readable without PIN), its CA 000B, key 0017,
PIN 0018 (4 digits, 3 tries); signing certificate 0001 (readable after the signing
password), its CA 0002, key 001A, password 001B (6–16 characters, 5 tries).

pyscard is an optional extra (``pip install machi-ledger[pcsc]``): it is imported only
when ``PyscardTransport`` is created, so everything else here works (and is tested
against an APDU-level fake card) without it.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Protocol

from protocol.cards.base import digest_info_sha256, normalize_signing_password, validate_auth_pin
from protocol.errors import CardError, CardLocked, WrongPin

__all__ = [
    "JPKI_AID",
    "ApduTransport",
    "JpkiFile",
    "PcscCard",
    "PyscardTransport",
    "command_apdu",
]

JPKI_AID = bytes.fromhex("D392F000260100000001")
JPKI_TOKEN = "JPKIAPICCTOKEN2"  # noqa: S105 - the applet's token string, not a secret
_MAX_CERT_LEN = 0x7FFF


class JpkiFile(IntEnum):
    SIGNING_CERT = 0x0001
    SIGNING_CA_CERT = 0x0002
    TOKEN = 0x0006
    AUTH_CERT = 0x000A
    AUTH_CA_CERT = 0x000B
    AUTH_KEY = 0x0017
    AUTH_PIN = 0x0018
    SIGNING_KEY = 0x001A
    SIGNING_PIN = 0x001B


class ApduTransport(Protocol):
    def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
        """Send one command APDU; return ``(response data, SW1, SW2)``."""
        ...


def command_apdu(
    cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None
) -> bytes:
    """A short command APDU (ISO 7816-4 cases 1–4); ``le=256`` is encoded as 00."""
    if len(data) > 255:
        raise ValueError("short APDUs carry at most 255 data bytes")
    out = bytes([cla, ins, p1, p2])
    if data:
        out += bytes([len(data)]) + data
    if le is not None:
        if not 1 <= le <= 256:
            raise ValueError("Le must be 1..256")
        out += bytes([le & 0xFF])
    return out


class _FileNotFound(Exception):
    pass


class PyscardTransport:
    """``ApduTransport`` over a PC/SC reader via pyscard (optional dependency).

    Args:
        reader: substring of the reader name; default the first reader.
    """

    def __init__(self, reader: str | None = None) -> None:
        try:
            from smartcard.Exceptions import CardConnectionException, NoCardException
            from smartcard.System import readers
        except ImportError as exc:
            raise CardError(
                "PC/SC card access needs pyscard: pip install 'machi-ledger[pcsc]'"
            ) from exc
        available = readers()
        chosen = [r for r in available if reader is None or reader in str(r)]
        if not chosen:
            raise CardError("no PC/SC card reader found" + (f" matching {reader!r}" if reader else ""))
        self._connection: Any = chosen[0].createConnection()
        try:
            self._connection.connect()
        except (CardConnectionException, NoCardException) as exc:
            raise CardError(f"no card in reader {chosen[0]}") from exc

    def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
        data, sw1, sw2 = self._connection.transmit(list(apdu))
        return bytes(data), sw1, sw2

    def close(self) -> None:
        self._connection.disconnect()


class PcscCard:
    """``CardSigner`` for a physical My Number card, over any ``ApduTransport``."""

    def __init__(self, transport: ApduTransport) -> None:
        self._transport = transport

    @classmethod
    def connect(cls, reader: str | None = None) -> PcscCard:
        return cls(PyscardTransport(reader))

    # CardSigner ---------------------------------------------------------------------

    def auth_certificate(self) -> bytes:
        self._select_ap()
        cert = self._read_certificate(JpkiFile.AUTH_CERT)
        if cert is None:
            raise CardError("the card holds no user-authentication certificate")
        return cert

    def signing_certificate(self, pin: str) -> bytes | None:
        password = normalize_signing_password(pin)
        self._select_ap()
        try:
            self._verify(JpkiFile.SIGNING_PIN, password.encode("ascii"), "signing password")
            return self._read_certificate(JpkiFile.SIGNING_CERT)
        except _FileNotFound:
            return None

    def sign_auth(self, data: bytes, pin: str) -> bytes:
        return self._sign(
            JpkiFile.AUTH_PIN, JpkiFile.AUTH_KEY, validate_auth_pin(pin), "PIN", data
        )

    def sign_with_signing_key(self, data: bytes, pin: str) -> bytes:
        return self._sign(
            JpkiFile.SIGNING_PIN,
            JpkiFile.SIGNING_KEY,
            normalize_signing_password(pin),
            "signing password",
            data,
        )

    # extras -------------------------------------------------------------------------

    def token(self) -> str:
        """``JPKIAPICCTOKEN2`` on a My Number card."""
        self._select_ap()
        self._select_ef(JpkiFile.TOKEN)
        return self._read_binary(0, 0x20).rstrip(b" \x00").decode("ascii", "replace")

    def auth_pin_retries(self) -> int | None:
        """Attempts left for the PIN (0 = locked; ``None`` if the card won't say)."""
        self._select_ap()
        return self._retries(JpkiFile.AUTH_PIN)

    def signing_pin_retries(self) -> int | None:
        self._select_ap()
        try:
            return self._retries(JpkiFile.SIGNING_PIN)
        except _FileNotFound:
            return None

    # APDU layer ---------------------------------------------------------------------

    def _transmit(self, apdu: bytes) -> tuple[bytes, int]:
        try:
            data, sw1, sw2 = self._transport.transmit(apdu)
        except CardError:
            raise
        except Exception as exc:  # noqa: BLE001 - reader/driver failures become CardError
            raise CardError(f"card communication failed ({type(exc).__name__})") from exc
        if sw1 == 0x6C:  # wrong Le: resend with the length the card wants
            data, sw1, sw2 = self._transport.transmit(apdu[:-1] + bytes([sw2]))
        out = bytearray(data)
        while sw1 == 0x61:  # T=0: more data waiting
            data, sw1, sw2 = self._transport.transmit(command_apdu(0x00, 0xC0, 0x00, 0x00, le=sw2 or 256))
            out += data
        return bytes(out), (sw1 << 8) | sw2

    def _select_ap(self) -> None:
        _, sw = self._transmit(command_apdu(0x00, 0xA4, 0x04, 0x0C, JPKI_AID))
        if sw != 0x9000:
            raise CardError("not a My Number card (JPKI applet not found)", sw=sw)

    def _select_ef(self, fid: int) -> None:
        _, sw = self._transmit(command_apdu(0x00, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big")))
        if sw == 0x6A82:
            raise _FileNotFound(fid)
        if sw != 0x9000:
            raise CardError(f"SELECT EF {fid:04X} failed", sw=sw)

    def _read_binary(self, offset: int, length: int) -> bytes:
        out = bytearray()
        while len(out) < length:
            chunk = min(256, length - len(out))
            pos = offset + len(out)
            data, sw = self._transmit(command_apdu(0x00, 0xB0, pos >> 8, pos & 0xFF, le=chunk))
            if sw == 0x6982:
                raise CardError("the card refused to release this file before PIN verification", sw=sw)
            if sw not in (0x9000, 0x6282) or not data:
                raise CardError("READ BINARY failed", sw=sw)
            out += data[:chunk]
            if sw == 0x6282:
                break
        return bytes(out)

    def _read_certificate(self, fid: int) -> bytes | None:
        self._select_ef(fid)
        head = self._read_binary(0, 4)
        if len(head) < 2 or head[0] != 0x30:
            return None  # empty EF (e.g. no signing certificate)
        if head[1] < 0x80:
            total = 2 + head[1]
        elif head[1] == 0x81 and len(head) >= 3:
            total = 3 + head[2]
        elif head[1] == 0x82 and len(head) >= 4:
            total = 4 + int.from_bytes(head[2:4], "big")
        else:
            raise CardError("the certificate file does not start with a DER SEQUENCE")
        if total > _MAX_CERT_LEN:
            raise CardError("the certificate is implausibly long")
        rest = self._read_binary(len(head), total - len(head)) if total > len(head) else b""
        cert = (head + rest)[:total]
        if len(cert) != total:
            raise CardError("the certificate file is truncated")
        return cert

    def _retries(self, pin_fid: int) -> int | None:
        self._select_ef(pin_fid)
        _, sw = self._transmit(command_apdu(0x00, 0x20, 0x00, 0x80))
        if sw & 0xFFF0 == 0x63C0:
            return sw & 0x0F
        if sw in (0x6983, 0x6984):
            return 0
        return None

    def _verify(self, pin_fid: int, pin: bytes, which: str) -> None:
        if self._retries(pin_fid) == 0:
            raise CardLocked(which=which)
        _, sw = self._transmit(command_apdu(0x00, 0x20, 0x00, 0x80, pin))
        if sw == 0x9000:
            return
        if sw & 0xFFF0 == 0x63C0:
            left = sw & 0x0F
            if left == 0:
                raise CardLocked(which=which)
            raise WrongPin(retries_left=left, which=which)
        if sw in (0x6983, 0x6984):
            raise CardLocked(which=which)
        raise CardError(f"VERIFY {which} failed", sw=sw)

    def _sign(self, pin_fid: int, key_fid: int, pin: str, which: str, data: bytes) -> bytes:
        self._select_ap()
        try:
            self._verify(pin_fid, pin.encode("ascii"), which)
            self._select_ef(key_fid)
        except _FileNotFound as exc:
            raise CardError("this card has no such key (minors have no signing key)") from exc
        apdu = command_apdu(0x80, 0x2A, 0x00, 0x80, digest_info_sha256(data), le=256)
        signature, sw = self._transmit(apdu)
        if sw != 0x9000:
            raise CardError("COMPUTE DIGITAL SIGNATURE failed", sw=sw)
        if len(signature) != 256:
            raise CardError(f"unexpected signature length {len(signature)}")
        return signature
