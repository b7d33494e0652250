/* What one process_vm_readv costs on this machine, by its shape: how many
 * remote iovecs (ranges) and how many pages it touches, back to back (no
 * sleep), against a live process's [heap]. aelm's reader shapes its one read
 * a sample by this (src/python/direct/walk.rs, add_merged): ranges and pages
 * cost, bytes hardly do.
 *
 *   read_cost PID [CALLS]
 *   read_cost PID CALLS ADDR:LEN [ADDR:LEN ...]   (replay one read as given)
 *
 * Prints one line per shape:
 *   ranges R pages P bytes B us X
 * where X is CPU microseconds a call (CLOCK_THREAD_CPUTIME_ID / CALLS).
 * Shapes: R ranges of 256 bytes in one page (R = 1..8); R ranges of 256
 * bytes one page apart (R = 2..4); one range over P pages (P = 2..8).
 * Built and run by bench/sampler_cost.py (section 0); not part of aelm.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/uio.h>

#define PAGE 4096UL

#include "target_heap.h"

static double thread_cpu_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static char buf[8][8 * PAGE];

/* `ranges` ranges of `len` bytes, `stride` apart, from `base`. */
static void shape(int pid, unsigned long base, int ranges, size_t len, unsigned long stride,
                  long calls) {
    struct iovec local[8], remote[8];
    for (int i = 0; i < ranges; i++) {
        local[i].iov_base = buf[i];
        local[i].iov_len = len;
        remote[i].iov_base = (void *)(base + i * stride);
        remote[i].iov_len = len;
    }
    for (long j = 0; j < calls / 10; j++) /* warm up */
        process_vm_readv(pid, local, ranges, remote, ranges, 0);
    double t0 = thread_cpu_us();
    long failed = 0;
    for (long j = 0; j < calls; j++)
        if (process_vm_readv(pid, local, ranges, remote, ranges, 0) < 0) failed++;
    double us = (thread_cpu_us() - t0) / calls;
    unsigned long first = base / PAGE, last = (base + (ranges - 1) * stride + len - 1) / PAGE;
    unsigned long pages = stride >= PAGE ? (unsigned long)ranges * ((len + PAGE - 1) / PAGE)
                                         : last - first + 1;
    printf("ranges %d pages %lu bytes %lu us %.3f%s\n", ranges, pages,
           (unsigned long)ranges * len, us, failed ? " (failed)" : "");
}

/* The read given as ADDR:LEN ranges (say, one of aelm's, from strace),
 * replayed as it is. */
static int replay(int pid, long calls, int n, char **specs) {
    struct iovec local[8], remote[8];
    static char rbuf[8][64 * 1024];
    size_t bytes = 0;
    if (n > 8) n = 8;
    for (int i = 0; i < n; i++) {
        char *colon = strchr(specs[i], ':');
        size_t len = colon ? strtoul(colon + 1, NULL, 0) : 0;
        if (!colon || len == 0 || len > sizeof rbuf[i]) {
            fprintf(stderr, "read_cost: range %s is not ADDR:LEN (LEN <= 64 KiB)\n", specs[i]);
            return 2;
        }
        remote[i].iov_base = (void *)strtoul(specs[i], NULL, 0);
        remote[i].iov_len = len;
        local[i].iov_base = rbuf[i];
        local[i].iov_len = len;
        bytes += len;
    }
    if (process_vm_readv(pid, local, n, remote, n, 0) != (ssize_t)bytes) {
        fprintf(stderr, "read_cost: the ranges cannot be read whole in pid %d\n", pid);
        return 1;
    }
    for (long j = 0; j < calls / 10; j++) /* warm up */
        process_vm_readv(pid, local, n, remote, n, 0);
    double t0 = thread_cpu_us();
    for (long j = 0; j < calls; j++) process_vm_readv(pid, local, n, remote, n, 0);
    printf("replay ranges %d bytes %zu us %.3f\n", n, bytes, (thread_cpu_us() - t0) / calls);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: read_cost PID [CALLS [ADDR:LEN ...]]\n");
        return 2;
    }
    int pid = atoi(argv[1]);
    long calls = argc > 2 ? atol(argv[2]) : 100000;
    if (argc > 3) return replay(pid, calls, argc - 3, argv + 3);
    unsigned long end, base = heap_start(pid, &end);
    if (!base || end - base < 16 * PAGE) {
        fprintf(stderr, "read_cost: no [heap] of 64 KiB in pid %d\n", pid);
        return 1;
    }
    base += PAGE; /* page-aligned, inside the heap */
    for (int r = 1; r <= 8; r++) shape(pid, base, r, 256, 512, calls);
    for (int r = 2; r <= 4; r++) shape(pid, base, r, 256, PAGE, calls);
    for (int p = 2; p <= 8; p *= 2) shape(pid, base, 1, p * PAGE, 0, calls);
    return 0;
}
