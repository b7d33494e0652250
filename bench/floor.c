/* The floor of a periodic sampler on this machine: what one tick costs when
 * it does nothing but sleep to an absolute deadline (clock_nanosleep,
 * TIMER_ABSTIME, as aelm's sampler does) and then one process_vm_readv.
 *
 *   floor PID RATE SECONDS MODE
 *     MODE 0: sleep only
 *     MODE 1: sleep + one process_vm_readv of 512 bytes (one remote iovec)
 *     MODE 2: sleep + one process_vm_readv of 3 remote iovecs in 3 different
 *             pages, 176 + 2432 + 1544 bytes (the shape of aelm's
 *             steady-state read of bench/targets/deep_busy.py on 3.13+, as
 *             strace shows it: thread state, live data-stack region, the
 *             innermost coroutine frames merged into one range; 3.11/3.12
 *             add an 8-byte read of the _PyCFrame)
 *     MODE 3: no sleep: back-to-back MODE 2 reads (the syscall alone)
 *     MODE 4: no sleep: back-to-back MODE 1 reads
 *
 * Reads from the target's [heap] (resident, in use). Prints one line:
 *   ticks N cpu_us_per_tick X achieved_hz Y
 * CPU is getrusage(RUSAGE_SELF) user+sys.  Built by bench/sampler_cost.py
 * with `cc -O2`; not part of aelm.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/uio.h>
#include <sys/resource.h>

#include "target_heap.h"

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: floor PID RATE SECONDS MODE\n");
        return 2;
    }
    int pid = atoi(argv[1]);
    double rate = atof(argv[2]), secs = atof(argv[3]);
    int mode = atoi(argv[4]);
    unsigned long end, base = heap_start(pid, &end);
    if (!base || end - base < 16 * 4096) {
        fprintf(stderr, "floor: no [heap] of 64 KiB in pid %d\n", pid);
        return 1;
    }
    static char buf[3][4096];
    static const size_t lens[3] = {176, 2432, 1544};
    struct iovec local[3], remote[3];
    int n = 0;
    if (mode == 1 || mode == 4) {
        local[0].iov_base = buf[0];
        local[0].iov_len = 512;
        remote[0].iov_base = (void *)(base + 64);
        remote[0].iov_len = 512;
        n = 1;
    } else if (mode == 2 || mode == 3) {
        for (int i = 0; i < 3; i++) {
            local[i].iov_base = buf[i];
            local[i].iov_len = lens[i];
            remote[i].iov_base = (void *)(base + (unsigned long)(i * 2 + 1) * 4096 + 128);
            remote[i].iov_len = lens[i];
        }
        n = 3;
    }
    long interval_ns = (long)(1e9 / rate);
    struct timespec next, t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    next = t0;
    long ticks = 0, want = (long)(rate * secs), failed = 0;
    while (ticks < want) {
        if (n && process_vm_readv(pid, local, n, remote, n, 0) < 0) failed++;
        ticks++;
        if (mode < 3) {
            next.tv_nsec += interval_ns;
            while (next.tv_nsec >= 1000000000L) {
                next.tv_nsec -= 1000000000L;
                next.tv_sec++;
            }
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
                 ru.ru_stime.tv_usec / 1e6;
    double wall = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("ticks %ld cpu_us_per_tick %.3f achieved_hz %.1f failed %ld\n", ticks,
           cpu * 1e6 / ticks, ticks / wall, failed);
    return 0;
}
