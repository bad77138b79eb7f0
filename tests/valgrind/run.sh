#!/usr/bin/env bash
# Run virtsnap's focused workload (workload.py beside this script) under
# valgrind memcheck, and report every "definitely lost" block and every
# memcheck error whose stack passes through virtsnap's compiled module
# (_snapshot: a frame in _snapshot*.so or a Cython __pyx_ function) before it
# reaches CPython's eval loop (see the awk below).
# Leaks and errors elsewhere (Python's start-up, libvirt's one-time set-up)
# are counted in valgrind's summary but do not fail the run; the worst known
# noise is silenced by python-libvirt.supp.
#
# Usage:  tests/valgrind/run.sh [ROUNDS]        (default 2000; a round is ~20 calls)
# Env:    PYTHON        interpreter that imports virtsnap (default: python3)
#         VALGRIND_LOG  valgrind's log file (default: a new temporary file, kept)
# Exit:   0 nothing through _snapshot; 1 leak or error through _snapshot;
#         2 valgrind or the workload failed.
# PYTHONMALLOC=malloc is set so that every Python allocation goes through
# malloc, where valgrind sees it.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rounds=${1:-2000}
python=${PYTHON:-python3}
log=${VALGRIND_LOG:-$(mktemp /tmp/virtsnap-valgrind.XXXXXX.log)}

command -v valgrind >/dev/null || { echo "valgrind-check: valgrind not installed"; exit 2; }

# libvirt-X.Y.supp beside this script: one-time allocations of that libvirt
# version only (picked by the libvirt the interpreter loads).
suppressions=(--suppressions="$here/python-libvirt.supp")
libvirt=$("$python" -c 'import virtsnap; print("%d.%d" % virtsnap.libvirt_version()[:2])') ||
    { echo "valgrind-check: $python cannot import virtsnap"; exit 2; }
[ ! -f "$here/libvirt-$libvirt.supp" ] || suppressions+=(--suppressions="$here/libvirt-$libvirt.supp")

# -s lists each suppression used, with the blocks it hid (test_leaks checks them).
PYTHONMALLOC=malloc valgrind --tool=memcheck --leak-check=full -s \
    --show-leak-kinds=definite --errors-for-leak-kinds=definite \
    --num-callers=50 "${suppressions[@]}" \
    --log-file="$log" "$python" "$here/workload.py" "$rounds"
status=$?
echo "valgrind-check: rounds=$rounds status=$status log=$log"

# Split the log into records (a record ends at a bare "==PID== " line). A
# leak or error record is virtsnap's when, walking its stack from the
# innermost frame out, a frame of _snapshot (its .so, or a Cython __pyx_
# function) comes before any frame of CPython's eval loop: the bad access or
# the lost allocation happened in C code that virtsnap ran, not in Python
# code that virtsnap's module happened to import or call.
awk '
    function ours(rec,    n, lines, i) {
        n = split(rec, lines, "\n")
        for (i = 2; i <= n; i++) {
            if (lines[i] ~ /_PyEval_EvalFrameDefault/) return 0
            if (lines[i] ~ /(_snapshot[.]cpython|__pyx_)/) return 1
        }
        return 0
    }
    /^==[0-9]+== *$/ {
        if (rec != "" && ours(rec)) {
            if (rec ~ /definitely lost/) leaks++; else errors++
            printf "%s\n", rec
        }
        rec = ""; next
    }
    /^==[0-9]+== (.* are definitely lost|Invalid |Conditional jump|Use of uninitialised|Mismatched free|Syscall param|Source and destination overlap)/ {
        rec = $0; next
    }
    rec != "" { rec = rec "\n" $0 }
    END {
        printf "valgrind-check: through _snapshot: %d definitely-lost records, %d error records\n", leaks, errors
        exit (leaks + errors > 0)
    }
' "$log"
found=$?
grep -E "definitely lost:|indirectly lost:|possibly lost:|ERROR SUMMARY:" "$log" | sed 's/^==[0-9]*== */valgrind-check: /'

if [ "$status" -ne 0 ]; then
    echo "valgrind-check: the workload exited with $status"
    exit 2
fi
exit $found
