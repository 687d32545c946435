/* Compiled primitives of aelab.index: the small inner loops the search ways call (kernels.py).

Each function here is the twin of a numpy function of the same name in kernels.py, which is the
reference and the fallback (a test compares them on random inputs): XOR + popcount scans of a block of
codes against queries (within a radius, or up to each query's k-th distance), probes of a key table for
a batch of keys, and the verification of multi-index candidates. The search ways themselves (scan.py,
hashtable.py, multiindex.py) stay in Python and call these. Arrays arrive through the buffer protocol (no
numpy headers are needed to build); results leave as bytearrays that kernels.py views as arrays.

Bit order, tables and hashing are those of bits.py and segment.py.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
/* one build that uses the popcnt instruction where the CPU has it (almost all x86-64 since 2008) */
#define HOT __attribute__((target_clones("popcnt", "default")))
#define X86_AVX512 1
#include <immintrin.h>
#else
#define HOT
#endif

#define FIB 0x9E3779B97F4A7C15ULL
#define MAX_WORDS 16 /* 1024 bits */

static inline int pc64(uint64_t x) { return __builtin_popcountll(x); }

/* -- growable lists of (int64, int64, int32) ----------------------------------------------------- */

typedef struct {
    int64_t *a, *b;
    int32_t *c;
    Py_ssize_t n, cap;
} Hits;

static int hits_grow(Hits *h) {
    Py_ssize_t cap = h->cap ? 2 * h->cap : 64;
    int64_t *na = realloc(h->a, cap * sizeof(int64_t));
    if (!na) return -1;
    h->a = na;
    int64_t *nb = realloc(h->b, cap * sizeof(int64_t));
    if (!nb) return -1;
    h->b = nb;
    int32_t *nc = realloc(h->c, cap * sizeof(int32_t));
    if (!nc) return -1;
    h->c = nc;
    h->cap = cap;
    return 0;
}

static inline int hits_push(Hits *h, int64_t a, int64_t b, int32_t c) {
    if (h->n == h->cap && hits_grow(h)) return -1;
    h->a[h->n] = a;
    h->b[h->n] = b;
    h->c[h->n] = c;
    h->n++;
    return 0;
}

static void hits_free(Hits *h) {
    free(h->a);
    free(h->b);
    free(h->c);
    memset(h, 0, sizeof(*h));
}

static PyObject *bytes_of(const void *p, Py_ssize_t n) {
    return PyByteArray_FromStringAndSize(n ? (const char *)p : "", n);
}

/* (a, b) or (a, b, c) bytearrays; frees the lists */
static PyObject *hits_result(Hits *h, int three) {
    PyObject *a = bytes_of(h->a, h->n * (Py_ssize_t)sizeof(int64_t));
    PyObject *b = bytes_of(h->b, h->n * (Py_ssize_t)sizeof(int64_t));
    PyObject *c = three ? bytes_of(h->c, h->n * (Py_ssize_t)sizeof(int32_t)) : NULL;
    hits_free(h);
    if (!a || !b || (three && !c)) {
        Py_XDECREF(a);
        Py_XDECREF(b);
        Py_XDECREF(c);
        return NULL;
    }
    return three ? Py_BuildValue("(NNN)", a, b, c) : Py_BuildValue("(NN)", a, b);
}

static PyObject *no_memory(Hits *h) {
    hits_free(h);
    return PyErr_NoMemory();
}

/* -- reading integer arrays whose width is chosen per segment ---------------------------------------- */

static inline uint64_t get_uint(const void *base, int itemsize, Py_ssize_t i) {
    switch (itemsize) {
        case 1: return ((const uint8_t *)base)[i];
        case 2: return ((const uint16_t *)base)[i];
        case 4: return ((const uint32_t *)base)[i];
        default: return ((const uint64_t *)base)[i];
    }
}

static inline uint64_t mix64(uint64_t x) { /* splitmix64's finaliser, as bits._mix */
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

static inline uint64_t code_key(const uint64_t *c, int w) { /* bits.code_keys for one code */
    if (w == 1) return c[0] * FIB;
    uint64_t h = FIB;
    for (int j = 0; j < w; j++) h = mix64(h ^ c[j]);
    return h;
}

static inline uint64_t extract(const uint64_t *c, int start, int width) { /* bits.extract for one code */
    int w = start >> 6, off = start & 63;
    uint64_t out = off ? c[w] >> off : c[w];
    if (off && off + width > 64) out |= c[w + 1] << (64 - off);
    if (width < 64) out &= (1ULL << width) - 1;
    return out;
}

static inline int dist(const uint64_t *a, const uint64_t *b, int w) {
    int d = 0;
    for (int j = 0; j < w; j++) d += pc64(a[j] ^ b[j]);
    return d;
}

static int whole_codes(Py_buffer *a, int w, const char *what) {
    if (w < 1 || w > MAX_WORDS || a->len % (8 * w)) {
        PyErr_Format(PyExc_ValueError, "%s must hold whole codes of 1 to 16 uint64 words", what);
        return -1;
    }
    return 0;
}

/* -- scans: every code against every query ---------------------------------------------------------- */

#define BLOCK 4096 /* codes per block: a block stays in L1 while every query passes over it */

/* A query's state in a nearest scan (counting selection, see scan_nearest). */
typedef struct {
    int64_t k, cnt, *hist;
    int t;
} TopK;

static inline int topk_keep(TopK *st, Hits *out, int64_t qi, Py_ssize_t i, int d) {
    if (hits_push(out, qi, i, d)) return -1;
    st->hist[d]++;
    st->cnt++;
    while (st->t > 0 && st->cnt - st->hist[st->t] >= st->k) st->cnt -= st->hist[st->t--];
    return 0;
}

/* One-word codes s..e against q: every item within the threshold (r, or a nearest scan's falling T). */
HOT static int scan1_scalar(const uint64_t *codes, Py_ssize_t s, Py_ssize_t e, uint64_t q, int r, TopK *st,
                            Hits *out, int64_t qi) {
    for (Py_ssize_t i = s; i < e; i++) {
        int d = pc64(codes[i] ^ q);
        if (d > (st ? st->t : r)) continue;
        if (st ? topk_keep(st, out, qi, i, d) : hits_push(out, qi, i, d)) return -1;
    }
    return 0;
}

#ifdef X86_AVX512
/* The same, eight codes per instruction where AVX-512 has a vector popcount: a compare gives the lanes
   within the threshold, and only those are looked at one by one. */
__attribute__((target("avx512f,avx512vpopcntdq"))) static int scan1_avx512(const uint64_t *codes, Py_ssize_t s,
                                                                            Py_ssize_t e, uint64_t q, int r,
                                                                            TopK *st, Hits *out, int64_t qi) {
    const __m512i vq = _mm512_set1_epi64((long long)q);
    Py_ssize_t i = s;
    for (; i + 16 <= e; i += 16) {
        const __m512i vt = _mm512_set1_epi64(st ? st->t : r);
        __m512i d0 = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512((const void *)(codes + i)), vq));
        __m512i d1 = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512((const void *)(codes + i + 8)), vq));
        unsigned int mask = (unsigned int)_mm512_cmple_epi64_mask(d0, vt) |
                            ((unsigned int)_mm512_cmple_epi64_mask(d1, vt) << 8);
        while (mask) {
            int lane = __builtin_ctz(mask);
            mask &= mask - 1;
            Py_ssize_t p = i + lane;
            int d = pc64(codes[p] ^ q);
            if (d > (st ? st->t : r)) continue; /* T may have fallen since the compare */
            if (st ? topk_keep(st, out, qi, p, d) : hits_push(out, qi, p, d)) return -1;
        }
    }
    return scan1_scalar(codes, i, e, q, r, st, out, qi);
}
#endif

typedef int (*Scan1)(const uint64_t *, Py_ssize_t, Py_ssize_t, uint64_t, int, TopK *, Hits *, int64_t);
static Scan1 scan1 = scan1_scalar; /* set once at import to the fastest this CPU runs */

HOT static int scan_block(const uint64_t *codes, Py_ssize_t s, Py_ssize_t e, int w, const uint64_t *q, int r,
                          TopK *st, Hits *out, int64_t qi) {
    if (w == 1) return scan1(codes, s, e, q[0], r, st, out, qi);
    for (Py_ssize_t i = s; i < e; i++) {
        int d = dist(codes + i * w, q, w);
        if (d > (st ? st->t : r)) continue;
        if (st ? topk_keep(st, out, qi, i, d) : hits_push(out, qi, i, d)) return -1;
    }
    return 0;
}

/* Scans codes block by block, every query over each block; r: keep d <= r; st: per-query top-k state
   (NULL for a radius). Hits (query, position, distance) by query, then position, the top-k ones only up
   to each query's final threshold. */
static PyObject *scan_any(Py_buffer *codes, int w, Py_buffer *queries, int r, int64_t k, int bits) {
    Py_ssize_t n = codes->len / (8 * w), nq = queries->len / (8 * w);
    const uint64_t *c = codes->buf, *qs = queries->buf;
    Hits *outs = calloc(nq ? nq : 1, sizeof(Hits));
    int64_t *hist = k ? calloc((size_t)(nq ? nq : 1) * (bits + 1), sizeof(int64_t)) : NULL;
    TopK *st = k ? calloc(nq ? nq : 1, sizeof(TopK)) : NULL;
    PyObject *res = NULL;
    if (!outs || (k && (!hist || !st))) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; k && i < nq; i++) {
        st[i].k = k;
        st[i].t = bits;
        st[i].hist = hist + i * (bits + 1);
    }
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t s = 0; s < n && !failed; s += BLOCK) {
        Py_ssize_t e = s + BLOCK < n ? s + BLOCK : n;
        for (Py_ssize_t i = 0; i < nq && !failed; i++)
            failed = scan_block(c, s, e, w, qs + i * w, r, st ? st + i : NULL, outs + i, i);
    }
    Py_END_ALLOW_THREADS
    if (failed) {
        PyErr_NoMemory();
        goto done;
    }
    if (nq == 1 && !k) {
        res = hits_result(outs, 1);
        goto done;
    }
    Hits all = {0};
    for (Py_ssize_t i = 0; i < nq; i++)
        for (Py_ssize_t j = 0; j < outs[i].n; j++)
            if ((!k || outs[i].c[j] <= st[i].t) && hits_push(&all, i, outs[i].b[j], outs[i].c[j])) {
                no_memory(&all);
                goto done;
            }
    res = hits_result(&all, 1);
done:
    if (outs) {
        for (Py_ssize_t i = 0; i < nq; i++) hits_free(outs + i);
        free(outs);
    }
    free(hist);
    free(st);
    return res;
}

/* scan_within(codes, words, queries, radius): every item at distance < radius of each query. */
static PyObject *scan_within(PyObject *self, PyObject *args) {
    Py_buffer codes, queries;
    int w, radius;
    if (!PyArg_ParseTuple(args, "y*iy*i", &codes, &w, &queries, &radius)) return NULL;
    PyObject *res = NULL;
    if (!whole_codes(&codes, w, "codes") && !whole_codes(&queries, w, "queries"))
        res = scan_any(&codes, w, &queries, radius - 1, 0, 0);
    PyBuffer_Release(&codes);
    PyBuffer_Release(&queries);
    return res;
}

/* scan_nearest(codes, words, queries, k, bits): each query's items up to its k-th smallest distance, by
   counting selection: a query keeps the items within its current threshold T and a histogram of their
   distances; T falls to the smallest distance that still holds k kept items. */
static PyObject *scan_nearest(PyObject *self, PyObject *args) {
    Py_buffer codes, queries;
    int w, bits;
    long long k;
    if (!PyArg_ParseTuple(args, "y*iy*Li", &codes, &w, &queries, &k, &bits)) return NULL;
    PyObject *res = NULL;
    if (k < 1 || bits < 1 || bits > 64 * MAX_WORDS)
        PyErr_SetString(PyExc_ValueError, "scan_nearest: k must be >= 1 and bits 1 to 1024");
    else if (!whole_codes(&codes, w, "codes") && !whole_codes(&queries, w, "queries"))
        res = scan_any(&codes, w, &queries, 0, k, bits);
    PyBuffer_Release(&codes);
    PyBuffer_Release(&queries);
    return res;
}

/* -- key tables: runs of table rows for a batch of keys ---------------------------------------------- */

static inline Py_ssize_t lower_bound(const void *keys, int ksz, Py_ssize_t n, uint64_t key) {
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (get_uint(keys, ksz, mid) < key) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* The rows lo..hi of a table probed for key r: (r, position) each, through `order` when it has rows. */
static inline int push_run(Hits *out, Py_ssize_t lo, Py_ssize_t hi, const void *order, int osz, Py_ssize_t no,
                           int64_t r) {
    for (Py_ssize_t row = lo; row < hi; row++)
        if (hits_push(out, r, no ? (int64_t)get_uint(order, osz, row) : (int64_t)row, 0)) return -1;
    return 0;
}

/* kind 0: `table` holds the offsets of a direct table (a key indexes them); 1: the sorted keys. */
static inline void key_run(int kind, const void *table, int tsz, Py_ssize_t nt, uint64_t key, Py_ssize_t *lo,
                           Py_ssize_t *hi) {
    if (kind == 0) {
        if (key + 1 >= (uint64_t)nt) { /* no such slot: no run */
            *lo = *hi = 0;
            return;
        }
        *lo = (Py_ssize_t)get_uint(table, tsz, (Py_ssize_t)key);
        *hi = (Py_ssize_t)get_uint(table, tsz, (Py_ssize_t)key + 1);
    } else {
        Py_ssize_t l = lower_bound(table, tsz, nt, key), h = l;
        while (h < nt && get_uint(table, tsz, h) == key) h++;
        *lo = l;
        *hi = h;
    }
}

static int table_sizes_ok(int tsz, int osz) {
    return (tsz == 1 || tsz == 2 || tsz == 4 || tsz == 8) && (osz == 1 || osz == 2 || osz == 4 || osz == 8);
}

/* probe_table(kind, table, table itemsize, order, order itemsize, queries, words, start, width, masks): every
   item whose key is bits start..start+width-1 of queries[r], XOR a mask: (r, position), by query row, mask,
   then table row. `order` maps table rows to positions (empty: the rows are the positions). */
static PyObject *probe_table(PyObject *self, PyObject *args) {
    Py_buffer table, order, queries, masks;
    int kind, tsz, osz, w, start, width;
    if (!PyArg_ParseTuple(args, "iy*iy*iy*iiiy*", &kind, &table, &tsz, &order, &osz, &queries, &w, &start, &width,
                          &masks))
        return NULL;
    PyObject *res = NULL;
    Hits out = {0};
    if (whole_codes(&queries, w, "queries")) goto done;
    if (!table_sizes_ok(tsz, osz) || table.len % tsz || order.len % osz || masks.len % 8 || (kind != 0 && kind != 1) ||
        width < 1 || width > 64 || start < 0 || start + width > 64 * w) {
        PyErr_SetString(PyExc_ValueError, "probe_table: inconsistent buffers");
        goto done;
    }
    Py_ssize_t nt = table.len / tsz, no = order.len / osz, nq = queries.len / (8 * w), nm = masks.len / 8;
    const uint64_t *qs = queries.buf, *mk = masks.buf;
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < nq && !failed; i++) {
        uint64_t key = extract(qs + i * w, start, width);
        for (Py_ssize_t a = 0; a < nm && !failed; a++) {
            Py_ssize_t lo, hi;
            key_run(kind, table.buf, tsz, nt, key ^ mk[a], &lo, &hi);
            failed = push_run(&out, lo, hi, order.buf, osz, no, i);
        }
    }
    Py_END_ALLOW_THREADS
    res = failed ? no_memory(&out) : hits_result(&out, 0);
done:
    hits_free(&out);
    PyBuffer_Release(&table);
    PyBuffer_Release(&order);
    PyBuffer_Release(&queries);
    PyBuffer_Release(&masks);
    return res;
}

/* find_codes(codes, words, offsets, offsets itemsize, prefix, queries, masks): every item whose code equals
   queries[r] ^ masks[a]: (r, position, distance: the weight of masks[a]), by query row, mask, then position. The full-code table is bucketed by
   the top `prefix` bits of code_key, or, prefix 0, direct (one-word codes index the offsets). */
HOT static int find_all(const uint64_t *codes, int w, const void *offsets, int osz, Py_ssize_t nt, int prefix,
                        const uint64_t *qs, Py_ssize_t nq, const uint64_t *masks, Py_ssize_t nm, Hits *out) {
    uint64_t probe[MAX_WORDS];
    for (Py_ssize_t r = 0; r < nq; r++)
        for (Py_ssize_t a = 0; a < nm; a++) {
            int32_t d = 0; /* the distance of every code found: the mask's weight */
            for (int j = 0; j < w; j++) {
                probe[j] = qs[r * w + j] ^ masks[a * w + j];
                d += pc64(masks[a * w + j]);
            }
            Py_ssize_t lo, hi;
            if (!prefix) {
                key_run(0, offsets, osz, nt, probe[0], &lo, &hi);
                for (Py_ssize_t p = lo; p < hi; p++)
                    if (hits_push(out, r, p, d)) return -1;
                continue;
            }
            uint64_t slot = code_key(probe, w) >> (64 - prefix);
            lo = (Py_ssize_t)get_uint(offsets, osz, slot);
            hi = (Py_ssize_t)get_uint(offsets, osz, slot + 1);
            for (Py_ssize_t p = lo; p < hi; p++) {
                const uint64_t *c = codes + p * w;
                int same = 1;
                for (int j = 0; j < w && same; j++) same = c[j] == probe[j];
                if (same && hits_push(out, r, p, d)) return -1;
            }
        }
    return 0;
}

static PyObject *find_codes(PyObject *self, PyObject *args) {
    Py_buffer codes, offsets, queries, masks;
    int w, osz, prefix;
    if (!PyArg_ParseTuple(args, "y*iy*iiy*y*", &codes, &w, &offsets, &osz, &prefix, &queries, &masks)) return NULL;
    PyObject *res = NULL;
    Hits out = {0};
    if (whole_codes(&codes, w, "codes") || whole_codes(&queries, w, "queries") || whole_codes(&masks, w, "masks"))
        goto done;
    Py_ssize_t nt = offsets.len / (osz > 0 ? osz : 1);
    if (!table_sizes_ok(osz, 8) || offsets.len % osz || prefix < 0 || prefix > 40 || (!prefix && w != 1) ||
        (prefix && nt != ((Py_ssize_t)1 << prefix) + 1)) {
        PyErr_SetString(PyExc_ValueError, "find_codes: offsets do not match the prefix");
        goto done;
    }
    int failed;
    Py_BEGIN_ALLOW_THREADS
    failed = find_all(codes.buf, w, offsets.buf, osz, nt, prefix, queries.buf, queries.len / (8 * w), masks.buf,
                      masks.len / (8 * w), &out);
    Py_END_ALLOW_THREADS
    res = failed ? no_memory(&out) : hits_result(&out, 1);
done:
    hits_free(&out);
    PyBuffer_Release(&codes);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&queries);
    PyBuffer_Release(&masks);
    return res;
}

/* -- multi-index candidates ---------------------------------------------------------------------------- */

/* verify(codes, words, queries, query rows, positions, substring bits (m, words), j, rho, limit): the
   candidates (query row, position) that table j at substring distance rho reaches first (no table i < j
   with d_i <= rho, none i > j with d_i < rho) and that lie at distance < limit: (row, position, distance). */
HOT static int verify_all(const uint64_t *codes, int w, const uint64_t *qs, const int64_t *qi, const int64_t *pos,
                          Py_ssize_t n, const uint64_t *sub, int m, int j, int rho, int limit, Hits *out) {
    for (Py_ssize_t a = 0; a < n; a++) {
        const uint64_t *c = codes + pos[a] * w, *q = qs + qi[a] * w;
        uint64_t x[MAX_WORDS];
        int total = 0;
        for (int b = 0; b < w; b++) {
            x[b] = c[b] ^ q[b];
            total += pc64(x[b]);
        }
        int ok = total < limit;
        for (int i = 0; i < m && ok; i++) {
            if (i == j || (i > j && rho == 0)) continue;
            int di = 0;
            for (int b = 0; b < w; b++) di += pc64(x[b] & sub[i * w + b]);
            ok = i < j ? di > rho : di >= rho;
        }
        if (ok && hits_push(out, qi[a], pos[a], total)) return -1;
    }
    return 0;
}

static PyObject *verify(PyObject *self, PyObject *args) {
    Py_buffer codes, queries, qi, pos, sub;
    int w, j, rho, limit;
    if (!PyArg_ParseTuple(args, "y*iy*y*y*y*iii", &codes, &w, &queries, &qi, &pos, &sub, &j, &rho, &limit))
        return NULL;
    PyObject *res = NULL;
    Hits out = {0};
    if (whole_codes(&codes, w, "codes") || whole_codes(&queries, w, "queries") || whole_codes(&sub, w, "substrings"))
        goto done;
    Py_ssize_t n = pos.len / 8, nc = codes.len / (8 * w), nq = queries.len / (8 * w);
    int m = (int)(sub.len / (8 * w));
    if (pos.len % 8 || qi.len != pos.len || j < 0 || j >= m) {
        PyErr_SetString(PyExc_ValueError, "verify: inconsistent buffers");
        goto done;
    }
    const int64_t *p = pos.buf, *q = qi.buf;
    for (Py_ssize_t a = 0; a < n; a++)
        if (p[a] < 0 || p[a] >= nc || q[a] < 0 || q[a] >= nq) {
            PyErr_SetString(PyExc_IndexError, "verify: a position or query row out of range");
            goto done;
        }
    int failed;
    Py_BEGIN_ALLOW_THREADS
    failed = verify_all(codes.buf, w, queries.buf, q, p, n, sub.buf, m, j, rho, limit, &out);
    Py_END_ALLOW_THREADS
    res = failed ? no_memory(&out) : hits_result(&out, 1);
done:
    hits_free(&out);
    PyBuffer_Release(&codes);
    PyBuffer_Release(&queries);
    PyBuffer_Release(&qi);
    PyBuffer_Release(&pos);
    PyBuffer_Release(&sub);
    return res;
}

static PyMethodDef methods[] = {
    {"scan_within", scan_within, METH_VARARGS,
     "scan_within(codes, words, queries, radius) -> (query, position, distance): every item at distance < radius"},
    {"scan_nearest", scan_nearest, METH_VARARGS,
     "scan_nearest(codes, words, queries, k, bits) -> (query, position, distance): each query's items up to its "
     "k-th distance"},
    {"probe_table", probe_table, METH_VARARGS,
     "probe_table(kind, table, table_itemsize, order, order_itemsize, queries, words, start, width, masks) -> "
     "(query row, position)"},
    {"find_codes", find_codes, METH_VARARGS,
     "find_codes(codes, words, offsets, offsets_itemsize, prefix, queries, masks) -> (query row, position, distance)"},
    {"verify", verify, METH_VARARGS,
     "verify(codes, words, queries, query_rows, positions, substring_bits, j, rho, limit) -> (row, position, "
     "distance)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels", "Compiled primitives of aelab.index.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__kernels(void) {
    PyObject *mod = PyModule_Create(&module);
    if (!mod) return NULL;
    const char *scan = "scalar";
#ifdef X86_AVX512
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq")) {
        scan1 = scan1_avx512;
        scan = "avx512-vpopcntdq";
    }
#endif
    if (PyModule_AddStringConstant(mod, "scan", scan) < 0) {
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
