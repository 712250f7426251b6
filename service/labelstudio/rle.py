"""Label Studio's brush run-length encoding (the `rle` of a BrushLabels result), numpy only.

A brush region is an RGBA canvas of the image's size, flattened row-major to H·W·4 bytes and packed as a bit stream,
most significant bit first:
- header: 32 bits the number of values (H·W·4), 5 bits the word size − 1 (8 here), four 4-bit run-length sizes − 1;
- chunks until all values are read: 1 bit "repeat", 2 bits which run-length size, that many bits the count − 1; a
  repeat chunk then holds one word for all `count` values, a literal chunk `count` words.
The region covers the pixels whose alpha (the 4th byte) is at least `ALPHA_ON`: the editor's strokes are opaque and
its anti-aliased edges are not counted as half a label.
"""

from __future__ import annotations

import numpy as np

from service.errors import Invalid

ALPHA_ON = 128
RUN_BITS = (3, 4, 8, 16)  # the run-length field widths the encoder declares (any four are valid input)
_MAX_VALUES = 4 * 178_956_970  # Pillow's decompression-bomb pixel limit, as RGBA


class _Bits:
    """Reads unsigned big-endian fields of up to 32 bits from a byte string at a bit position."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.total = len(data) * 8

    def read(self, n: int) -> int:
        end = self.pos + n
        if end > self.total:
            raise Invalid("brush RLE ends in the middle of a field: it is truncated")
        first, last = self.pos // 8, (end + 7) // 8
        window = int.from_bytes(self.data[first:last], "big")  # at most 5 bytes
        value = (window >> (last * 8 - end)) & ((1 << n) - 1)
        self.pos = end
        return value

    def words(self, count: int, size: int) -> np.ndarray:
        """`count` consecutive `size`-bit fields at once (numpy): (count,) int64."""
        end = self.pos + count * size
        if end > self.total:
            raise Invalid("brush RLE ends in the middle of a run: it is truncated")
        first, last = self.pos // 8, (end + 7) // 8
        bits = np.unpackbits(np.frombuffer(self.data, dtype=np.uint8, count=last - first, offset=first))
        offset = self.pos - first * 8
        fields = bits[offset : offset + count * size].reshape(count, size).astype(np.int64)  # (count, size) MSB first
        self.pos = end
        return fields @ (1 << np.arange(size - 1, -1, -1, dtype=np.int64))


def decode(rle: list[int], *, width: int, height: int) -> np.ndarray:
    """A BrushLabels `rle` → (H, W) bool region; Invalid when it is malformed or not width × height."""
    try:
        data = bytes(rle)
    except (TypeError, ValueError) as err:
        raise Invalid(f"brush RLE must be a list of bytes 0..255 ({err})") from None
    bits = _Bits(data)
    count = bits.read(32)
    if count != width * height * 4:
        raise Invalid(f"brush mask has {count} values but the image is {width}x{height} ({width * height * 4} RGBA)")
    if count > _MAX_VALUES:
        raise Invalid("brush mask is larger than any image may be")
    word = bits.read(5) + 1
    sizes = [bits.read(4) + 1 for _ in range(4)]
    out = np.zeros(count, dtype=np.uint16 if word > 8 else np.uint8)
    i = 0
    while i < count:
        repeat = bits.read(1)
        j = min(count, i + 1 + bits.read(sizes[bits.read(2)]))
        if repeat:
            out[i:j] = bits.read(word)
        else:  # literal words: valid in any stream (an encoder's choice for varied values), read at once
            out[i:j] = bits.words(j - i, word)
        i = j
    alpha = out.reshape(height, width, 4)[..., 3]  # (H, W)
    return alpha >= (ALPHA_ON if word <= 8 else ALPHA_ON << (word - 8))


def encode(region: np.ndarray) -> list[int]:
    """(H, W) bool region → a BrushLabels `rle` (opaque white where True, transparent elsewhere), repeat chunks only."""
    values = np.repeat(np.where(region.ravel(), 255, 0).astype(np.uint8), 4)  # (H·W·4,) RGBA, row-major
    count = values.size
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    lengths = np.diff(np.append(starts, count))
    fields = [f"{count:032b}", f"{7:05b}", "".join(f"{b - 1:04b}" for b in RUN_BITS)]
    largest = 1 << RUN_BITS[-1]
    for start, length in zip(starts.tolist(), lengths.tolist(), strict=True):
        word = f"{int(values[start]):08b}"
        while length > 0:
            run = min(length, largest)
            size = next(k for k, b in enumerate(RUN_BITS) if run - 1 < (1 << b))
            fields.append(f"1{size:02b}{run - 1:0{RUN_BITS[size]}b}{word}")
            length -= run
    stream = "".join(fields)
    stream += "0" * (-len(stream) % 8)
    bits = np.frombuffer(stream.encode(), dtype=np.uint8) - ord("0")
    return np.packbits(bits).tolist()
