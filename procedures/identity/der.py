"""The little DER this project reads and writes: TLVs, integers, strings, a key's subjectPublicKey.

Only what the JPKI profile needs (the basic facts in subjectAltName otherNames, OCSP key hashes,
IssuerAndSerialNumber); strict definite-length DER, nothing more.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization

__all__ = [
    "decode_directory_string",
    "der_integer",
    "der_length",
    "der_printablestring",
    "der_read",
    "der_tlv",
    "der_utf8string",
    "subject_public_key_bits",
]


def der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def der_tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + der_length(len(content)) + content


def der_integer(n: int) -> bytes:
    body = n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=True)
    return der_tlv(0x02, body)


def der_utf8string(s: str) -> bytes:
    return der_tlv(0x0C, s.encode("utf-8"))


def der_printablestring(s: str) -> bytes:
    return der_tlv(0x13, s.encode("ascii"))


def der_read(data: bytes, offset: int = 0) -> tuple[int, bytes, int]:
    """Read one TLV at ``offset``: ``(tag, content, next_offset)``; strict definite DER."""
    if offset + 2 > len(data):
        raise ValueError("truncated DER")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise ValueError("multi-byte tags are not supported")
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or pos + n > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos : pos + n], "big")
        if length < 0x80 or data[pos] == 0:
            raise ValueError("non-minimal DER length")
        pos += n
    end = pos + length
    if end > len(data):
        raise ValueError("truncated DER")
    return tag, data[pos:end], end


def decode_directory_string(value: bytes) -> str:
    """Decode a DER UTF8String / PrintableString / IA5String / BMPString value."""
    tag, content, end = der_read(value)
    if end != len(value):
        raise ValueError("trailing bytes after string")
    if tag == 0x0C:
        return content.decode("utf-8")
    if tag in (0x13, 0x16):
        return content.decode("ascii")
    if tag == 0x1E:
        return content.decode("utf-16-be")
    raise ValueError(f"unexpected string tag 0x{tag:02x}")


def subject_public_key_bits(public_key: Any) -> bytes:
    """Contents of the subjectPublicKey BIT STRING (what OCSP key hashes cover)."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _, seq, _ = der_read(spki)
    _, _, pos = der_read(seq)  # AlgorithmIdentifier
    tag, bits, _ = der_read(seq, pos)
    if tag != 0x03 or not bits or bits[0] != 0:
        raise ValueError("unexpected SubjectPublicKeyInfo")
    return bits[1:]
