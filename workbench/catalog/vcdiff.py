"""Apply a VCDIFF (RFC 3284) delta, as xdelta3 writes them, with the pure-Python `vcdiff-decoder`.

The contest's `rom.delta` files are xdelta3 output: plain VCDIFF windows plus xdelta3's per-window Adler-32 of the
target (the 0x04 window bit), which `vcdiff-decoder` checks. Before decoding, `delta_layout` walks the windows
itself, so a truncated or damaged file is refused with a plain reason (the decoder's own errors on garbage are
cryptic), and an xdelta3 application header (file names, written by `xdelta3 -e` unless `-A`) is dropped because
the decoder does not skip it.
"""
from __future__ import annotations

from dataclasses import dataclass

VCDIFF_MAGIC = b"\xd6\xc3\xc4\x00"
_HDR_DECOMPRESS, _HDR_CODETABLE, _HDR_APPHEADER = 0x01, 0x02, 0x04
_WIN_SOURCE, _WIN_TARGET, _WIN_ADLER32 = 0x01, 0x02, 0x04
MAX_TARGET_BYTES = 64 << 20  # twice stable-retro's largest ROM


class DeltaError(ValueError):
    """The delta cannot be applied. `wrong_base` is True when the delta itself is sound but the base bytes are
    not the ones it was made from (a window's checksum or a copy range does not fit)."""

    def __init__(self, message: str, wrong_base: bool = False):
        super().__init__(message)
        self.wrong_base = wrong_base


@dataclass(frozen=True)
class DeltaLayout:
    windows: int
    source_bytes: int
    """How many bytes of the base the delta reads (the base must be at least this long)."""
    target_bytes: int
    """How long the output is."""
    body: bytes
    """The delta without an application header, as the decoder wants it."""


def _varint(data: bytes, pos: int, what: str) -> tuple[int, int]:
    value = 0
    for _ in range(10):  # larger than any 64-bit value: corrupt
        if pos >= len(data):
            raise DeltaError(f"truncated delta: it ends inside the {what} at byte {pos}")
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, pos
    raise DeltaError(f"corrupt delta: the {what} at byte {pos} is not a valid number")


def delta_layout(delta: bytes) -> DeltaLayout:
    """Check the delta's structure (header and every window's length fields) without decoding it."""
    if len(delta) < 5 or delta[:4] != VCDIFF_MAGIC:
        raise DeltaError("not a VCDIFF delta (it does not start with the VCDIFF magic bytes d6 c3 c4 00)")
    indicator = delta[4]
    if indicator & ~(_HDR_DECOMPRESS | _HDR_CODETABLE | _HDR_APPHEADER):
        raise DeltaError(f"corrupt delta: unknown header flags 0x{indicator:02x}")
    if indicator & (_HDR_DECOMPRESS | _HDR_CODETABLE):
        raise DeltaError("the delta uses secondary compression or its own code table, which the decoder does not "
                         "support (xdelta3 writes neither with `-S none`)")
    pos = 5
    body = delta
    if indicator & _HDR_APPHEADER:
        length, pos = _varint(delta, pos, "application header length")
        if pos + length > len(delta):
            raise DeltaError("truncated delta: it ends inside the application header")
        pos += length
        body = VCDIFF_MAGIC + bytes([indicator & ~_HDR_APPHEADER]) + delta[pos:]
    windows = source = target = 0
    while pos < len(delta):
        windows += 1
        where = f"window {windows}"
        win = delta[pos]
        pos += 1
        if win & ~(_WIN_SOURCE | _WIN_TARGET | _WIN_ADLER32):
            raise DeltaError(f"corrupt delta: {where} has unknown flags 0x{win:02x}")
        if win & _WIN_SOURCE:
            size, pos = _varint(delta, pos, f"{where}'s source size")
            offset, pos = _varint(delta, pos, f"{where}'s source offset")
            source = max(source, size + offset)
        length, pos = _varint(delta, pos, f"{where}'s length")
        if pos + length > len(delta):
            raise DeltaError(f"truncated delta: {where} needs {length} bytes at byte {pos}, the file has "
                             f"{len(delta) - pos}")
        window_target, _ = _varint(delta, pos, f"{where}'s target size")
        target += window_target
        pos += length
    if windows == 0:
        raise DeltaError("truncated delta: it has a header but no windows")
    return DeltaLayout(windows, source, target, body)


def apply_delta(base: bytes, delta: bytes) -> bytes:
    """The target that `delta` makes from `base`; DeltaError when the delta is damaged or `base` is not its
    source (wrong_base=True)."""
    import vcdiff_decoder

    layout = delta_layout(delta)
    if len(base) < layout.source_bytes:
        raise DeltaError(f"the base is {len(base)} bytes, the delta reads {layout.source_bytes}", wrong_base=True)
    if layout.target_bytes > MAX_TARGET_BYTES:
        raise DeltaError(f"corrupt delta: it promises {layout.target_bytes} bytes, more than any ROM")
    try:
        # a damaged size would make the decoder run or copy for billions of bytes: the instructions must add up
        parsed = vcdiff_decoder.parse_delta(layout.body)
        sizes = [instruction.size for instruction in parsed.instructions]
        if sum(sizes) != layout.target_bytes or max(sizes, default=0) > max(
                (w.target_window_length for w in parsed.windows), default=0):
            raise DeltaError(f"corrupt delta: its instructions make {sum(sizes)} bytes, its windows promise "
                             f"{layout.target_bytes}")
        out = vcdiff_decoder.decode(base, layout.body)
    except vcdiff_decoder.InvalidChecksumError as exc:
        raise DeltaError(f"the output fails the delta's checksum ({exc}): this is not the base the delta was "
                         "made from (or the delta is damaged)", wrong_base=True) from None
    except vcdiff_decoder.VCDIFFError as exc:
        raise DeltaError(f"corrupt delta: {exc}") from None
    except (IndexError, ValueError, KeyError, EOFError) as exc:  # garbage inside a window that parses
        raise DeltaError(f"corrupt delta: {type(exc).__name__}: {exc}") from None
    if len(out) != layout.target_bytes:
        raise DeltaError(f"corrupt delta: it made {len(out)} bytes, its windows promise {layout.target_bytes}")
    return out
