/*
 * roar.hashing._b3tree: BLAKE3 subtrees, for hashing a multipart object whose parts arrive
 * out of order and concurrently, without ever holding the object.
 *
 * BLAKE3 is a binary tree over 1 KiB chunks. A part whose size is a power-of-two number of
 * chunks, placed at a multiple of that size, is a complete subtree of the whole object's tree:
 * hash it with its chunks numbered from the part's offset and keep its final node (an
 * "output"), and the whole object's hash is the parent nodes above those outputs. The `blake3`
 * Python package (Rust) does not expose subtrees, so the compression function is written here,
 * from the BLAKE3 specification, portable C: the official package still hashes every whole
 * object; this only hashes multipart parts.
 *
 * API (all digests and outputs are bytes):
 *   Subtree(chunk_offset=0)      .update(buffer)  .output() -> 106-byte output
 *   chaining_value(output) -> 32 bytes   (the node as an inner node of a larger tree)
 *   root_hash(output)      -> 32 bytes   (the node as the root: the object's BLAKE3)
 *   parent_output(left_cv, right_cv) -> output
 *   digest_small_files(paths, limit) -> one result per path (bytes, os.fsencode'd):
 *       (st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns, digest) hashed; an int: the errno
 *       it failed with; None: it changed while being read; False: ``limit`` bytes or more,
 *       left for the caller to hash. roar.hashing._digest.digest_file is the same, for one file.
 *
 * A job may write 20,000 files of a few KB, each hashed when closed: in Python that is six
 * system calls per file, each giving up and taking back the GIL, while the event loop decodes
 * records. Here a whole batch is read and hashed without the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#endif

#define CHUNK_LEN 1024
#define BLOCK_LEN 64
#define CHUNK_START 1u
#define CHUNK_END 2u
#define PARENT 4u
#define ROOT 8u
#define OUTPUT_LEN 106 /* cv 32 + block 64 + counter 8 + block_len 1 + flags 1 */
#define MAX_DEPTH 64
/* Below this many bytes an update keeps the GIL: releasing costs more than it frees. */
#define RELEASE_GIL_BYTES (64 * 1024)

static const uint32_t IV[8] = {0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                               0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};
static const uint8_t PERMUTATION[16] = {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8};

static inline uint32_t rotr(uint32_t w, unsigned c) { return (w >> c) | (w << (32 - c)); }

static inline void g(uint32_t *s, int a, int b, int c, int d, uint32_t x, uint32_t y) {
    s[a] = s[a] + s[b] + x;
    s[d] = rotr(s[d] ^ s[a], 16);
    s[c] = s[c] + s[d];
    s[b] = rotr(s[b] ^ s[c], 12);
    s[a] = s[a] + s[b] + y;
    s[d] = rotr(s[d] ^ s[a], 8);
    s[c] = s[c] + s[d];
    s[b] = rotr(s[b] ^ s[c], 7);
}

static void compress(const uint32_t cv[8], const uint32_t block[16], uint64_t counter,
                     uint32_t block_len, uint32_t flags, uint32_t out[16]) {
    uint32_t s[16] = {cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7],
                      IV[0], IV[1], IV[2], IV[3], (uint32_t)counter, (uint32_t)(counter >> 32),
                      block_len, flags};
    uint32_t m[16], t[16];
    memcpy(m, block, sizeof m);
    for (int round = 0; round < 7; round++) {
        g(s, 0, 4, 8, 12, m[0], m[1]);
        g(s, 1, 5, 9, 13, m[2], m[3]);
        g(s, 2, 6, 10, 14, m[4], m[5]);
        g(s, 3, 7, 11, 15, m[6], m[7]);
        g(s, 0, 5, 10, 15, m[8], m[9]);
        g(s, 1, 6, 11, 12, m[10], m[11]);
        g(s, 2, 7, 8, 13, m[12], m[13]);
        g(s, 3, 4, 9, 14, m[14], m[15]);
        if (round < 6) {
            for (int i = 0; i < 16; i++) t[i] = m[PERMUTATION[i]];
            memcpy(m, t, sizeof m);
        }
    }
    for (int i = 0; i < 8; i++) {
        out[i] = s[i] ^ s[i + 8];
        out[i + 8] = s[i + 8] ^ cv[i];
    }
}

static inline uint32_t load32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline void store32(uint8_t *p, uint32_t w) {
    p[0] = (uint8_t)w;
    p[1] = (uint8_t)(w >> 8);
    p[2] = (uint8_t)(w >> 16);
    p[3] = (uint8_t)(w >> 24);
}

static void words_from_bytes(const uint8_t *bytes, uint32_t *words, int n) {
    for (int i = 0; i < n; i++) words[i] = load32(bytes + 4 * i);
}

/* A node not yet compressed for the last time: compressed as inner node or as root later. */
typedef struct {
    uint32_t cv[8];
    uint32_t block[16];
    uint64_t counter;
    uint8_t block_len;
    uint8_t flags;
} Output;

static void output_cv(const Output *o, uint32_t cv[8]) {
    uint32_t out[16];
    compress(o->cv, o->block, o->counter, o->block_len, o->flags, out);
    memcpy(cv, out, 32);
}

static void parent(const uint32_t left[8], const uint32_t right[8], Output *o) {
    memcpy(o->cv, IV, sizeof IV);
    memcpy(o->block, left, 32);
    memcpy(o->block + 8, right, 32);
    o->counter = 0;
    o->block_len = BLOCK_LEN;
    o->flags = PARENT;
}

typedef struct {
    PyObject_HEAD
    uint64_t offset;          /* absolute number of the subtree's first chunk */
    uint64_t chunk;           /* absolute number of the chunk being filled */
    uint32_t cv[8];           /* the chunk's running chaining value */
    uint8_t buf[BLOCK_LEN];   /* the block being filled */
    uint8_t buf_len;
    uint8_t blocks_done;      /* blocks of this chunk already compressed */
    uint8_t stack_len;
    uint32_t stack[MAX_DEPTH][8]; /* chaining values of completed left subtrees */
    uint64_t total;           /* bytes hashed */
} Subtree;

static inline size_t chunk_len(const Subtree *t) {
    return (size_t)t->blocks_done * BLOCK_LEN + t->buf_len;
}

static void chunk_output(const Subtree *t, Output *o) {
    memcpy(o->cv, t->cv, 32);
    uint8_t padded[BLOCK_LEN] = {0};
    memcpy(padded, t->buf, t->buf_len);
    words_from_bytes(padded, o->block, 16);
    o->counter = t->chunk;
    o->block_len = t->buf_len;
    o->flags = (t->blocks_done == 0 ? CHUNK_START : 0) | CHUNK_END;
}

static void push_chunk(Subtree *t) {
    /* The filled chunk becomes a chaining value; merge completed pairs (relative count). */
    Output o;
    uint32_t cv[8];
    chunk_output(t, &o);
    output_cv(&o, cv);
    uint64_t done = t->chunk - t->offset + 1;
    while ((done & 1) == 0) {
        parent(t->stack[--t->stack_len], cv, &o);
        output_cv(&o, cv);
        done >>= 1;
    }
    memcpy(t->stack[t->stack_len++], cv, 32);
    t->chunk++;
    memcpy(t->cv, IV, sizeof IV);
    t->buf_len = 0;
    t->blocks_done = 0;
}

#ifdef HAVE_X86
/* Eight whole chunks at once, one per 32-bit lane of AVX2 registers (the layout the official
   implementations use): the same compression function, eight times in parallel. */
#define ROT16(x) _mm256_shuffle_epi8((x), rot16)
#define ROT8(x) _mm256_shuffle_epi8((x), rot8)
#define ROTR(x, c) _mm256_or_si256(_mm256_srli_epi32((x), (c)), _mm256_slli_epi32((x), 32 - (c)))
#define G8(a, b, c, d, x, y)                                                  \
    do {                                                                      \
        v[a] = _mm256_add_epi32(_mm256_add_epi32(v[a], v[b]), (x));           \
        v[d] = ROT16(_mm256_xor_si256(v[d], v[a]));                           \
        v[c] = _mm256_add_epi32(v[c], v[d]);                                  \
        v[b] = ROTR(_mm256_xor_si256(v[b], v[c]), 12);                        \
        v[a] = _mm256_add_epi32(_mm256_add_epi32(v[a], v[b]), (y));           \
        v[d] = ROT8(_mm256_xor_si256(v[d], v[a]));                            \
        v[c] = _mm256_add_epi32(v[c], v[d]);                                  \
        v[b] = ROTR(_mm256_xor_si256(v[b], v[c]), 7);                         \
    } while (0)

__attribute__((target("avx2"))) static inline void transpose8(__m256i r[8]) {
    /* r[j] holds eight words of chunk j; afterwards r[i] holds word i of every chunk. */
    __m256i a0 = _mm256_unpacklo_epi32(r[0], r[1]), a1 = _mm256_unpackhi_epi32(r[0], r[1]);
    __m256i a2 = _mm256_unpacklo_epi32(r[2], r[3]), a3 = _mm256_unpackhi_epi32(r[2], r[3]);
    __m256i a4 = _mm256_unpacklo_epi32(r[4], r[5]), a5 = _mm256_unpackhi_epi32(r[4], r[5]);
    __m256i a6 = _mm256_unpacklo_epi32(r[6], r[7]), a7 = _mm256_unpackhi_epi32(r[6], r[7]);
    __m256i b0 = _mm256_unpacklo_epi64(a0, a2), b1 = _mm256_unpackhi_epi64(a0, a2);
    __m256i b2 = _mm256_unpacklo_epi64(a1, a3), b3 = _mm256_unpackhi_epi64(a1, a3);
    __m256i b4 = _mm256_unpacklo_epi64(a4, a6), b5 = _mm256_unpackhi_epi64(a4, a6);
    __m256i b6 = _mm256_unpacklo_epi64(a5, a7), b7 = _mm256_unpackhi_epi64(a5, a7);
    r[0] = _mm256_permute2x128_si256(b0, b4, 0x20);
    r[4] = _mm256_permute2x128_si256(b0, b4, 0x31);
    r[1] = _mm256_permute2x128_si256(b1, b5, 0x20);
    r[5] = _mm256_permute2x128_si256(b1, b5, 0x31);
    r[2] = _mm256_permute2x128_si256(b2, b6, 0x20);
    r[6] = _mm256_permute2x128_si256(b2, b6, 0x31);
    r[3] = _mm256_permute2x128_si256(b3, b7, 0x20);
    r[7] = _mm256_permute2x128_si256(b3, b7, 0x31);
}

__attribute__((target("avx2"))) static void hash8_avx2(const uint8_t *input, uint64_t counter,
                                                         uint32_t cvs[8][8]) {
    const __m256i rot16 = _mm256_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13,
                                           2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
    const __m256i rot8 = _mm256_setr_epi8(1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12,
                                          1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12);
    __m256i h[8], v[16], m[16], t[16];
    for (int i = 0; i < 8; i++) h[i] = _mm256_set1_epi32((int)IV[i]);
    uint32_t lo[8], hi[8];
    for (int j = 0; j < 8; j++) {
        lo[j] = (uint32_t)(counter + (uint64_t)j);
        hi[j] = (uint32_t)((counter + (uint64_t)j) >> 32);
    }
    const __m256i counter_lo = _mm256_loadu_si256((const __m256i *)lo);
    const __m256i counter_hi = _mm256_loadu_si256((const __m256i *)hi);
    for (int b = 0; b < CHUNK_LEN / BLOCK_LEN; b++) {
        for (int half = 0; half < 2; half++) {
            for (int j = 0; j < 8; j++)
                m[8 * half + j] = _mm256_loadu_si256(
                    (const __m256i *)(input + j * CHUNK_LEN + b * BLOCK_LEN + 32 * half));
            transpose8(m + 8 * half);
        }
        uint32_t flags = (b == 0 ? CHUNK_START : 0) | (b == 15 ? CHUNK_END : 0);
        for (int i = 0; i < 8; i++) v[i] = h[i];
        for (int i = 0; i < 4; i++) v[8 + i] = _mm256_set1_epi32((int)IV[i]);
        v[12] = counter_lo;
        v[13] = counter_hi;
        v[14] = _mm256_set1_epi32(BLOCK_LEN);
        v[15] = _mm256_set1_epi32((int)flags);
        for (int round = 0; round < 7; round++) {
            G8(0, 4, 8, 12, m[0], m[1]);
            G8(1, 5, 9, 13, m[2], m[3]);
            G8(2, 6, 10, 14, m[4], m[5]);
            G8(3, 7, 11, 15, m[6], m[7]);
            G8(0, 5, 10, 15, m[8], m[9]);
            G8(1, 6, 11, 12, m[10], m[11]);
            G8(2, 7, 8, 13, m[12], m[13]);
            G8(3, 4, 9, 14, m[14], m[15]);
            if (round < 6) {
                for (int i = 0; i < 16; i++) t[i] = m[PERMUTATION[i]];
                memcpy(m, t, sizeof m);
            }
        }
        for (int i = 0; i < 8; i++) h[i] = _mm256_xor_si256(v[i], v[i + 8]);
    }
    uint32_t words[8][8];
    for (int i = 0; i < 8; i++) _mm256_storeu_si256((__m256i *)words[i], h[i]);
    for (int j = 0; j < 8; j++)
        for (int i = 0; i < 8; i++) cvs[j][i] = words[i][j];
}

static int have_avx2(void) {
    static int known = -1;
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return known;
}
#endif

static void push_cv(Subtree *t, uint32_t cv_in[8], uint64_t done) {
    Output o;
    uint32_t cv[8];
    memcpy(cv, cv_in, 32);
    while ((done & 1) == 0) {
        parent(t->stack[--t->stack_len], cv, &o);
        output_cv(&o, cv);
        done >>= 1;
    }
    memcpy(t->stack[t->stack_len++], cv, 32);
}

static void subtree_update(Subtree *t, const uint8_t *p, size_t n) {
    t->total += n;
    while (n > 0) {
#ifdef HAVE_X86
        /* At a chunk boundary with more than eight chunks to go: eight at once. Strictly more,
           so the subtree's last chunk is never finished here (it may be the root). */
        if (chunk_len(t) == CHUNK_LEN && t->buf_len == BLOCK_LEN) push_chunk(t);
        while (chunk_len(t) == 0 && n > 8 * CHUNK_LEN && have_avx2()) {
            uint32_t cvs[8][8];
            hash8_avx2(p, t->chunk, cvs);
            for (int j = 0; j < 8; j++) {
                push_cv(t, cvs[j], t->chunk - t->offset + 1);
                t->chunk++;
            }
            p += 8 * CHUNK_LEN;
            n -= 8 * CHUNK_LEN;
        }
#endif
        if (chunk_len(t) == CHUNK_LEN) push_chunk(t); /* only once more input exists */
        if (t->buf_len == BLOCK_LEN) {
            uint32_t block[16], out[16];
            words_from_bytes(t->buf, block, 16);
            compress(t->cv, block, t->chunk, BLOCK_LEN,
                     t->blocks_done == 0 ? CHUNK_START : 0, out);
            memcpy(t->cv, out, 32);
            t->blocks_done++;
            t->buf_len = 0;
        }
        /* Whole blocks straight from the input, keeping the last one buffered. */
        while (t->buf_len == 0 && n > BLOCK_LEN && chunk_len(t) + BLOCK_LEN < CHUNK_LEN) {
            uint32_t block[16], out[16];
            words_from_bytes(p, block, 16);
            compress(t->cv, block, t->chunk, BLOCK_LEN,
                     t->blocks_done == 0 ? CHUNK_START : 0, out);
            memcpy(t->cv, out, 32);
            t->blocks_done++;
            p += BLOCK_LEN;
            n -= BLOCK_LEN;
        }
        size_t room = BLOCK_LEN - t->buf_len;
        size_t take = n < room ? n : room;
        memcpy(t->buf + t->buf_len, p, take);
        t->buf_len += (uint8_t)take;
        p += take;
        n -= take;
    }
}

static void subtree_output(const Subtree *t, Output *o) {
    chunk_output(t, o);
    for (int i = t->stack_len - 1; i >= 0; i--) {
        uint32_t cv[8];
        output_cv(o, cv);
        parent(t->stack[i], cv, o);
    }
}

static void output_to_bytes(const Output *o, uint8_t *b) {
    for (int i = 0; i < 8; i++) store32(b + 4 * i, o->cv[i]);
    for (int i = 0; i < 16; i++) store32(b + 32 + 4 * i, o->block[i]);
    for (int i = 0; i < 8; i++) b[96 + i] = (uint8_t)(o->counter >> (8 * i));
    b[104] = o->block_len;
    b[105] = o->flags;
}

static int output_from_object(PyObject *obj, Output *o) {
    Py_buffer view;
    if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE) < 0) return -1;
    if (view.len != OUTPUT_LEN) {
        PyBuffer_Release(&view);
        PyErr_Format(PyExc_ValueError, "a subtree output is %d bytes", OUTPUT_LEN);
        return -1;
    }
    const uint8_t *b = view.buf;
    words_from_bytes(b, o->cv, 8);
    words_from_bytes(b + 32, o->block, 16);
    o->counter = 0;
    for (int i = 0; i < 8; i++) o->counter |= (uint64_t)b[96 + i] << (8 * i);
    o->block_len = b[104];
    o->flags = b[105];
    PyBuffer_Release(&view);
    return 0;
}

static PyObject *cv_bytes(const uint32_t cv[8]) {
    uint8_t out[32];
    for (int i = 0; i < 8; i++) store32(out + 4 * i, cv[i]);
    return PyBytes_FromStringAndSize((const char *)out, 32);
}

/* -- the Python type -------------------------------------------------------------------- */

static int Subtree_init(Subtree *self, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"chunk_offset", NULL};
    unsigned long long offset = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|K", names, &offset)) return -1;
    self->offset = offset;
    self->chunk = offset;
    memcpy(self->cv, IV, sizeof IV);
    self->buf_len = 0;
    self->blocks_done = 0;
    self->stack_len = 0;
    self->total = 0;
    return 0;
}

static PyObject *Subtree_update(Subtree *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    if (view.len >= RELEASE_GIL_BYTES) {
        /* The caller must not update one Subtree from two threads at once (the proxy never
           does: one request, one hasher). */
        Py_BEGIN_ALLOW_THREADS
        subtree_update(self, view.buf, (size_t)view.len);
        Py_END_ALLOW_THREADS
    } else {
        subtree_update(self, view.buf, (size_t)view.len);
    }
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

static PyObject *Subtree_output(Subtree *self, PyObject *Py_UNUSED(ignored)) {
    Output o;
    uint8_t b[OUTPUT_LEN];
    subtree_output(self, &o);
    output_to_bytes(&o, b);
    return PyBytes_FromStringAndSize((const char *)b, OUTPUT_LEN);
}

static PyObject *Subtree_get_total(Subtree *self, void *Py_UNUSED(closure)) {
    return PyLong_FromUnsignedLongLong(self->total);
}

static PyMethodDef Subtree_methods[] = {
    {"update", (PyCFunction)Subtree_update, METH_O, "Hash more bytes of the subtree."},
    {"output", (PyCFunction)Subtree_output, METH_NOARGS,
     "The subtree's final node, to finish as an inner node or as the root."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Subtree_getset[] = {
    {"total", (getter)Subtree_get_total, NULL, "Bytes hashed so far.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject SubtreeType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "roar.hashing._b3tree.Subtree",
    .tp_basicsize = sizeof(Subtree),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "BLAKE3 of a run of chunks numbered from chunk_offset (a subtree).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Subtree_init,
    .tp_methods = Subtree_methods,
    .tp_getset = Subtree_getset,
};

static PyObject *chaining_value(PyObject *Py_UNUSED(module), PyObject *arg) {
    Output o;
    uint32_t cv[8];
    if (output_from_object(arg, &o) < 0) return NULL;
    output_cv(&o, cv);
    return cv_bytes(cv);
}

static PyObject *root_hash(PyObject *Py_UNUSED(module), PyObject *arg) {
    Output o;
    uint32_t out[16];
    if (output_from_object(arg, &o) < 0) return NULL;
    compress(o.cv, o.block, 0, o.block_len, o.flags | ROOT, out);
    return cv_bytes(out);
}

static PyObject *parent_output(PyObject *Py_UNUSED(module), PyObject *args) {
    Py_buffer left, right;
    if (!PyArg_ParseTuple(args, "y*y*", &left, &right)) return NULL;
    if (left.len != 32 || right.len != 32) {
        PyBuffer_Release(&left);
        PyBuffer_Release(&right);
        PyErr_SetString(PyExc_ValueError, "chaining values are 32 bytes");
        return NULL;
    }
    uint32_t l[8], r[8];
    words_from_bytes(left.buf, l, 8);
    words_from_bytes(right.buf, r, 8);
    PyBuffer_Release(&left);
    PyBuffer_Release(&right);
    Output o;
    uint8_t b[OUTPUT_LEN];
    parent(l, r, &o);
    output_to_bytes(&o, b);
    return PyBytes_FromStringAndSize((const char *)b, OUTPUT_LEN);
}

/* -- small files, read and hashed without the GIL ------------------------------------------ */

#define READ_LEN (64 * 1024)
#define SMALL_CHANGED (-1) /* the file changed while it was read */
#define SMALL_TOO_BIG (-2) /* limit bytes or more: the caller hashes it */

typedef struct {
    int status; /* 0, an errno, SMALL_CHANGED or SMALL_TOO_BIG */
    struct stat st; /* before reading */
    uint8_t digest[32];
} SmallFile;

static int same_key(const struct stat *a, const struct stat *b) {
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* What digest_file does (roar/hashing/_digest.py), blake3 only: the stat key from the open
   descriptor before and after reading to the end, a directory refused as open() refuses it. */
static void hash_small_file(const char *path, long long limit, uint8_t *buf, SmallFile *r) {
    int fd;
    do {
        fd = open(path, O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        r->status = errno;
        return;
    }
    struct stat after;
    Subtree t;
    r->status = 0;
    if (fstat(fd, &r->st) < 0) {
        r->status = errno;
    } else if (S_ISDIR(r->st.st_mode)) {
        r->status = EISDIR;
    } else if (r->st.st_size >= limit) {
        r->status = SMALL_TOO_BIG;
    } else {
        t.offset = t.chunk = 0;
        memcpy(t.cv, IV, sizeof IV);
        t.buf_len = t.blocks_done = t.stack_len = 0;
        t.total = 0;
        for (;;) {
            ssize_t n = read(fd, buf, READ_LEN);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) r->status = errno;
            if (n <= 0) break;
            subtree_update(&t, buf, (size_t)n);
        }
        if (r->status == 0 && fstat(fd, &after) < 0) r->status = errno;
    }
    close(fd);
    if (r->status != 0) return;
    if (!same_key(&r->st, &after)) {
        r->status = SMALL_CHANGED;
        return;
    }
    Output o;
    uint32_t out[16];
    subtree_output(&t, &o);
    compress(o.cv, o.block, 0, o.block_len, o.flags | ROOT, out);
    for (int i = 0; i < 8; i++) store32(r->digest + 4 * i, out[i]);
}

static PyObject *time_ns(const struct timespec *ts) {
    /* As os.stat_result's st_*_ns: seconds * 10**9 + nanoseconds, exact at any size. */
    if (ts->tv_sec > -9000000000LL && ts->tv_sec < 9000000000LL)
        return PyLong_FromLongLong((long long)ts->tv_sec * 1000000000LL + ts->tv_nsec);
    PyObject *sec = PyLong_FromLongLong((long long)ts->tv_sec);
    PyObject *giga = PyLong_FromLong(1000000000L);
    PyObject *nsec = PyLong_FromLong(ts->tv_nsec);
    PyObject *scaled = sec && giga ? PyNumber_Multiply(sec, giga) : NULL;
    PyObject *sum = scaled && nsec ? PyNumber_Add(scaled, nsec) : NULL;
    Py_XDECREF(sec);
    Py_XDECREF(giga);
    Py_XDECREF(nsec);
    Py_XDECREF(scaled);
    return sum;
}

static PyObject *small_result(const SmallFile *r) {
    if (r->status == SMALL_CHANGED) Py_RETURN_NONE;
    if (r->status == SMALL_TOO_BIG) Py_RETURN_FALSE;
    if (r->status != 0) return PyLong_FromLong(r->status);
    return Py_BuildValue("(NNNNNy#)", PyLong_FromUnsignedLongLong((unsigned long long)r->st.st_dev),
                         PyLong_FromUnsignedLongLong((unsigned long long)r->st.st_ino),
                         PyLong_FromLongLong((long long)r->st.st_size), time_ns(&r->st.st_mtim),
                         time_ns(&r->st.st_ctim), (const char *)r->digest, (Py_ssize_t)32);
}

static PyObject *digest_small_files(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *given;
    long long limit;
    if (!PyArg_ParseTuple(args, "OL", &given, &limit)) return NULL;
    /* A tuple of our own: the bytes objects stay alive while the GIL is released. */
    PyObject *paths = PySequence_Tuple(given);
    if (paths == NULL) return NULL;
    Py_ssize_t count = PyTuple_GET_SIZE(paths);
    const char **names = PyMem_Calloc((size_t)count + 1, sizeof *names);
    SmallFile *results = PyMem_Calloc((size_t)count + 1, sizeof *results);
    uint8_t *buf = PyMem_Malloc(READ_LEN);
    PyObject *list = NULL;
    if (names == NULL || results == NULL || buf == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PyTuple_GET_ITEM(paths, i);
        if (!PyBytes_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "paths must be bytes");
            goto done;
        }
        names[i] = PyBytes_AS_STRING(item);
        if (strlen(names[i]) != (size_t)PyBytes_GET_SIZE(item)) {
            PyErr_SetString(PyExc_ValueError, "embedded null byte");
            goto done;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < count; i++) hash_small_file(names[i], limit, buf, &results[i]);
    Py_END_ALLOW_THREADS
    list = PyList_New(count);
    if (list == NULL) goto done;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *one = small_result(&results[i]);
        if (one == NULL) {
            Py_CLEAR(list);
            goto done;
        }
        PyList_SET_ITEM(list, i, one);
    }
done:
    PyMem_Free(names);
    PyMem_Free(results);
    PyMem_Free(buf);
    Py_DECREF(paths);
    return list;
}

static PyMethodDef module_methods[] = {
    {"digest_small_files", digest_small_files, METH_VARARGS,
     "Stat key and BLAKE3 digest of each file, read without the GIL (see the top of the file)."},
    {"chaining_value", chaining_value, METH_O, "The output finished as an inner node."},
    {"root_hash", root_hash, METH_O, "The output finished as the root: the BLAKE3 digest."},
    {"parent_output", parent_output, METH_VARARGS, "The parent node of two chaining values."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "roar.hashing._b3tree", "BLAKE3 subtrees.", -1, module_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__b3tree(void) {
    if (PyType_Ready(&SubtreeType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&SubtreeType);
    if (PyModule_AddObject(m, "Subtree", (PyObject *)&SubtreeType) < 0) {
        Py_DECREF(&SubtreeType);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "CHUNK_LEN", CHUNK_LEN);
    return m;
}
