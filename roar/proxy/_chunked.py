"""The ``aws-chunked`` content encoding, decoded and re-encoded incrementally (pure, no I/O).

Clients that stream uploads of unknown checksum wrap the body in S3's own chunk framing (distinct
from HTTP's ``Transfer-Encoding: chunked``, which may carry it)::

    <hex-size>[;chunk-signature=<sig>]\\r\\n<bytes>\\r\\n ... 0[;chunk-signature=<sig>]\\r\\n
    [<trailer-name>:<value>\\r\\n ...][x-amz-trailer-signature:<sig>\\r\\n]\\r\\n

``x-amz-content-sha256`` says which flavour: ``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` (boto3 over
TLS), ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` (signed chunks: Java v1, Go v1, MinIO clients) or
``STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER``. Chunk signatures chain from the client's request
signature, so they cannot survive re-signing: the proxy decodes every flavour to the raw payload
(:class:`ChunkedDecoder`, fed any split of the bytes), hashes that, and sends upstream either the
raw payload (no trailer) or, when the client sent trailing checksums, the payload re-framed as
``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` (:class:`ChunkedEncoder`) with the same trailers, so S3
still verifies and stores the checksum the client computed.
"""

from __future__ import annotations

STREAMING_PREFIX = "STREAMING-"
UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

# Base64 lengths of the checksum trailers S3 defines. The re-encoded body's Content-Length must be
# known before its first byte is sent, so only trailers of known length can be forwarded.
TRAILER_VALUE_LENGTHS = {
    "x-amz-checksum-crc32": 8,
    "x-amz-checksum-crc32c": 8,
    "x-amz-checksum-crc64nvme": 12,
    "x-amz-checksum-sha1": 28,
    "x-amz-checksum-sha256": 44,
}

_MAX_LINE = 4096
_MAX_TRAILERS = 16

_SIZE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


class ChunkedFormatError(ValueError):
    """The body is not valid aws-chunked framing; the message goes to the client in a 400."""


class ChunkedDecoder:
    """Push-based aws-chunked decoder: ``feed`` returns payload pieces as soon as they are known.

    Memory is bounded by one framing line (4 KiB) whatever the chunk sizes; payload bytes are
    returned as slices of the input, never accumulated.
    """

    def __init__(self) -> None:
        self._state = _SIZE
        self._line = bytearray()
        self._remaining = 0
        self._crlf = 0
        self.decoded = 0
        self.trailers: dict[str, str] = {}

    @property
    def done(self) -> bool:
        """True once the final zero-size chunk and the trailer section have been read."""
        return self._state == _DONE

    def feed(self, data: bytes) -> list[bytes]:
        """Consume ``data`` and return the payload bytes it completed (possibly none)."""
        out: list[bytes] = []
        pos, end = 0, len(data)
        while pos < end:
            state = self._state
            if state == _DATA:
                take = min(self._remaining, end - pos)
                out.append(data if take == end and pos == 0 else data[pos : pos + take])
                pos += take
                self._remaining -= take
                self.decoded += take
                if self._remaining == 0:
                    self._state, self._crlf = _DATA_END, 0
            elif state == _DATA_END:
                expected = b"\r\n"[self._crlf]
                if data[pos] != expected:
                    raise ChunkedFormatError("aws-chunked: chunk data is not followed by CRLF")
                pos += 1
                self._crlf += 1
                if self._crlf == 2:
                    self._state = _SIZE
            elif state == _DONE:
                raise ChunkedFormatError("aws-chunked: bytes after the final chunk")
            else:
                newline = data.find(b"\n", pos)
                stop = end if newline < 0 else newline + 1
                self._line += data[pos:stop]
                pos = stop
                if len(self._line) > _MAX_LINE:
                    raise ChunkedFormatError("aws-chunked: framing line longer than 4 KiB")
                if newline >= 0:
                    if not self._line.endswith(b"\r\n"):
                        raise ChunkedFormatError("aws-chunked: framing line not ended by CRLF")
                    line = bytes(self._line[:-2])
                    self._line.clear()
                    if state == _SIZE:
                        self._size_line(line)
                    else:
                        self._trailer_line(line)
        return out

    def _size_line(self, line: bytes) -> None:
        text = line.split(b";", 1)[0].strip()
        try:
            size = int(text, 16)
        except ValueError:
            raise ChunkedFormatError(f"aws-chunked: bad chunk size {text[:20]!r}") from None
        if size < 0 or not text.isalnum():
            raise ChunkedFormatError(f"aws-chunked: bad chunk size {text[:20]!r}")
        if size == 0:
            self._state = _TRAILER
        else:
            self._state, self._remaining = _DATA, size

    def _trailer_line(self, line: bytes) -> None:
        if not line:
            self._state = _DONE
            return
        name, sep, value = line.partition(b":")
        if not sep or not name.strip():
            raise ChunkedFormatError("aws-chunked: trailer line is not 'name:value'")
        if len(self.trailers) >= _MAX_TRAILERS:
            raise ChunkedFormatError("aws-chunked: too many trailers")
        try:
            key = name.strip().decode("ascii").lower()
            self.trailers[key] = value.strip().decode("ascii")
        except UnicodeDecodeError:
            raise ChunkedFormatError("aws-chunked: trailer is not ASCII") from None

    def finish(self) -> None:
        """Check the body ended cleanly; raises :class:`ChunkedFormatError` if it was cut short.

        A missing empty line after the trailers is tolerated (some encoders stop right after the
        last trailer); a missing final chunk is not.
        """
        if self._state == _DONE:
            return
        if self._state == _TRAILER and not self._line:
            self._state = _DONE
            return
        raise ChunkedFormatError("aws-chunked: body ended before the final chunk")

    def signed_trailers(self) -> dict[str, str]:
        """The trailers worth forwarding: everything but the client's trailer signature."""
        return {k: v for k, v in self.trailers.items() if k != "x-amz-trailer-signature"}


def trailer_names(header: str | None) -> list[str]:
    """The names listed in an ``x-amz-trailer`` header, lower-cased, in order."""
    if not header:
        return []
    return [name.strip().lower() for name in header.split(",") if name.strip()]


def encoded_length(decoded: int, chunk_size: int, trailers: list[str]) -> int:
    """Byte length of :class:`ChunkedEncoder`'s output for ``decoded`` payload bytes.

    Raises ``KeyError`` for a trailer whose value length is not known in advance.
    """
    full, rest = divmod(decoded, chunk_size)
    length = full * (len(f"{chunk_size:x}") + 4 + chunk_size)
    if rest:
        length += len(f"{rest:x}") + 4 + rest
    length += 3  # "0\r\n"
    for name in trailers:
        length += len(name) + 1 + TRAILER_VALUE_LENGTHS[name] + 2
    return length + 2


class ChunkedEncoder:
    """Frames a payload as ``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` with fixed-size chunks.

    Fixed sizes make the encoded length computable up front (:func:`encoded_length`), which S3
    needs as ``Content-Length``; at most one chunk is buffered.
    """

    def __init__(self, chunk_size: int = 64 * 1024) -> None:
        self.chunk_size = chunk_size
        self._pending = bytearray()
        self._header = f"{chunk_size:x}\r\n".encode()

    def push(self, data: bytes) -> list[bytes]:
        """Add payload bytes; returns the complete frames they finish."""
        out: list[bytes] = []
        size = self.chunk_size
        view = memoryview(data)
        if self._pending:
            take = min(size - len(self._pending), len(view))
            self._pending += view[:take]
            view = view[take:]
            if len(self._pending) == size:
                out.append(self._header + bytes(self._pending) + b"\r\n")
                self._pending.clear()
        while len(view) >= size:
            out.append(self._header + bytes(view[:size]) + b"\r\n")
            view = view[size:]
        if len(view):
            self._pending += view
        return out

    def finish(self, trailers: dict[str, str], names: list[str]) -> bytes:
        """The last partial chunk, the zero chunk and the trailers named in ``names``, in order.

        Raises :class:`ChunkedFormatError` if a trailer is missing or not of its expected length
        (the length was promised to the upstream before the body was sent).
        """
        out = bytearray()
        if self._pending:
            out += f"{len(self._pending):x}\r\n".encode() + self._pending + b"\r\n"
            self._pending.clear()
        out += b"0\r\n"
        for name in names:
            value = trailers.get(name)
            if value is None or len(value) != TRAILER_VALUE_LENGTHS[name]:
                raise ChunkedFormatError(f"aws-chunked: trailer {name} missing or malformed")
            out += f"{name}:{value}\r\n".encode()
        out += b"\r\n"
        return bytes(out)
