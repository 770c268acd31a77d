/*
 * ring.h -- the shared-memory record ring between the preload shim and roar.
 *
 * Why: one sendmsg(2) per record cost every traced process a system call (and roar a recv) per
 * file it opened.  The shim now copies each wire record (ext/events.h) into a ring in a file that
 * roar created and every process of the traced tree maps (MAP_SHARED: a fork child shares it, an
 * exec'd image maps it again); roar drains it in bulk.  The socket stays for what it is good at:
 * knowing when the tree is done (the connection closes with its last process) and waking roar
 * when it sleeps.
 *
 * One ring for the whole tree, not one per process, because the recorder's "the first access
 * decides" rule needs the records of all processes in the order they were made: the order of
 * the claims below is that order, as the single socket queue's was.
 *
 * Layout: a 256-byte control block (struct roar_ring_ctl), then `capacity` bytes of data, a
 * power of two.  Positions (head, tail) grow forever; a position's place in the data is
 * position & (capacity - 1).  Data holds slots, 8-byte aligned, each one 64-bit slot word then
 * the record.  A slot word says the slot's length, its state, the lap it belongs to (position /
 * capacity, low 14 bits) and the pid of its writer.
 *
 * Writing (any number of threads and processes at once, lock-free, signal-handler safe):
 *   1. claim [head, head + len) by moving head with a compare-and-swap (head never repeats, so
 *      a writer that read a stale head simply fails and reads it again);
 *   2. store the slot word as CLAIMED (length, lap, own pid), copy the record, then store the
 *      word as COMMITTED (release).
 * A record that does not fit before the end of the data leaves a PAD slot there and goes to the
 * start.  When the ring is full the writer wakes roar and waits for room (back-pressure, as a full
 * socket did), at most ROAR_RING_WAIT_SECONDS, then gives up and counts the record as lost.
 *
 * Reading (roar, one reader): slots from tail to head, in order.  COMMITTED: the record is
 * complete (its word is stored after its bytes).  PAD: skipped.  CLAIMED: being written; wait,
 * unless its writer is dead (SIGKILLed mid-copy): then the slot is skipped and counted as lost,
 * so a half-written record is never read.  A word still 0 below head belongs to a writer between
 * its two steps; if the whole tree has ended and it is still 0, what lies beyond cannot be
 * delimited and is reported as lost.  Consumed bytes are zeroed before tail moves past them, so
 * a claimed slot's word starts at 0.
 */
#ifndef ROAR_RING_H
#define ROAR_RING_H

#include <stdint.h>

#define ROAR_RING_MAGIC 0x31474e4952524f52ULL /* "RORRING1", little endian */
#define ROAR_RING_DATA_OFFSET 256
#define ROAR_RING_WAIT_SECONDS 30

struct roar_ring_ctl {
    uint64_t magic;
    uint64_t capacity; /* bytes of data: a power of two, at least 8192 */
    uint64_t head __attribute__((aligned(64)));   /* next position to claim */
    uint64_t tail __attribute__((aligned(64)));   /* everything before it is consumed, zeroed */
    uint32_t reader_waiting __attribute__((aligned(64))); /* roar sleeps: wake it */
    /* Bumped by any process of the tree that renamed or removed a directory: the directories
     * each process knows to be free of symlinks (ext/preload/lexical.c) may not be any more.
     * Roar leaves it alone (it starts at 0 with the rest of the file). */
    uint32_t dirs_changed;
    uint64_t given_up; /* records writers dropped after waiting ROAR_RING_WAIT_SECONDS for room */
};

_Static_assert(sizeof(struct roar_ring_ctl) <= ROAR_RING_DATA_OFFSET, "control block too big");

#define ROAR_SLOT_CLAIMED 1u
#define ROAR_SLOT_COMMITTED 2u
#define ROAR_SLOT_PAD 3u
#define ROAR_SLOT_LAP_MASK 0x3fffu

static inline uint64_t roar_slot_word(uint32_t len, unsigned state, uint64_t lap, int32_t pid)
{
    return (uint64_t)(len & 0xffffu) | ((uint64_t)(state & 3u) << 16) |
           ((uint64_t)(lap & ROAR_SLOT_LAP_MASK) << 18) | ((uint64_t)(uint32_t)pid << 32);
}

static inline uint32_t roar_slot_len(uint64_t word) { return (uint32_t)(word & 0xffffu); }
static inline unsigned roar_slot_state(uint64_t word) { return (unsigned)((word >> 16) & 3u); }
static inline uint64_t roar_slot_lap(uint64_t word) { return (word >> 18) & ROAR_SLOT_LAP_MASK; }
static inline int32_t roar_slot_pid(uint64_t word) { return (int32_t)(uint32_t)(word >> 32); }

/* Bytes a record of `size` bytes takes in the ring: its slot word, then it, 8-byte aligned. */
static inline uint64_t roar_slot_size(uint64_t size) { return (8 + size + 7) & ~(uint64_t)7; }

#endif
