/* Marks the measured region for the instruction-count mode (run.py --callgrind).
 *
 * Loaded by worker.py through ctypes and compiled into bench.c. Under
 * `valgrind --tool=callgrind --collect-atstart=no`, region_start() turns
 * collection on and region_stop() turns it off and dumps the counts of the
 * region as one part file, labelled. Outside valgrind both do nothing. */
#include <valgrind/callgrind.h>

void region_start(void)
{
    CALLGRIND_ZERO_STATS;
    CALLGRIND_TOGGLE_COLLECT;
}

void region_stop(const char *label)
{
    CALLGRIND_TOGGLE_COLLECT;
    CALLGRIND_DUMP_STATS_AT(label);
}
