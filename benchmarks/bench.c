/* The C floor of virtsnap's benchmarks: libvirt's snapshot API called directly.
 *
 * Speaks the same line protocol as worker.py (see README.md):
 *   open URI DOMAIN          -> ok
 *   define FILE              -> ok count=N   (REDEFINE one snapshot XML per line)
 *   run WORKLOAD [ARGS...]   -> ok ns=.. cpu=.. count=.. digest=.. [rss=..]
 *   count WORKLOAD [ARGS...] -> as run, with callgrind collecting only the timed part
 *   quit
 * Any libvirt failure prints "error ..." and exits 1.
 *
 * Each workload keeps what it produced as (key, value) string pairs, as the
 * Python contenders keep str objects; the clock stops once every libvirt
 * handle is freed. The digest (sum of CRC-32s of "key\tvalue") is computed
 * after the clock stops and lets run.py check that all contenders agree. */
#define _GNU_SOURCE
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "region.c"

static virConnectPtr conn;
static virDomainPtr dom;
static uint64_t started[2], elapsed[2];   /* wall clock, process CPU time */
static char extra[64];                 /* extra reply fields (memory workload) */
static const char *counting;           /* the workload, while callgrind counts it */

static char **keys, **values;          /* the kept results */
static size_t count, cap;
static size_t counted;                 /* results counted but not kept */

static void quiet(void *data, virErrorPtr err) { (void)data; (void)err; }

static void die(const char *what)
{
    printf("error %s: %s\n", what, virGetLastErrorMessage());
    exit(1);
}

static void *check_alloc(void *p)
{
    if (!p) {
        printf("error out of memory\n");
        exit(1);
    }
    return p;
}

static uint64_t now(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void tic(void)
{
    if (counting)
        region_start();
    started[1] = now(CLOCK_PROCESS_CPUTIME_ID);
    started[0] = now(CLOCK_MONOTONIC);
}

static void toc(void)
{
    elapsed[0] = now(CLOCK_MONOTONIC) - started[0];
    elapsed[1] = now(CLOCK_PROCESS_CPUTIME_ID) - started[1];
    if (counting)
        region_stop(counting);
}

/* Keep a result pair; both strings are malloc'd, value may be NULL. */
static void keep(char *key, char *value)
{
    if (count == cap) {
        cap = cap ? 2 * cap : 1024;
        keys = check_alloc(realloc(keys, cap * sizeof *keys));
        values = check_alloc(realloc(values, cap * sizeof *values));
    }
    keys[count] = key;
    values[count++] = value;
}

static char *name_of(virDomainSnapshotPtr snap)
{
    return check_alloc(strdup(virDomainSnapshotGetName(snap)));
}

static uint32_t crc32(uint32_t crc, const char *s)
{
    crc = ~crc;
    for (; *s; s++) {
        crc ^= (unsigned char)*s;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & -(crc & 1));
    }
    return ~crc;
}

static long rss_bytes(void)
{
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%*d %ld", &pages) != 1)
        pages = 0;
    if (f)
        fclose(f);
    return pages * sysconf(_SC_PAGESIZE);
}

static int list_all(virDomainSnapshotPtr **snaps)
{
    int n = virDomainListAllSnapshots(dom, snaps, 0);
    if (n < 0)
        die("virDomainListAllSnapshots");
    return n;
}

static char **list_names(int *n)
{
    int want = virDomainSnapshotNum(dom, 0);
    if (want < 0)
        die("virDomainSnapshotNum");
    char **names = check_alloc(malloc((want + 1) * sizeof *names));
    if ((*n = virDomainSnapshotListNames(dom, names, want, 0)) < 0)
        die("virDomainSnapshotListNames");
    return names;
}

/* ---------------------------------------------------------------- workloads */

static void run_list(void)
{
    virDomainSnapshotPtr *snaps;
    tic();
    int n = list_all(&snaps);
    for (int i = 0; i < n; i++) {
        keep(name_of(snaps[i]), NULL);
        virDomainSnapshotFree(snaps[i]);
    }
    free(snaps);
    toc();
}

static void run_names(void)
{
    int n;
    tic();
    char **names = list_names(&n);
    for (int i = 0; i < n; i++)
        keep(names[i], NULL);
    free(names);
    toc();
}

static void run_xml(void)
{
    virDomainSnapshotPtr *snaps;
    tic();
    int n = list_all(&snaps);
    for (int i = 0; i < n; i++) {
        char *xml = virDomainSnapshotGetXMLDesc(snaps[i], 0);
        if (!xml)
            die("virDomainSnapshotGetXMLDesc");
        keep(name_of(snaps[i]), xml);
        virDomainSnapshotFree(snaps[i]);
    }
    free(snaps);
    toc();
}

static void run_lookup(void)
{
    int n;
    char **names = list_names(&n);     /* untimed: the names to look up */
    tic();
    for (int i = 0; i < n; i++) {
        virDomainSnapshotPtr snap = virDomainSnapshotLookupByName(dom, names[i], 0);
        if (!snap)
            die("virDomainSnapshotLookupByName");
        keep(name_of(snap), NULL);
        virDomainSnapshotFree(snap);
    }
    toc();
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static void run_parents(void)
{
    virDomainSnapshotPtr *snaps;
    tic();
    int n = list_all(&snaps);
    for (int i = 0; i < n; i++) {
        virDomainSnapshotPtr parent = virDomainSnapshotGetParent(snaps[i], 0);
        if (parent) {
            keep(name_of(snaps[i]), name_of(parent));
            virDomainSnapshotFree(parent);
        } else if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN_SNAPSHOT) {
            keep(name_of(snaps[i]), NULL);   /* a root */
        } else {
            die("virDomainSnapshotGetParent");
        }
        virDomainSnapshotFree(snaps[i]);
    }
    free(snaps);
    toc();
}

static void run_children(void)
{
    virDomainSnapshotPtr *snaps, *kids;
    tic();
    int n = list_all(&snaps);
    for (int i = 0; i < n; i++) {
        int m = virDomainSnapshotListAllChildren(snaps[i], &kids, 0);
        if (m < 0)
            die("virDomainSnapshotListAllChildren");
        for (int j = 0; j < m; j++) {
            keep(name_of(snaps[i]), name_of(kids[j]));
            virDomainSnapshotFree(kids[j]);
        }
        free(kids);
        virDomainSnapshotFree(snaps[i]);
    }
    free(snaps);
    toc();
}

static void run_create(int n, const char *prefix)
{
    char **xmls = check_alloc(calloc(n, sizeof *xmls));
    virDomainSnapshotPtr *snaps = check_alloc(calloc(n, sizeof *snaps));
    for (int i = 0; i < n; i++)        /* untimed: the XML to send */
        if (asprintf(&xmls[i], "<domainsnapshot><name>%s%d</name></domainsnapshot>", prefix, i) < 0)
            check_alloc(NULL);
    tic();
    for (int i = 0; i < n; i++) {
        if (!(snaps[i] = virDomainSnapshotCreateXML(dom, xmls[i], 0)))
            die("virDomainSnapshotCreateXML");
        keep(name_of(snaps[i]), NULL);
    }
    for (int i = n - 1; i >= 0; i--) {
        if (virDomainSnapshotDelete(snaps[i], 0) < 0)
            die("virDomainSnapshotDelete");
        virDomainSnapshotFree(snaps[i]);
    }
    toc();
    for (int i = 0; i < n; i++)
        free(xmls[i]);
    free(xmls);
    free(snaps);
}

/* RSS growth per live handle while `handles` handles are kept (listings of
 * the whole domain, repeated). Counts pairs without keeping names. */
static void run_memory(long handles)
{
    int n = virDomainSnapshotNum(dom, 0);
    if (n < 0)
        die("virDomainSnapshotNum");
    long reps = n ? (handles + n - 1) / n : 1, total = 0;
    virDomainSnapshotPtr **lists = check_alloc(calloc(reps, sizeof *lists));
    int *sizes = check_alloc(calloc(reps, sizeof *sizes));
    malloc_trim(0);
    long rss0 = rss_bytes();
    tic();
    for (long r = 0; r < reps; r++)
        total += sizes[r] = list_all(&lists[r]);
    toc();
    long rss1 = rss_bytes();
    for (long r = 0; r < reps; r++) {
        for (int i = 0; i < sizes[r]; i++)
            virDomainSnapshotFree(lists[r][i]);
        free(lists[r]);
    }
    free(lists);
    free(sizes);
    snprintf(extra, sizeof extra, " rss=%.1f", total ? (double)(rss1 - rss0) / total : 0.0);
    counted = total;                   /* memory: only the count is checked */
}

/* ---------------------------------------------------------------- protocol */

static void define(const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t size = 0;
    long n = 0;
    if (!f) {
        printf("error cannot open %s\n", path);
        exit(1);
    }
    while (getline(&line, &size, f) > 0) {
        virDomainSnapshotPtr snap = virDomainSnapshotCreateXML(
            dom, line, VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE);
        if (!snap)
            die("virDomainSnapshotCreateXML(REDEFINE)");
        virDomainSnapshotFree(snap);
        n++;
    }
    free(line);
    fclose(f);
    printf("ok count=%ld\n", n);
}

static void run(const char *workload, const char *arg1, const char *arg2)
{
    extra[0] = '\0';
    count = counted = 0;
    if (!strcmp(workload, "list")) run_list();
    else if (!strcmp(workload, "names")) run_names();
    else if (!strcmp(workload, "xml")) run_xml();
    else if (!strcmp(workload, "lookup")) run_lookup();
    else if (!strcmp(workload, "parents")) run_parents();
    else if (!strcmp(workload, "children")) run_children();
    else if (!strcmp(workload, "create") && arg2) run_create(atoi(arg1), arg2);
    else if (!strcmp(workload, "memory") && arg1) run_memory(atol(arg1));
    else {
        printf("error unknown workload %s\n", workload);
        exit(1);
    }
    uint64_t digest = 0;
    for (size_t i = 0; i < count; i++) {
        digest += crc32(crc32(crc32(0, keys[i]), "\t"), values[i] ? values[i] : "");
        free(keys[i]);
        free(values[i]);
    }
    printf("ok ns=%llu cpu=%llu count=%zu digest=%llu%s\n", (unsigned long long)elapsed[0],
           (unsigned long long)elapsed[1], count + counted, (unsigned long long)digest, extra);
}

int main(void)
{
    char *line = NULL;
    size_t size = 0;
    virSetErrorFunc(NULL, quiet);
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (getline(&line, &size, stdin) > 0) {
        line[strcspn(line, "\n")] = '\0';
        char *cmd = strtok(line, " "), *a = strtok(NULL, " "), *b = strtok(NULL, " ");
        if (!cmd || !strcmp(cmd, "quit"))
            break;
        if (!strcmp(cmd, "open") && b) {
            if (!(conn = virConnectOpen(a)))
                die("virConnectOpen");
            if (!(dom = virDomainLookupByName(conn, b)))
                die("virDomainLookupByName");
            printf("ok\n");
        } else if (!strcmp(cmd, "define") && a) {
            define(a);
        } else if ((!strcmp(cmd, "run") || !strcmp(cmd, "count")) && a) {
            counting = strcmp(cmd, "count") ? NULL : a;
            run(a, b, strtok(NULL, " "));
            counting = NULL;
        } else {
            printf("error bad command %s\n", cmd);
            return 1;
        }
    }
    free(line);
    if (dom)
        virDomainFree(dom);
    if (conn)
        virConnectClose(conn);
    return 0;
}
