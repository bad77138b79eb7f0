/* Marks the measured region for the instruction-count mode (run.py --callgrind).
 *
 * Loaded by worker.py through ctypes and compiled into bench.c. Under
 * `valgrind --tool=callgrind --instr-atstart=no --collect-atstart=no`, the
 * set-up runs uninstrumented (fast); region_start() turns instrumentation and
 * collection on, region_stop() turns them off and dumps the counts of the
 * region as one part file, labelled. Outside valgrind both do nothing. */
#include <valgrind/callgrind.h>

void region_start(void)
{
    CALLGRIND_START_INSTRUMENTATION;
    CALLGRIND_ZERO_STATS;
    CALLGRIND_TOGGLE_COLLECT;
}

void region_stop(const char *label)
{
    CALLGRIND_TOGGLE_COLLECT;
    CALLGRIND_DUMP_STATS_AT(label);
    CALLGRIND_STOP_INSTRUMENTATION;
}
