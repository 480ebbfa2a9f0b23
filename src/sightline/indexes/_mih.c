/*
 * _mih: exact Hamming range search over 256-bit codes by multi-index hashing (MIH).
 *
 * Why this is hand-written C: the product needs *exact* radius-31 lookups over ~10 M PDQ
 * hashes at thousands of single queries a second, with cheap incremental adds and removal.
 * Measured on the 2-core build host at 10 M clustered codes, FAISS's exhaustive
 * IndexBinaryFlat takes ~20 ms a query and its IndexBinaryMultiHash ~30 ms (hash-map buckets,
 * a visited set, no prefetching) with 3 GB resident; graph and IVF indexes (HNSW, usearch)
 * are approximate. No available library offers exact radius search this fast at this size.
 * The structure is small enough to own, and its whole cost is fetching candidate codes from
 * memory (~11 ns each on that host even when prefetched), which is what this file minimises.
 *
 * Layout. Codes are stored contiguously, 4 x uint64 (one 32-byte, cache-line-aligned slot) per
 * position, beside an int64 caller id and an alive flag per position. A position is never
 * reused until compaction. Positions [0, merged) are indexed by T tables, one per chunk of the
 * code (T chunks of 256/T bits, the first 256 % T one bit wider); each table is CSR:
 * 2^width + 1 uint32 bucket offsets into a uint32 array of positions. Positions [merged, n)
 * are the "delta": recently added codes, scanned linearly, so an add is matchable as soon as
 * add() returns. When the delta reaches the merge threshold it is merged into the tables in
 * place (an O(n) memmove per table, no re-read of old codes).
 *
 * Exactness (pigeonhole). If d(q, c) <= r, the differing bits fall into T chunks with
 * sum_t d_t <= r. If every chunk had d_t > f_t then sum_t (f_t + 1) <= r; so whenever the
 * flips f_t satisfy sum_t (f_t + 1) > r, some chunk t has d_t <= f_t, and probing in each
 * table t every bucket within f_t bit flips of the query's chunk finds c. Per radius, the
 * cheapest such f_t in {0, 1, 2} are chosen (layout_flips): T = 16 tables of 16 bits need no
 * flips up to r = 15 and one flip in r - 15 tables above (272 buckets at r = 31); T = 12
 * tables of 21-22 bits use two flips in 8 tables and one in 4 at r = 31 (~2,000 buckets,
 * ~10k candidates at 10 M codes instead of ~41k). Radii above MAX_RADIUS = 31 are refused.
 *
 * Layout by size (tables_for). Wider chunks mean fewer candidates but 2^width offsets per
 * table (16 MiB at 22 bits) and more buckets to probe. Measured single-query rates on
 * clustered codes: at 1 M, 15k/s with 16 tables, 19k/s with 14; at 5 M, 3.7k/s (16),
 * 5.4k/s (14), 10k/s (12); at 10 M, 1.9k/s (16) and 6k/s (12). So 16 tables below 1 M codes,
 * 14 from 1 M, 12 from 4 M (where the fixed 128 MiB of offsets is ~32 bytes a code). A merge
 * that crosses a size rebuilds the tables in the wider layout; a compaction may narrow it.
 *
 * Duplicates without a hash set. A code can sit in probed buckets of several tables. It is
 * reported only from the first table t whose probe covers it: a candidate found in table t is
 * dropped if some earlier table u < t has chunk distance d_u <= f_u (table u found it).
 * This is checked only for candidates within the radius, from the XOR already computed.
 *
 * Removal and replacement set the alive flag to 0 (a tombstone); dead positions stay in the
 * tables until more than a quarter of the positions are dead, then everything is compacted
 * and rebuilt. Ids map to their live position through an open-addressing hash table of
 * uint32 positions (the key is read from the id array), so there is no object per hash.
 *
 * Speed. A query lists its probe keys, looks their offsets up with a software prefetch a few
 * probes ahead, prefetches the start of every non-empty bucket's run, then walks the
 * candidates prefetching each code PREFETCH_AHEAD candidates ahead, so the random fetches
 * overlap instead of stalling one by one. Large arrays are 2 MiB-aligned and
 * madvise(MADV_HUGEPAGE)d on Linux so random fetches do not also miss the TLB.
 *
 * Concurrency. Searches run without the GIL under a shared pthread read lock; updates run
 * without the GIL under the write lock, so concurrent callers are safe, only serialised.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#define CODE_BYTES 32
#define CODE_WORDS 4
#define MIN_TABLES 12 /* chunks of at most 22 bits: offsets tables stay <= 16 MiB each */
#define MAX_TABLES 16
#define MAX_FLIPS 2
#define MAX_RADIUS 31 /* PDQ's threshold; 12 tables x (2 + 1) flips - 1 = 35 would allow more */
#define MAX_PROBES 3072 /* >= 12 * (1 + 22 + 231): every 2-flip probe of the widest layout */
#ifndef PREFETCH_AHEAD
#define PREFETCH_AHEAD 24
#endif
#define PART_BITS 8 /* first-level parts of a full build (chunks are >= 16 bits wide) */
#define LAYOUT_14_FROM 1000000u
#define LAYOUT_12_FROM 4000000u
#define EMPTY UINT32_MAX
#define MAX_POSITIONS (UINT32_MAX - 1u)
#define COMPACT_MIN_DEAD 1024u
#define HUGE_PAGE ((size_t)2 << 20)

/* ------------------------------------------------------------------ memory */

typedef struct {
    void *p;
    size_t bytes; /* capacity, as allocated */
} Array;

static size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

/* Zero-filled; large blocks are 2 MiB-aligned anonymous maps advised to use huge pages. */
static void *mem_alloc(size_t bytes)
{
#ifdef __linux__
    if (bytes >= HUGE_PAGE) {
        size_t want = round_up(bytes, HUGE_PAGE), len = want + HUGE_PAGE;
        char *raw = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (raw == MAP_FAILED)
            return NULL;
        char *p = (char *)round_up((uintptr_t)raw, HUGE_PAGE);
        if (p > raw)
            munmap(raw, (size_t)(p - raw));
        if (raw + len > p + want)
            munmap(p + want, (size_t)(raw + len - (p + want)));
        madvise(p, want, MADV_HUGEPAGE);
        return p;
    }
#endif
    return calloc(1, bytes ? bytes : 1);
}

static void mem_free(void *p, size_t bytes)
{
    (void)bytes; /* only the mapped (Linux) path needs the size */
    if (p == NULL)
        return;
#ifdef __linux__
    if (bytes >= HUGE_PAGE) {
        munmap(p, round_up(bytes, HUGE_PAGE));
        return;
    }
#endif
    free(p);
}

static void array_free(Array *a)
{
    mem_free(a->p, a->bytes);
    a->p = NULL;
    a->bytes = 0;
}

/* Grow to hold need bytes (keeping used bytes) with a quarter to spare, and by at least half
 * again, so appends after a bulk load do not copy at once. Untouched capacity of a large
 * (mapped) block is not resident. -1 if out of memory. */
static int array_reserve(Array *a, size_t need, size_t used)
{
    if (need <= a->bytes && a->p != NULL)
        return 0;
    size_t bytes = need + need / 4 > a->bytes + a->bytes / 2 ? need + need / 4
                                                              : a->bytes + a->bytes / 2;
    void *p = mem_alloc(bytes);
    if (p == NULL)
        return -1;
    if (used)
        memcpy(p, a->p, used);
    mem_free(a->p, a->bytes);
    a->p = p;
    a->bytes = bytes;
    return 0;
}

/* ------------------------------------------------------------------ layout */

/* How the 256 bits are cut into tables, and which flips each radius probes in each table. */
typedef struct {
    int tables;
    int start[MAX_TABLES], width[MAX_TABLES];
    uint8_t flips[MAX_RADIUS + 1][MAX_TABLES];
} Layout;

/* Cut the code into m tables of 256/m bits (the first 256 % m one bit wider). */
static void layout_shape(Layout *L, int m)
{
    int start = 0;
    L->tables = m;
    for (int t = 0; t < m; t++) {
        L->start[t] = start;
        L->width[t] = CODE_BYTES * 8 / m + (t < CODE_BYTES * 8 % m);
        start += L->width[t];
    }
}

static double probes_within(int width, int flips)
{
    return 1.0 + (flips >= 1 ? width : 0) + (flips >= 2 ? width * (width - 1) / 2.0 : 0);
}

/* Per radius, the cheapest flips with sum_t (flips_t + 1) > r (the pigeonhole condition):
 * each probe costs a bucket lookup plus the n / 2^width codes expected in the bucket. */
static void layout_flips(Layout *L, uint32_t n)
{
    memset(L->flips, 0, sizeof L->flips);
    for (int r = L->tables; r <= MAX_RADIUS; r++) {
        uint8_t *f = L->flips[r];
        for (int unit = 0; unit < r - L->tables + 1; unit++) {
            int best = -1;
            double best_cost = 0;
            for (int t = 0; t < L->tables; t++) {
                if (f[t] >= MAX_FLIPS)
                    continue;
                double per_probe = 1.0 + (double)n / (double)(1u << L->width[t]);
                double cost = per_probe * (probes_within(L->width[t], f[t] + 1) -
                                           probes_within(L->width[t], f[t]));
                if (best < 0 || cost < best_cost) {
                    best = t;
                    best_cost = cost;
                }
            }
            f[best]++;
        }
    }
}

static inline uint32_t chunk_of(const Layout *L, const uint64_t *code, int t)
{
    int word = L->start[t] >> 6, shift = L->start[t] & 63, width = L->width[t];
    uint64_t v = code[word] >> shift;
    if (shift + width > 64)
        v |= code[word + 1] << (64 - shift);
    return (uint32_t)(v & ((1ull << width) - 1));
}

/* ------------------------------------------------------------------ the index object */

typedef struct {
    PyObject_HEAD
    pthread_rwlock_t lock;
    Array codes;  /* uint64_t[4] per position */
    Array ids;    /* int64_t per position */
    Array alive;  /* uint8_t per position */
    Array map;    /* uint32_t positions, open addressing keyed by ids[pos] */
    Array offsets[MAX_TABLES];   /* uint32_t[2^width + 1] */
    Array positions[MAX_TABLES]; /* uint32_t[merged] */
    Layout layout;
    uint64_t map_slots, map_used;
    uint32_t n, merged, dead, threshold;
    int forced_tables; /* 0: choose the layout by size */
} Core;

#define CODES(c) ((uint64_t *)(c)->codes.p)
#define IDS(c) ((int64_t *)(c)->ids.p)
#define ALIVE(c) ((uint8_t *)(c)->alive.p)
#define MAP(c) ((uint32_t *)(c)->map.p)
#define OFFSETS(c, t) ((uint32_t *)(c)->offsets[t].p)
#define POSITIONS(c, t) ((uint32_t *)(c)->positions[t].p)

static inline int distance(const uint64_t *a, const uint64_t *b)
{
    return __builtin_popcountll(a[0] ^ b[0]) + __builtin_popcountll(a[1] ^ b[1]) +
           __builtin_popcountll(a[2] ^ b[2]) + __builtin_popcountll(a[3] ^ b[3]);
}

static inline uint64_t mix(int64_t id)
{
    uint64_t x = (uint64_t)id;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

/* Fewer, wider tables once buckets of 16-bit chunks grow long (see LAYOUT_*). */
static int tables_for(const Core *c, uint32_t n)
{
    if (c->forced_tables)
        return c->forced_tables;
    return n >= LAYOUT_12_FROM ? 12 : n >= LAYOUT_14_FROM ? 14 : 16;
}

/* ------------------------------------------------------------------ id -> position map */

/* The slot holding id, or the empty slot where it would go. */
static uint64_t map_find(Core *c, int64_t id)
{
    uint64_t mask = c->map_slots - 1, s = mix(id) & mask;
    uint32_t *map = MAP(c);
    while (map[s] != EMPTY && IDS(c)[map[s]] != id)
        s = (s + 1) & mask;
    return s;
}

/* An empty map with room for want entries at <= 70% load (p is NULL if out of memory). */
static Array map_alloc(uint64_t want)
{
    uint64_t slots = 1024;
    while (10 * want > 7 * slots)
        slots *= 2;
    Array fresh = {mem_alloc(slots * sizeof(uint32_t)), slots * sizeof(uint32_t)};
    if (fresh.p != NULL)
        memset(fresh.p, 0xff, fresh.bytes);
    return fresh;
}

/* Replace the map by fresh (from map_alloc) holding every live position. */
static void map_fill(Core *c, Array fresh)
{
    array_free(&c->map);
    c->map = fresh;
    c->map_slots = fresh.bytes / sizeof(uint32_t);
    c->map_used = 0;
    for (uint32_t p = 0; p < c->n; p++) {
        if (ALIVE(c)[p]) {
            MAP(c)[map_find(c, IDS(c)[p])] = p;
            c->map_used++;
        }
    }
}

/* Linear-probing deletion by backward shift: no tombstones in the map. */
static void map_delete(Core *c, uint64_t hole)
{
    uint64_t mask = c->map_slots - 1, j = hole;
    uint32_t *map = MAP(c);
    for (;;) {
        j = (j + 1) & mask;
        if (map[j] == EMPTY)
            break;
        uint64_t home = mix(IDS(c)[map[j]]) & mask;
        /* Entry j may fill the hole unless its home lies cyclically in (hole, j]. */
        int stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            map[hole] = map[j];
            hole = j;
        }
    }
    map[hole] = EMPTY;
    c->map_used--;
}

/* ------------------------------------------------------------------ building the tables */

static void drop_tables(Core *c)
{
    for (int t = 0; t < MAX_TABLES; t++) {
        array_free(&c->offsets[t]);
        array_free(&c->positions[t]);
    }
    c->merged = 0;
}

/* Insert positions [old, total) into table t in place: shift each old bucket right by the
 * delta entries sorted before it, last bucket first so no run is overwritten before it
 * moves, then drop each delta position into the gap left at its bucket's end. */
static void merge_table(Core *c, int t, uint32_t old, uint32_t total, uint32_t *count)
{
    const Layout *L = &c->layout;
    const uint64_t *codes = CODES(c);
    uint32_t *off = OFFSETS(c, t), *pos = POSITIONS(c, t), buckets = 1u << L->width[t];
    memset(count, 0, buckets * sizeof(uint32_t));
    for (uint32_t p = old; p < total; p++)
        count[chunk_of(L, codes + (size_t)p * CODE_WORDS, t)]++;
    uint32_t shift = total - old, hi = off[buckets];
    off[buckets] = total;
    for (int64_t b = (int64_t)buckets - 1; b >= 0; b--) {
        uint32_t lo = off[b], len = hi - lo;
        shift -= count[b];
        if (shift && len)
            memmove(pos + lo + shift, pos + lo, (size_t)len * sizeof(uint32_t));
        off[b] = lo + shift;
        count[b] = lo + shift + len; /* where this bucket's delta entries go */
        hi = lo;
    }
    for (uint32_t p = old; p < total; p++)
        pos[count[chunk_of(L, codes + (size_t)p * CODE_WORDS, t)]++] = p;
}

/* Build table t over positions [0, n) from scratch: a two-level counting sort, first by the
 * key's top PART_BITS bits (a few sequential write streams), then each part by its low bits
 * within L2-sized slices. A one-level sort would scatter every position to a random place in
 * a table larger than the caches: ~2x slower at 10 M codes. scratch: 2n entries. */
static int build_table(Core *c, int t, uint32_t *count, uint32_t *scratch)
{
    const Layout *L = &c->layout;
    const uint64_t *codes = CODES(c);
    uint32_t *off = OFFSETS(c, t), *pos = POSITIONS(c, t), n = c->n;
    int low = L->width[t] - PART_BITS;
    uint32_t mask = (1u << low) - 1, start[(1u << PART_BITS) + 1] = {0}, largest = 0;
    uint32_t *keys = scratch, *by_position = scratch + n; /* read the codes only once */
    for (uint32_t p = 0; p < n; p++) {
        by_position[p] = chunk_of(L, codes + (size_t)p * CODE_WORDS, t);
        start[(by_position[p] >> low) + 1]++;
    }
    for (uint32_t i = 0; i < 1u << PART_BITS; i++) {
        largest = start[i + 1] > largest ? start[i + 1] : largest;
        start[i + 1] += start[i];
        count[i] = start[i];
    }
    for (uint32_t p = 0; p < n; p++) {
        uint32_t key = by_position[p], at = count[key >> low]++;
        pos[at] = p;
        keys[at] = key;
    }
    uint32_t *moving = malloc((size_t)(largest ? largest : 1) * sizeof(uint32_t));
    if (moving == NULL)
        return -1;
    for (uint32_t i = 0; i < 1u << PART_BITS; i++) {
        uint32_t lo = start[i], hi = start[i + 1], *part_off = off + ((size_t)i << low);
        memset(count, 0, ((size_t)mask + 1) * sizeof(uint32_t));
        for (uint32_t j = lo; j < hi; j++)
            count[keys[j] & mask]++;
        for (uint32_t b = 0, at = lo; b <= mask; b++) {
            part_off[b] = at;
            at += count[b];
            count[b] = part_off[b];
        }
        memcpy(moving, pos + lo, (size_t)(hi - lo) * sizeof(uint32_t));
        for (uint32_t j = lo; j < hi; j++)
            pos[count[keys[j] & mask]++] = moving[j - lo];
    }
    off[(size_t)1 << L->width[t]] = n;
    free(moving);
    return 0;
}

/* Merge positions [merged, n) into every table; a full build when there are no tables yet
 * or the collection outgrew the layout. -1 if out of memory (tables unchanged or dropped,
 * results stay exact since dropped tables put every position back in the delta). */
static int merge_delta(Core *c)
{
    int tables = tables_for(c, c->n);
    if (c->merged == 0 || tables < c->layout.tables)
        drop_tables(c); /* no tables, or a stale layout */
    if (c->merged == c->n)
        return 0;
    if (c->merged == 0)
        layout_shape(&c->layout, tables);
    Layout *L = &c->layout;
    size_t widest = 0;
    for (int t = 0; t < L->tables; t++) {
        size_t buckets = (size_t)1 << L->width[t];
        widest = buckets > widest ? buckets : widest;
        if (c->offsets[t].p == NULL) {
            c->offsets[t].p = mem_alloc((buckets + 1) * sizeof(uint32_t));
            if (c->offsets[t].p == NULL)
                return -1;
            c->offsets[t].bytes = (buckets + 1) * sizeof(uint32_t);
        }
        size_t need = (size_t)c->n * sizeof(uint32_t), used = (size_t)c->merged * 4;
        if (array_reserve(&c->positions[t], need, used) < 0)
            return -1;
    }
    uint32_t *count = malloc(widest * sizeof(uint32_t));
    if (count == NULL)
        return -1;
    int status = 0;
    if (c->merged) { /* cannot fail from here */
        for (int t = 0; t < L->tables; t++)
            merge_table(c, t, c->merged, c->n, count);
    } else {
        Array keys = {mem_alloc((size_t)c->n * 2 * sizeof(uint32_t)), (size_t)c->n * 8};
        status = keys.p == NULL ? -1 : 0;
        for (int t = 0; t < L->tables && status == 0; t++)
            status = build_table(c, t, count, keys.p);
        array_free(&keys);
    }
    free(count);
    if (status < 0)
        return -1; /* merged is still 0: the half-built tables are never read */
    c->merged = c->n;
    layout_flips(L, c->n);
    return 0;
}

/* Drop dead positions, renumber, rebuild the map and the tables. Out of memory: no change. */
static void compact(Core *c)
{
    Array map = map_alloc(c->n - c->dead);
    if (map.p == NULL)
        return;
    uint64_t *codes = CODES(c);
    int64_t *ids = IDS(c);
    uint8_t *alive = ALIVE(c);
    uint32_t live = 0;
    for (uint32_t p = 0; p < c->n; p++) {
        if (!alive[p])
            continue;
        memmove(codes + (size_t)live * CODE_WORDS, codes + (size_t)p * CODE_WORDS, CODE_BYTES);
        ids[live] = ids[p];
        alive[live++] = 1;
    }
    memset(alive + live, 0, c->n - live);
    c->n = live;
    c->dead = 0;
    drop_tables(c);
    map_fill(c, map);
    if (live >= c->threshold)
        merge_delta(c);
}

/* After an update: compact when over a quarter is dead, else merge a full delta. Running out
 * of memory here is not an error: the index stays exact, only slower (retried later). */
static void maintain(Core *c)
{
    uint32_t limit = c->n / 4 > COMPACT_MIN_DEAD ? c->n / 4 : COMPACT_MIN_DEAD;
    if (c->dead > limit)
        compact(c);
    else if (c->n - c->merged >= c->threshold)
        merge_delta(c);
}

/* ------------------------------------------------------------------ updates */

static int add_codes(Core *c, const char *ids, const char *codes, uint32_t k)
{
    size_t n = c->n;
    if (array_reserve(&c->codes, (n + k) * CODE_BYTES, n * CODE_BYTES) < 0 ||
        array_reserve(&c->ids, (n + k) * sizeof(int64_t), n * sizeof(int64_t)) < 0 ||
        array_reserve(&c->alive, n + k, n) < 0)
        return -1;
    if (10 * (c->map_used + k) > 8 * c->map_slots) {
        Array map = map_alloc(c->map_used + k);
        if (map.p == NULL)
            return -1;
        map_fill(c, map);
    }
    for (uint32_t i = 0; i < k; i++) {
        int64_t id;
        memcpy(&id, ids + (size_t)i * sizeof(int64_t), sizeof id);
        uint32_t p = c->n;
        memcpy(CODES(c) + (size_t)p * CODE_WORDS, codes + (size_t)i * CODE_BYTES, CODE_BYTES);
        IDS(c)[p] = id;
        ALIVE(c)[p] = 1;
        uint64_t s = map_find(c, id);
        if (MAP(c)[s] != EMPTY) { /* replacement: tombstone the old code */
            ALIVE(c)[MAP(c)[s]] = 0;
            c->dead++;
        } else {
            c->map_used++;
        }
        MAP(c)[s] = p;
        c->n++;
    }
    maintain(c);
    return 0;
}

static uint32_t remove_ids(Core *c, const char *ids, size_t k)
{
    uint32_t removed = 0;
    if (c->map.p == NULL)
        return 0;
    for (size_t i = 0; i < k; i++) {
        int64_t id;
        memcpy(&id, ids + i * sizeof(int64_t), sizeof id);
        uint64_t s = map_find(c, id);
        if (MAP(c)[s] == EMPTY)
            continue;
        ALIVE(c)[MAP(c)[s]] = 0;
        map_delete(c, s);
        c->dead++;
        removed++;
    }
    return removed;
}

/* ------------------------------------------------------------------ search */

typedef struct {
    int64_t *ids;
    int32_t *dists;
    size_t len, cap;
} Hits;

static int hits_push(Hits *h, int64_t id, int32_t d)
{
    if (h->len == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 256;
        int64_t *ids = realloc(h->ids, cap * sizeof(int64_t));
        if (ids != NULL)
            h->ids = ids;
        int32_t *dists = realloc(h->dists, cap * sizeof(int32_t));
        if (dists != NULL)
            h->dists = dists;
        if (ids == NULL || dists == NULL)
            return -1;
        h->cap = cap;
    }
    h->ids[h->len] = id;
    h->dists[h->len++] = d;
    return 0;
}

/* Insertion sort of ids[0..n) with their distances by (distance, id): the quickest for the
 * short runs that most queries return. */
static void insertion_sort_hits(int64_t *ids, int32_t *dists, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        int64_t id = ids[i];
        int32_t d = dists[i];
        size_t j = i;
        while (j > 0 && (dists[j - 1] > d || (dists[j - 1] == d && ids[j - 1] > id))) {
            ids[j] = ids[j - 1];
            dists[j] = dists[j - 1];
            j--;
        }
        ids[j] = id;
        dists[j] = d;
    }
}

static int compare_ids(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Short result lists (the common case) take an insertion sort. */
#define SORT_INSERTION_MAX 32

/* Sort one query's hits, h[from..len), by (distance, id), in O(n log n) whatever their number.
 *
 * This runs under the read lock, so a quadratic sort of one broad query (40,000 hits took
 * 740 ms) stalled every other reader. Distances lie in 0..MAX_RADIUS, so a counting sort
 * places the ids by distance in one stable pass, and each distance's ids are then sorted with
 * qsort. Returns -1 when the temporary copy of the ids cannot be allocated. */
static int sort_hits(Hits *h, size_t from)
{
    size_t n = h->len - from;
    int64_t *ids = h->ids + from;
    int32_t *dists = h->dists + from;
    if (n <= SORT_INSERTION_MAX) {
        insertion_sort_hits(ids, dists, n);
        return 0;
    }
    size_t start[MAX_RADIUS + 2] = {0}; /* start[d]: first slot of distance d */
    for (size_t i = 0; i < n; i++)
        start[dists[i] + 1]++;
    for (int d = 1; d <= MAX_RADIUS + 1; d++)
        start[d] += start[d - 1];
    int64_t *sorted = malloc(n * sizeof(int64_t));
    if (sorted == NULL)
        return -1;
    size_t next[MAX_RADIUS + 1];
    memcpy(next, start, sizeof next);
    for (size_t i = 0; i < n; i++)
        sorted[next[dists[i]]++] = ids[i];
    memcpy(ids, sorted, n * sizeof(int64_t));
    free(sorted);
    for (int d = 0; d <= MAX_RADIUS; d++) {
        size_t lo = start[d], hi = start[d + 1];
        for (size_t i = lo; i < hi; i++)
            dists[i] = d;
        if (hi - lo > 1)
            qsort(ids + lo, hi - lo, sizeof(int64_t), compare_ids);
    }
    return 0;
}

/* Per-call scratch: the buckets one query probes, and the non-empty runs they point to. */
typedef struct {
    uint32_t key;
    int table;
} Probe;

typedef struct {
    uint32_t lo, hi;
    int table;
} Run;

typedef struct {
    Probe probes[MAX_PROBES];
    Run runs[MAX_PROBES];
} Scratch;

/* Every bucket within the radius's flips of the query's chunk, table by table. */
static int list_probes(const Layout *L, const uint64_t *q, const uint8_t *flips, Probe *out)
{
    int np = 0;
    for (int t = 0; t < L->tables; t++) {
        uint32_t key = chunk_of(L, q, t);
        int w = L->width[t];
        out[np++] = (Probe){key, t};
        for (int i = 0; i < w && flips[t] >= 1; i++) {
            out[np++] = (Probe){key ^ (1u << i), t};
            for (int j = 0; j < i && flips[t] >= 2; j++)
                out[np++] = (Probe){key ^ (1u << i) ^ (1u << j), t};
        }
    }
    return np;
}

/* Look the probes' buckets up (offsets prefetched PREFETCH_AHEAD probes ahead); keep the
 * non-empty runs and prefetch the start of each. */
static int find_runs(Core *c, const Probe *probes, int np, Run *runs)
{
    int nr = 0;
    for (int i = 0; i < np; i++) {
        if (i + PREFETCH_AHEAD < np) {
            const Probe *ahead = probes + i + PREFETCH_AHEAD;
            __builtin_prefetch(OFFSETS(c, ahead->table) + ahead->key);
        }
        const uint32_t *off = OFFSETS(c, probes[i].table) + probes[i].key;
        if (off[1] > off[0]) {
            runs[nr] = (Run){off[0], off[1], probes[i].table};
            __builtin_prefetch(POSITIONS(c, probes[i].table) + off[0]);
            nr++;
        }
    }
    return nr;
}

/* True when an earlier table's probe also covers this code (it was reported there). */
static inline int seen_earlier(const Layout *L, const uint64_t *x, int table, const uint8_t *f)
{
    for (int u = 0; u < table; u++) {
        if (__builtin_popcount(chunk_of(L, x, u)) <= f[u])
            return 1;
    }
    return 0;
}

static int report(Core *c, Hits *h, uint32_t p, int d)
{
    return ALIVE(c)[p] ? hits_push(h, IDS(c)[p], d) : 0;
}

/* Walks the runs' positions ahead of the scan, prefetching each candidate's code. */
typedef struct {
    const Run *runs;
    const uint32_t *pos;
    int r, nr;
    uint32_t j;
} Cursor;

static inline void prefetch_next(Core *c, Cursor *k)
{
    if (k->r >= k->nr)
        return;
    __builtin_prefetch(CODES(c) + (size_t)k->pos[k->j] * CODE_WORDS);
    if (++k->j >= k->runs[k->r].hi && ++k->r < k->nr) {
        k->j = k->runs[k->r].lo;
        k->pos = POSITIONS(c, k->runs[k->r].table);
    }
}

static int search_tables(Core *c, const uint64_t *q, int radius, Hits *h, Scratch *s)
{
    const Layout *L = &c->layout;
    const uint8_t *flips = L->flips[radius];
    int nr = find_runs(c, s->probes, list_probes(L, q, flips, s->probes), s->runs);
    if (nr == 0)
        return 0;
    const Run *runs = s->runs;
    Cursor ahead = {runs, POSITIONS(c, runs[0].table), 0, nr, runs[0].lo};
    for (int i = 0; i < PREFETCH_AHEAD; i++)
        prefetch_next(c, &ahead);
    const uint64_t *codes = CODES(c);
    for (int r = 0; r < nr; r++) {
        const uint32_t *pos = POSITIONS(c, runs[r].table);
        for (uint32_t j = runs[r].lo; j < runs[r].hi; j++) {
            prefetch_next(c, &ahead);
            uint32_t p = pos[j];
            const uint64_t *code = codes + (size_t)p * CODE_WORDS;
            int d = distance(code, q);
            if (d > radius)
                continue;
            uint64_t x[CODE_WORDS] = {code[0] ^ q[0], code[1] ^ q[1], code[2] ^ q[2],
                                      code[3] ^ q[3]};
            if (!seen_earlier(L, x, runs[r].table, flips) && report(c, h, p, d) < 0)
                return -1;
        }
    }
    return 0;
}

static int search_one(Core *c, const uint64_t *q, int radius, Hits *h, Scratch *s)
{
    size_t from = h->len;
    if (c->merged && search_tables(c, q, radius, h, s) < 0)
        return -1;
    const uint64_t *codes = CODES(c);
    for (uint32_t p = c->merged; p < c->n; p++) {
        int d = distance(codes + (size_t)p * CODE_WORDS, q);
        if (d <= radius && report(c, h, p, d) < 0)
            return -1;
    }
    return sort_hits(h, from);
}

/* ------------------------------------------------------------------ Python bindings */

/* Run the statements with the GIL released and the lock held (never the other way round). */
#define LOCKED(c, lockfn, ...)                                                                   \
    do {                                                                                         \
        Py_BEGIN_ALLOW_THREADS lockfn(&(c)->lock);                                               \
        __VA_ARGS__;                                                                             \
        pthread_rwlock_unlock(&(c)->lock);                                                       \
        Py_END_ALLOW_THREADS                                                                     \
    } while (0)

static PyObject *Core_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"merge_threshold", "tables", NULL};
    Py_ssize_t threshold;
    int tables = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "n|$i", keywords, &threshold, &tables))
        return NULL;
    if (tables && (tables < MIN_TABLES || tables > MAX_TABLES)) {
        PyErr_Format(PyExc_ValueError, "tables must be 0 (by size) or %d..%d; got %d",
                     MIN_TABLES, MAX_TABLES, tables);
        return NULL;
    }
    if (threshold < 1 || threshold > (Py_ssize_t)MAX_POSITIONS) {
        PyErr_Format(PyExc_ValueError, "merge_threshold must be between 1 and %u; got %zd",
                     MAX_POSITIONS, threshold);
        return NULL;
    }
    Core *c = (Core *)type->tp_alloc(type, 0); /* zero-filled */
    if (c == NULL)
        return NULL;
    pthread_rwlockattr_t attr;
    int failed = pthread_rwlockattr_init(&attr);
#ifdef __GLIBC__ /* glibc prefers readers by default: a stream of searches would starve adds */
    failed = failed ||
             pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    failed = failed || pthread_rwlock_init(&c->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (failed) {
        Py_TYPE(c)->tp_free((PyObject *)c); /* not Py_DECREF: there is no lock to destroy */
        return PyErr_NoMemory();
    }
    c->threshold = (uint32_t)threshold;
    c->forced_tables = tables;
    return (PyObject *)c;
}

static void Core_dealloc(Core *c)
{
    array_free(&c->codes);
    array_free(&c->ids);
    array_free(&c->alive);
    array_free(&c->map);
    drop_tables(c);
    pthread_rwlock_destroy(&c->lock);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static PyObject *Core_add(Core *c, PyObject *args)
{
    Py_buffer ids, codes;
    if (!PyArg_ParseTuple(args, "y*y*", &ids, &codes))
        return NULL;
    Py_ssize_t k = ids.len / (Py_ssize_t)sizeof(int64_t);
    int status = 0;
    if (ids.len % (Py_ssize_t)sizeof(int64_t) || codes.len != k * CODE_BYTES) {
        PyErr_SetString(PyExc_ValueError, "add() needs 8 bytes per id and 32 bytes per code");
        status = -2;
    } else if (k > 0) {
        LOCKED(c, pthread_rwlock_wrlock,
               status = (uint64_t)c->n + (uint64_t)k > MAX_POSITIONS
                            ? -3
                            : add_codes(c, ids.buf, codes.buf, (uint32_t)k));
    }
    PyBuffer_Release(&ids);
    PyBuffer_Release(&codes);
    if (status == -1)
        return PyErr_NoMemory();
    if (status == -3)
        PyErr_Format(PyExc_OverflowError, "an index holds at most %u positions", MAX_POSITIONS);
    return status < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *Core_remove(Core *c, PyObject *args)
{
    Py_buffer ids;
    if (!PyArg_ParseTuple(args, "y*", &ids))
        return NULL;
    if (ids.len % (Py_ssize_t)sizeof(int64_t)) {
        PyBuffer_Release(&ids);
        PyErr_SetString(PyExc_ValueError, "remove() needs 8 bytes per id");
        return NULL;
    }
    uint32_t removed = 0;
    LOCKED(c, pthread_rwlock_wrlock, {
        removed = remove_ids(c, ids.buf, (size_t)ids.len / sizeof(int64_t));
        maintain(c);
    });
    PyBuffer_Release(&ids);
    return PyLong_FromUnsignedLong(removed);
}

static PyObject *Core_search(Core *c, PyObject *args)
{
    Py_buffer queries;
    int radius;
    if (!PyArg_ParseTuple(args, "y*i", &queries, &radius))
        return NULL;
    if (queries.len % CODE_BYTES || radius < 0 || radius > MAX_RADIUS) {
        PyBuffer_Release(&queries);
        PyErr_Format(PyExc_ValueError, "search() needs 32-byte queries and radius 0..%d; got %d",
                     MAX_RADIUS, radius);
        return NULL;
    }
    Py_ssize_t nq = queries.len / CODE_BYTES;
    PyObject *lims = PyBytes_FromStringAndSize(NULL, (nq + 1) * (Py_ssize_t)sizeof(int64_t));
    if (lims == NULL) {
        PyBuffer_Release(&queries);
        return NULL;
    }
    int64_t *bounds = (int64_t *)PyBytes_AS_STRING(lims);
    Hits h = {NULL, NULL, 0, 0};
    Scratch *scratch = PyMem_RawMalloc(sizeof(Scratch));
    int status = scratch == NULL ? -1 : 0;
    bounds[0] = 0;
    LOCKED(c, pthread_rwlock_rdlock, {
        for (Py_ssize_t i = 0; i < nq && status == 0; i++) {
            uint64_t q[CODE_WORDS];
            memcpy(q, (const char *)queries.buf + i * CODE_BYTES, CODE_BYTES);
            status = search_one(c, q, radius, &h, scratch);
            bounds[i + 1] = (int64_t)h.len;
        }
    });
    PyMem_RawFree(scratch);
    PyBuffer_Release(&queries);
    PyObject *result = NULL;
    if (status < 0) {
        PyErr_NoMemory();
    } else {
        static const char none[1] = {0}; /* y# turns a NULL pointer into None */
        result = Py_BuildValue("Ny#y#", Py_NewRef(lims), h.len ? (const char *)h.ids : none,
                               (Py_ssize_t)(h.len * sizeof(int64_t)),
                               h.len ? (const char *)h.dists : none,
                               (Py_ssize_t)(h.len * sizeof(int32_t)));
    }
    Py_DECREF(lims);
    free(h.ids);
    free(h.dists);
    return result;
}

static PyObject *Core_merge(Core *c, PyObject *Py_UNUSED(ignored))
{
    int status;
    LOCKED(c, pthread_rwlock_wrlock, status = merge_delta(c));
    return status < 0 ? PyErr_NoMemory() : Py_NewRef(Py_None);
}

/* Copy the live entries out. The bytes are allocated with the GIL before taking the lock (the
 * lock is never requested while holding the GIL, nor the GIL while holding the lock, so the
 * two cannot deadlock); if an update changed the count in between, try again. */
static PyObject *Core_export(Core *c, PyObject *Py_UNUSED(ignored))
{
    for (;;) {
        Py_ssize_t live = (Py_ssize_t)(c->n - c->dead); /* read racily, checked below */
        PyObject *ids = PyBytes_FromStringAndSize(NULL, live * (Py_ssize_t)sizeof(int64_t));
        PyObject *codes = ids ? PyBytes_FromStringAndSize(NULL, live * CODE_BYTES) : NULL;
        if (codes == NULL) {
            Py_XDECREF(ids);
            return NULL;
        }
        char *id_out = PyBytes_AS_STRING(ids), *code_out = PyBytes_AS_STRING(codes);
        int same = 0;
        LOCKED(c, pthread_rwlock_rdlock, {
            same = (Py_ssize_t)(c->n - c->dead) == live;
            for (uint32_t p = 0, j = 0; same && p < c->n; p++) {
                if (!ALIVE(c)[p])
                    continue;
                memcpy(id_out + (size_t)j * sizeof(int64_t), IDS(c) + p, sizeof(int64_t));
                memcpy(code_out + (size_t)j++ * CODE_BYTES, CODES(c) + (size_t)p * CODE_WORDS,
                       CODE_BYTES);
            }
        });
        if (same)
            return Py_BuildValue("NN", ids, codes);
        Py_DECREF(ids);
        Py_DECREF(codes);
    }
}

static PyObject *Core_stats(Core *c, PyObject *Py_UNUSED(ignored))
{
    uint32_t n, merged, dead;
    int tables;
    size_t bytes;
    LOCKED(c, pthread_rwlock_rdlock, {
        n = c->n;
        merged = c->merged;
        dead = c->dead;
        tables = merged ? c->layout.tables : 0;
        bytes = c->codes.bytes + c->ids.bytes + c->alive.bytes + c->map.bytes;
        for (int t = 0; t < MAX_TABLES; t++)
            bytes += c->offsets[t].bytes + c->positions[t].bytes;
    });
    return Py_BuildValue("{s:I,s:I,s:I,s:I,s:I,s:i,s:n}", "positions", n, "live", n - dead,
                         "merged", merged, "delta", n - merged, "dead", dead, "tables", tables,
                         "allocated_bytes", (Py_ssize_t)bytes);
}

static Py_ssize_t Core_len(Core *c) { return (Py_ssize_t)(c->n - c->dead); }

static PyMethodDef Core_methods[] = {
    {"add", (PyCFunction)Core_add, METH_VARARGS,
     "add(ids, codes): int64 ids and 32-byte codes (buffers); a stored id is replaced."},
    {"remove", (PyCFunction)Core_remove, METH_VARARGS,
     "remove(ids) -> int: tombstone the stored ids among ids (an int64 buffer)."},
    {"search", (PyCFunction)Core_search, METH_VARARGS,
     "search(queries, radius) -> (lims, ids, distances) as int64/int64/int32 bytes;\n"
     "query i's hits, by (distance, id), are [lims[i], lims[i + 1])."},
    {"merge", (PyCFunction)Core_merge, METH_NOARGS, "Merge the delta segment into the tables."},
    {"export", (PyCFunction)Core_export, METH_NOARGS,
     "export() -> (ids, codes): the live entries as int64 and 32-byte code bytes."},
    {"stats", (PyCFunction)Core_stats, METH_NOARGS, "Counts and allocated bytes."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods Core_as_sequence = {.sq_length = (lenfunc)Core_len};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sightline.indexes._mih.Core",
    .tp_doc = "Core(merge_threshold, *, tables=0): exact radius search over 256-bit codes (see module doc).",
    .tp_basicsize = sizeof(Core),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Core_new,
    .tp_dealloc = (destructor)Core_dealloc,
    .tp_methods = Core_methods,
    .tp_as_sequence = &Core_as_sequence,
};

static struct PyModuleDef mih_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "sightline.indexes._mih",
    .m_doc = "Multi-index hashing for exact Hamming range search over 256-bit codes.",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__mih(void)
{
    if (PyType_Ready(&CoreType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&mih_module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Core", (PyObject *)&CoreType) < 0 ||
        PyModule_AddIntConstant(m, "CODE_BYTES", CODE_BYTES) < 0 ||
        PyModule_AddIntConstant(m, "MIN_TABLES", MIN_TABLES) < 0 ||
        PyModule_AddIntConstant(m, "MAX_TABLES", MAX_TABLES) < 0 ||
        PyModule_AddIntConstant(m, "MAX_FLIPS", MAX_FLIPS) < 0 ||
        PyModule_AddIntConstant(m, "MAX_RADIUS", MAX_RADIUS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
