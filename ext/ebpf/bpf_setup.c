/*
 * bpf_setup.c -- see bpf_setup.h.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include "bpf_event.h"
#include "bpf_setup.h"
#include "handlers.h"
#include "log.h"

#define MAX_LINKS 16

struct bpf_tracer {
    struct bpf_object *obj;
    struct ring_buffer *rb;
    struct bpf_link *links[MAX_LINKS];
    int nlinks;
    int traced_fd;
    int lost_fd;
};

/* libbpf's own messages (the verifier log included) only with --verbose: the error we report is
 * one line. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    if (!log_verbose_enabled || level == LIBBPF_DEBUG)
        return 0;
    return vfprintf(stderr, fmt, ap);
}

static void fill_spec(__u32 nr, const struct sc_spec *spec, void *ctx)
{
    int *fd = ctx;
    if (*fd >= 0 && bpf_map_update_elem(*fd, &nr, spec, BPF_ANY) < 0)
        *fd = -errno - 1; /* remembered as an error: -(errno) - 1 */
}

static int on_event(void *ctx, void *data, size_t size)
{
    (void)ctx;
    const struct rb_event *ev = data;
    if (size >= RB_EVENT_FIXED && ev->size <= size)
        handle_event(ev);
    return 0;
}

/*
 * This kernel, as the install wrote it next to the minimal BTF (setup.py, ext/ebpf/Makefile):
 * release, version, machine, and the size of /sys/kernel/btf/vmlinux, a line each.
 */
static int kernel_identity(char *out, size_t size)
{
    struct utsname u;
    struct stat st;
    if (uname(&u) < 0 || stat("/sys/kernel/btf/vmlinux", &st) < 0)
        return -1;
    int n = snprintf(out, size, "%s\n%s\n%s\n%lld\n", u.release, u.version, u.machine,
                     (long long)st.st_size);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/*
 * The types roar.bpf.c relocates against, cut from this kernel's BTF when roar was installed
 * (`bpftool gen min_core_btf`, next to the object: roar-ebpf.min.btf, and its kernel in
 * roar-ebpf.min.btf.kernel).  libbpf otherwise reads and parses all of /sys/kernel/btf/vmlinux
 * (5 MB, in 4 KB reads) on every run: about 20 of the 35 ms a load took here.  Used only while
 * the kernel is the one it was cut from; after a kernel upgrade, the kernel's own BTF again.
 */
static const char *minimal_btf(const char *object, char *out, size_t size)
{
    static const char suffix[] = ".bpf.o";
    size_t n = strlen(object), k = sizeof suffix - 1;
    if (n <= k || strcmp(object + n - k, suffix) != 0 ||
        (size_t)snprintf(out, size, "%.*s.min.btf", (int)(n - k), object) >= size)
        return NULL;
    char sidecar[PATH_MAX + 16], want[1024], have[1024];
    snprintf(sidecar, sizeof sidecar, "%s.kernel", out);
    FILE *f = fopen(sidecar, "re");
    if (!f)
        return NULL;
    size_t got = fread(have, 1, sizeof have - 1, f);
    fclose(f);
    have[got] = '\0';
    if (kernel_identity(want, sizeof want) < 0 || strcmp(want, have) != 0 || access(out, R_OK) < 0)
        return NULL;
    return out;
}

struct bpf_tracer *bpf_tracer_load(const char *path, unsigned long ring_bytes, char *err,
                                   size_t errlen)
{
    libbpf_set_print(libbpf_print);
    struct bpf_tracer *bt = calloc(1, sizeof *bt);
    if (!bt) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    char btf_path[PATH_MAX];
    const char *btf = minimal_btf(path, btf_path, sizeof btf_path);
    VLOG("BTF: %s", btf ? btf : "the kernel's (/sys/kernel/btf/vmlinux)");
    LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = btf);
    bt->obj = bpf_object__open_file(path, &opts);
    if (!bt->obj) {
        snprintf(err, errlen, "cannot open the BPF object %s: %s", path, strerror(errno));
        free(bt);
        return NULL;
    }
    struct bpf_map *events = bpf_object__find_map_by_name(bt->obj, "events");
    struct bpf_map *specs = bpf_object__find_map_by_name(bt->obj, "specs");
    struct bpf_map *traced = bpf_object__find_map_by_name(bt->obj, "traced");
    struct bpf_map *lost = bpf_object__find_map_by_name(bt->obj, "lost");
    if (!events || !specs || !traced || !lost) {
        snprintf(err, errlen, "%s is not roar's BPF object (a map is missing)", path);
        goto fail;
    }
    if (ring_bytes && bpf_map__set_max_entries(events, (__u32)ring_bytes) < 0) {
        snprintf(err, errlen, "ring buffer size %lu: %s", ring_bytes, strerror(errno));
        goto fail;
    }
    if (bpf_object__load(bt->obj) < 0) {
        int e = errno;
        snprintf(err, errlen, "the kernel refused the BPF programs of %s: %s%s", path,
                 strerror(e), e == EPERM ? " (root, or CAP_BPF and CAP_PERFMON, is needed)" : "");
        goto fail;
    }
    int spec_fd = bpf_map__fd(specs);
    handlers_each_spec(fill_spec, &spec_fd);
    if (spec_fd < 0) {
        snprintf(err, errlen, "cannot fill the syscall table: %s", strerror(-spec_fd - 1));
        goto fail;
    }
    bt->traced_fd = bpf_map__fd(traced);
    bt->lost_fd = bpf_map__fd(lost);
    bt->rb = ring_buffer__new(bpf_map__fd(events), on_event, NULL, NULL);
    if (!bt->rb) {
        snprintf(err, errlen, "cannot map the ring buffer: %s", strerror(errno));
        goto fail;
    }
    return bt;
fail:
    bpf_object__close(bt->obj);
    free(bt);
    return NULL;
}

int bpf_tracer_add(struct bpf_tracer *bt, pid_t pid, char *err, size_t errlen)
{
    __u32 key = (__u32)pid;
    __u8 one = 1;
    if (bpf_map_update_elem(bt->traced_fd, &key, &one, BPF_ANY) < 0) {
        snprintf(err, errlen, "cannot add process %d to the traced map: %s", (int)pid,
                 strerror(errno));
        return -1;
    }
    return 0;
}

int bpf_tracer_attach(struct bpf_tracer *bt, char *err, size_t errlen)
{
    struct bpf_program *prog;
    bpf_object__for_each_program(prog, bt->obj)
    {
        if (bt->nlinks == MAX_LINKS) {
            snprintf(err, errlen, "too many BPF programs");
            return -1;
        }
        struct bpf_link *link = bpf_program__attach(prog);
        if (!link) {
            snprintf(err, errlen, "cannot attach %s: %s", bpf_program__name(prog),
                     strerror(errno));
            return -1;
        }
        bt->links[bt->nlinks++] = link;
    }
    return 0;
}

int bpf_tracer_fd(struct bpf_tracer *bt)
{
    return ring_buffer__epoll_fd(bt->rb);
}

int bpf_tracer_consume(struct bpf_tracer *bt)
{
    return ring_buffer__consume(bt->rb);
}

uint64_t bpf_tracer_lost(struct bpf_tracer *bt, unsigned which)
{
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0)
        return 0;
    uint64_t *values = calloc((size_t)ncpu, sizeof *values);
    if (!values)
        return 0;
    __u32 key = which;
    uint64_t sum = 0;
    if (bpf_map_lookup_elem(bt->lost_fd, &key, values) == 0)
        for (int i = 0; i < ncpu; i++)
            sum += values[i];
    free(values);
    return sum;
}

void bpf_tracer_close(struct bpf_tracer *bt)
{
    if (!bt)
        return;
    for (int i = 0; i < bt->nlinks; i++)
        bpf_link__destroy(bt->links[i]);
    ring_buffer__free(bt->rb);
    bpf_object__close(bt->obj);
    free(bt);
}
