# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The reader's half of the preload shim's shared-memory record ring (``ext/ring.h``).

Built as ``roar.tracing._ring``. Compiled, not Python, because the protocol needs what Python
cannot say: acquire loads of the slot words (a record's bytes are read only after its COMMITTED
word), a release store of the tail, and a full fence between arming the wake-up and looking for
records. Everything else (when to drain, what to do with the bytes) is roar/tracing/preload.py's.
"""

from cpython.buffer cimport PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport int32_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset


cdef extern from "ring.h":
    enum:
        ROAR_RING_DATA_OFFSET
        ROAR_SLOT_CLAIMED
        ROAR_SLOT_COMMITTED
        ROAR_SLOT_PAD
        ROAR_SLOT_LAP_MASK
    unsigned long long ROAR_RING_MAGIC

    struct roar_ring_ctl:
        uint64_t magic
        uint64_t capacity
        uint64_t head
        uint64_t tail
        uint32_t reader_waiting
        uint64_t given_up

    uint32_t roar_slot_len(uint64_t word)
    unsigned roar_slot_state(uint64_t word)
    uint64_t roar_slot_lap(uint64_t word)
    int32_t roar_slot_pid(uint64_t word)


cdef extern from *:
    """
    #include <errno.h>
    #include <signal.h>
    static inline uint64_t roar_load_acquire(const uint64_t *p) {
        return __atomic_load_n(p, __ATOMIC_ACQUIRE);
    }
    static inline void roar_store_release(uint64_t *p, uint64_t v) {
        __atomic_store_n(p, v, __ATOMIC_RELEASE);
    }
    static inline void roar_arm(uint32_t *p) {
        __atomic_store_n(p, 1, __ATOMIC_SEQ_CST);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    }
    static inline void roar_disarm(uint32_t *p) { __atomic_store_n(p, 0, __ATOMIC_SEQ_CST); }
    static inline int roar_dead(int32_t pid) {
        return pid > 0 && kill(pid, 0) < 0 && errno == ESRCH;
    }
    """
    uint64_t roar_load_acquire(const uint64_t *p) nogil
    void roar_store_release(uint64_t *p, uint64_t v) nogil
    void roar_arm(uint32_t *p) nogil
    void roar_disarm(uint32_t *p) nogil
    int roar_dead(int32_t pid) nogil


DATA_OFFSET = ROAR_RING_DATA_OFFSET
MAGIC = ROAR_RING_MAGIC


cdef class RingView:
    """A mapped ring (any writable buffer: an ``mmap`` of the ring file), read by one reader."""

    cdef Py_buffer _view
    cdef bint _held
    cdef roar_ring_ctl *_ctl
    cdef unsigned char *_data
    cdef uint64_t _cap
    cdef int _shift

    def __cinit__(self, buffer):
        PyObject_GetBuffer(buffer, &self._view, PyBUF_WRITABLE)
        self._held = True
        if self._view.len < ROAR_RING_DATA_OFFSET:
            raise ValueError("the ring is smaller than its control block")
        self._ctl = <roar_ring_ctl *>self._view.buf
        cdef uint64_t cap = self._ctl.capacity
        if (self._ctl.magic != ROAR_RING_MAGIC or cap < 8192 or (cap & (cap - 1))
                or <uint64_t>self._view.len < ROAR_RING_DATA_OFFSET + cap):
            raise ValueError("not a roar record ring (bad magic or capacity)")
        self._data = <unsigned char *>self._view.buf + ROAR_RING_DATA_OFFSET
        self._cap = cap
        self._shift = 0
        while (<uint64_t>1 << self._shift) < cap:
            self._shift += 1

    def release(self):
        """Let go of the buffer (before the mapping is closed)."""
        if self._held:
            PyBuffer_Release(&self._view)
            self._held = False

    def __dealloc__(self):
        self.release()

    @property
    def given_up(self):
        """Records writers dropped after waiting too long for room."""
        return self._ctl.given_up

    def pending(self):
        """Whether records (or claims) lie between tail and head."""
        return roar_load_acquire(&self._ctl.head) != self._ctl.tail

    def arm(self):
        """Ask writers for a wake-up; True (and disarmed again) when records are pending already,
        so the caller must not sleep."""
        roar_arm(&self._ctl.reader_waiting)
        if roar_load_acquire(&self._ctl.head) != self._ctl.tail:
            roar_disarm(&self._ctl.reader_waiting)
            return True
        return False

    def disarm(self):
        roar_disarm(&self._ctl.reader_waiting)

    def drain(self, bint final=False):
        """Consume the complete records from tail on: (their wire bytes, back to back; the number
        of slots skipped as lost).

        Stops at a slot still being written. A CLAIMED slot whose writer is dead (SIGKILLed
        while copying) is skipped and counted; with ``final`` (the whole traced tree has ended)
        every CLAIMED slot is, and a slot whose word was never written ends the drain: what lies
        beyond it cannot be delimited and is counted as one more loss.
        """
        cdef roar_ring_ctl *ctl = self._ctl
        cdef uint64_t mask = self._cap - 1
        cdef uint64_t start = ctl.tail
        cdef uint64_t t = start
        cdef uint64_t h = roar_load_acquire(&ctl.head)
        cdef uint64_t word, off, length
        cdef unsigned state
        cdef uint16_t size
        cdef Py_ssize_t lost = 0
        cdef Py_ssize_t used = 0
        cdef bytes out = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>(h - start))
        cdef unsigned char *dst = <unsigned char *>PyBytes_AS_STRING(out)
        while t < h:
            off = t & mask
            word = roar_load_acquire(<uint64_t *>(self._data + off))
            if word == 0 or roar_slot_lap(word) != ((t >> self._shift) & ROAR_SLOT_LAP_MASK):
                if final:
                    lost += 1
                break
            length = roar_slot_len(word)
            if length < 8 or off + length > self._cap:
                lost += 1  # cannot happen with a sound writer; never read past it
                break
            state = roar_slot_state(word)
            if state == ROAR_SLOT_CLAIMED:
                if not final and not roar_dead(roar_slot_pid(word)):
                    break
                lost += 1
            elif state == ROAR_SLOT_COMMITTED:
                memcpy(&size, self._data + off + 8, 2)
                if <uint64_t>size + 8 > length:
                    lost += 1
                else:
                    memcpy(dst + used, self._data + off + 8, size)
                    used += size
            t += length
        if t != start:
            # Zero what was consumed, then give it back: a free slot's word must read 0.
            off = start & mask
            if off + (t - start) <= self._cap:
                memset(self._data + off, 0, t - start)
            else:
                memset(self._data + off, 0, self._cap - off)
                memset(self._data, 0, (t - start) - (self._cap - off))
            roar_store_release(&ctl.tail, t)
        return out[:used], lost
