"""Content digests of files: BLAKE3 first, other algorithms on request, a cache in front.

The digest functions here are plain blocking functions; :class:`Hasher` runs them on worker
threads (the blake3 and hashlib C code releases the GIL) so the event loop keeps serving the
tracer's event stream while big files hash.
"""

from roar.hashing._digest import DIGEST_ALGORITHMS, FileKey, digest_file, file_key
from roar.hashing._hasher import Hasher, HashResult

__all__ = ("DIGEST_ALGORITHMS", "FileKey", "HashResult", "Hasher", "digest_file", "file_key")
