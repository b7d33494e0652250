/* The [heap] mapping of a process, from /proc/PID/maps: where bench/floor.c
 * and bench/read_cost.c read from (resident, in use). */
#ifndef AELM_BENCH_TARGET_HEAP_H
#define AELM_BENCH_TARGET_HEAP_H

#include <stdio.h>
#include <string.h>

/* Start of the [heap] of `pid` (0 if none); its end in *end. */
static unsigned long heap_start(int pid, unsigned long *end) {
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    unsigned long s = 0, e = 0;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "[heap]")) {
            sscanf(line, "%lx-%lx", &s, &e);
            break;
        }
    }
    fclose(f);
    *end = e;
    return s;
}

#endif
