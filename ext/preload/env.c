/*
 * env.c -- getenv and secure_getenv: the environment variables a program reads (ENV records).
 *
 * Both are implemented here instead of being forwarded to libc through dlsym: glibc's getenv is
 * exactly this walk over environ, and doing it ourselves means no reentrancy through dlsym and
 * right answers for callers that run before our constructor (other libraries' constructors).
 * secure_getenv differs from getenv only in a secure-execution process (setuid, setgid, file
 * capabilities: AT_SECURE), where the loader does not preload us anyway; it honours AT_SECURE
 * all the same.
 *
 * Reported, as ENV(name, the value the process saw): a lookup of a variable that is set, once per
 * process (the dedupe table, class DEDUPE_ENV).  Not reported: lookups of unset variables
 * (runtimes probe dozens -- CUDA, libc, interpreters -- and an absent variable says little),
 * roar's own variables (ROAR_*) and LD_PRELOAD (roar set or changed them), a name too long to
 * travel whole in a record, and lookups in a vfork child (it runs in its parent's memory, see
 * shim_in_hookless_child).
 *
 * Not seen at all: glibc's own lookups (locale, malloc tunables: they call an internal alias, not
 * the PLT), programs that define their own getenv (bash) or are linked statically, and programs
 * that read environ themselves (Go; Python's os.environ, which roar's sitecustomize probe
 * covers).
 *
 * Hot loops call getenv, so a repeated lookup must stay cheap: besides the walk itself, one hash
 * of the name and a probe of a small per-thread cache of names this process already reported;
 * on a miss, a look in the dedupe table under its mutex.  No syscall unless the name is new.
 */
#define _GNU_SOURCE
#include "shim.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

extern char **environ;

/* The longest name an ENV record carries whole: roar_evt_fit never cuts a part of at most half
 * the room, so only the value can be cut. */
#define ENV_NAME_MAX ((ROAR_EVT_MAX_RECORD - ROAR_EVT_HEADER_SIZE) / 2)

/* Names this thread knows this process has reported, direct-mapped by hash.  A fork child is a
 * new process whose names are new again: the cache belongs to the pid that filled it. */
#define ENV_CACHE 16
struct env_cached {
    uint64_t a, b; /* path_hash128 of the name; a == 0: empty */
};
static __thread struct env_cached env_cache[ENV_CACHE] __attribute__((tls_model("initial-exec")));
static __thread pid_t env_cache_owner __attribute__((tls_model("initial-exec")));

static struct env_cached *env_cache_slot(uint64_t b)
{
    if (env_cache_owner != shim_getpid()) {
        memset(env_cache, 0, sizeof env_cache);
        env_cache_owner = shim_getpid();
    }
    return &env_cache[b & (ENV_CACHE - 1)]; /* by b: a's low bit is always set */
}

/* glibc's getenv: the value of the first "name=" entry of environ.  *len = strlen(name). */
static char *env_lookup(const char *name, size_t *len)
{
    size_t n = strlen(name);
    *len = n;
    char **env = environ;
    if (!env || n == 0)
        return NULL;
    for (; *env; env++) {
        const char *e = *env;
        if (e[0] == name[0] && strncmp(e, name, n) == 0 && e[n] == '=')
            return (char *)e + n + 1;
    }
    return NULL;
}

static int env_excluded(const char *name, size_t n)
{
    return n > ENV_NAME_MAX || strncmp(name, "ROAR_", 5) == 0 || strcmp(name, "LD_PRELOAD") == 0;
}

/* An ENV record for name, the first time this process looks it up. */
static void env_report(const char *name, size_t n, const char *value)
{
    if (!shim_enter())
        return;
    int saved = errno;
    uint64_t a, b;
    path_hash128(name, n, &a, &b);
    struct env_cached *slot = env_cache_slot(b);
    if (slot->a != a || slot->b != b) {
        int known = dedupe_seen(DEDUPE_ENV, name);
        if (!known && !shim_in_hookless_child()) {
            if (dedupe_first(DEDUPE_ENV, name))
                emit(ROAR_EVK_ENV, 0, 0, 0, 0, name, value);
            known = 1;
        }
        if (known) {
            slot->a = a;
            slot->b = b;
        }
    }
    errno = saved;
    shim_leave();
}

static char *env_get(const char *name)
{
    size_t n;
    char *value = env_lookup(name, &n);
    if (value && shim_ready && !env_excluded(name, n))
        env_report(name, n, value);
    return value;
}

SHIM_API char *getenv(const char *name)
{
    return env_get(name);
}

SHIM_API char *secure_getenv(const char *name)
{
    static int secure = -1; /* AT_SECURE, read once */
    int s = __atomic_load_n(&secure, __ATOMIC_RELAXED);
    if (s < 0) {
        int saved = errno;
        s = getauxval(AT_SECURE) != 0;
        errno = saved;
        __atomic_store_n(&secure, s, __ATOMIC_RELAXED);
    }
    return s ? NULL : env_get(name);
}
