# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled event decoder, built as ``roar.tracing._decoder``.

The same class as ``roar/tracing/_decoder_py.py`` (the executable specification; read it for the
semantics), with the record loop in C: headers are read straight out of the caller's buffer, paths
are decoded with ``PyUnicode_DecodeUTF8(..., "surrogateescape")`` and each ``Record`` is
built directly.  Only a record cut by the end of a feed is copied, into a small pending buffer.

The header layout comes from ``ext/events.h`` itself (the build passes ``-I ext``), so the C
compiler, not a hand-copied offset table, decides where each field is.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t
from libc.stdlib cimport free, realloc
from libc.string cimport memcpy

from roar.tracing.wire import Record, WireFormatError


cdef extern from "events.h":
    enum:
        ROAR_EVT_HEADER_SIZE
        ROAR_EVT_MAX_RECORD

    struct roar_evt_header:
        uint16_t size
        uint8_t kind
        uint8_t flags
        int32_t pid
        int32_t tid
        int32_t arg0
        int64_t arg1
        uint32_t arg2
        uint16_t len1
        uint16_t len2


cdef str _EMPTY = ""
cdef object _Record = Record


# Record is a NamedTuple: a tuple subclass with no fields of its own. Calling it runs a Python
# __new__ per record (2.7x the decoding cost, measured), so the record is allocated the way
# tuple.__new__ allocates a subclass instance (tp_alloc, which tracks it for the GC and holds a
# reference to the type) and its nine slots are filled in place, as for a plain tuple. Its slots
# only ever hold ints, strings and None, so it can never be part of a reference cycle: it is
# untracked at once, as the collector untracks such plain tuples itself. A tracked record lives
# through a batch, gets promoted and is scanned again by older generations: that alone cost 2.2x
# the decoding time (measured with the benchmark, gc on vs off).
cdef extern from *:
    """
    static inline PyObject *roar_alloc_record(PyObject *type) {
        PyObject *record = ((PyTypeObject *)type)->tp_alloc((PyTypeObject *)type, 9);
        if (record != NULL)
            PyObject_GC_UnTrack(record);
        return record;
    }
    static inline void roar_set_slot(PyObject *record, Py_ssize_t i, PyObject *value) {
        Py_INCREF(value);
        PyTuple_SET_ITEM(record, i, value);
    }
    """
    object roar_alloc_record(object type)
    void roar_set_slot(object record, Py_ssize_t i, object value)


cdef inline void _read_header(const unsigned char *p, roar_evt_header *h) noexcept nogil:
    # memcpy: the caller's buffer has no alignment guarantee.
    memcpy(h, p, sizeof(roar_evt_header))


cdef object _bad_header(const roar_evt_header *h, long long offset, list records):
    """The WireFormatError for a bad header, or None if the header is valid."""
    if h.size < ROAR_EVT_HEADER_SIZE or h.size > ROAR_EVT_MAX_RECORD:
        return WireFormatError(
            f"bad event record at stream offset {offset}: size {h.size} "
            f"is outside {ROAR_EVT_HEADER_SIZE}..{ROAR_EVT_MAX_RECORD}",
            offset,
            records,
        )
    if h.size != ROAR_EVT_HEADER_SIZE + h.len1 + h.len2:
        return WireFormatError(
            f"bad event record at stream offset {offset}: size {h.size} "
            f"!= {ROAR_EVT_HEADER_SIZE} + len1 {h.len1} + len2 {h.len2}",
            offset,
            records,
        )
    return None


cdef inline object _make_record(const unsigned char *p, const roar_evt_header *h):
    cdef const char *s = <const char *>(p + ROAR_EVT_HEADER_SIZE)
    cdef object path1
    cdef object path2
    if h.len1:
        path1 = PyUnicode_DecodeUTF8(s, h.len1, "surrogateescape")
    else:
        path1 = _EMPTY
    if h.len2:
        path2 = PyUnicode_DecodeUTF8(s + h.len1, h.len2, "surrogateescape")
    else:
        path2 = None
    cdef object record = roar_alloc_record(_Record)
    roar_set_slot(record, 0, h.kind)
    roar_set_slot(record, 1, h.flags)
    roar_set_slot(record, 2, h.pid)
    roar_set_slot(record, 3, h.tid)
    roar_set_slot(record, 4, h.arg0)
    roar_set_slot(record, 5, h.arg1)
    roar_set_slot(record, 6, h.arg2)
    roar_set_slot(record, 7, path1)
    roar_set_slot(record, 8, path2)
    return record


cdef class Decoder:
    """Split a byte stream of wire records (``ext/events.h``) into ``Record`` values.

    See ``roar.tracing._decoder_py.Decoder``: same API, same results, same errors.
    """

    cdef unsigned char *_pend    # bytes of a record not yet complete (or of a bad record)
    cdef Py_ssize_t _npend
    cdef Py_ssize_t _cap
    cdef long long _consumed     # stream offset of _pend[0]
    cdef bint _failed            # a bad header was seen: everything after it stays pending

    def __cinit__(self):
        self._pend = NULL
        self._npend = 0
        self._cap = 0
        self._consumed = 0
        self._failed = False

    def __dealloc__(self):
        free(self._pend)

    @property
    def pending(self):
        """Number of bytes buffered: the start of a record not yet complete."""
        return self._npend

    cdef int _keep(self, const unsigned char *p, Py_ssize_t n) except -1:
        """Append n bytes to the pending buffer."""
        cdef Py_ssize_t need = self._npend + n
        cdef Py_ssize_t cap
        cdef unsigned char *grown
        if need > self._cap:
            cap = self._cap * 2 if self._cap else ROAR_EVT_MAX_RECORD
            if cap < need:
                cap = need
            grown = <unsigned char *>realloc(self._pend, cap)
            if grown == NULL:
                raise MemoryError()
            self._pend = grown
            self._cap = cap
        memcpy(self._pend + self._npend, p, n)
        self._npend = need
        return 0

    def feed(self, data):
        """Consume ``data``; return the records it completed, in stream order."""
        cdef Py_buffer view
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            return self._feed(<const unsigned char *>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)

    cdef list _feed(self, const unsigned char *buf, Py_ssize_t n):
        cdef list records = []
        cdef roar_evt_header h
        cdef Py_ssize_t pos = 0
        cdef Py_ssize_t take
        cdef long long base
        cdef object err

        if self._failed:
            self._keep(buf, n)
            _read_header(self._pend, &h)
            raise _bad_header(&h, self._consumed, records)

        # 1. Complete the record cut by the previous feed, if any.
        if self._npend:
            if self._npend < ROAR_EVT_HEADER_SIZE:
                take = ROAR_EVT_HEADER_SIZE - self._npend
                if take > n:
                    take = n
                self._keep(buf, take)
                pos = take
                if self._npend < ROAR_EVT_HEADER_SIZE:
                    return records
            _read_header(self._pend, &h)
            err = _bad_header(&h, self._consumed, records)
            if err is not None:
                self._failed = True
                self._keep(buf + pos, n - pos)
                raise err
            take = h.size - self._npend
            if take > n - pos:
                take = n - pos
            self._keep(buf + pos, take)
            pos += take
            if self._npend < h.size:
                return records
            records.append(_make_record(self._pend, &h))
            self._consumed += h.size
            self._npend = 0

        # 2. Records entirely inside this buffer: no copies.
        base = self._consumed - pos  # stream offset of buf[0]
        while n - pos >= ROAR_EVT_HEADER_SIZE:
            _read_header(buf + pos, &h)
            if (h.size < ROAR_EVT_HEADER_SIZE or h.size > ROAR_EVT_MAX_RECORD
                    or h.size != ROAR_EVT_HEADER_SIZE + h.len1 + h.len2):
                self._consumed = base + pos
                self._failed = True
                self._keep(buf + pos, n - pos)
                raise _bad_header(&h, base + pos, records)
            if n - pos < h.size:
                break
            records.append(_make_record(buf + pos, &h))
            pos += h.size

        # 3. Keep the tail.
        self._consumed = base + pos
        if pos < n:
            self._keep(buf + pos, n - pos)
        return records
