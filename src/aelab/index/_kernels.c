/* Compiled inner loops of aelab.index: XOR + popcount scans and hash-table probes in one pass each.

The numpy routines in search.py are the reference and the fallback: every function here returns the
same hits as its numpy twin (tests compare them), only without numpy's per-call overhead and its
one-pass-per-operation memory traffic. Arrays arrive through the buffer protocol (no numpy headers
are needed to build); results leave as bytearrays of int64 (query, position) and int32 distances.

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

static inline int pc64(uint64_t x) { return __builtin_popcountll(x); }

/* -- growable hit lists -------------------------------------------------------------------------- */

typedef struct {
    int64_t *q, *pos;
    int32_t *d;
    Py_ssize_t n, cap;
} Hits;

static int hits_push(Hits *h, int64_t q, int64_t pos, int32_t d) {
    if (h->n == h->cap) {
        Py_ssize_t cap = h->cap ? 2 * h->cap : 256;
        int64_t *nq = realloc(h->q, cap * sizeof(int64_t));
        if (!nq) return -1;
        h->q = nq;
        int64_t *np = realloc(h->pos, cap * sizeof(int64_t));
        if (!np) return -1;
        h->pos = np;
        int32_t *nd = realloc(h->d, cap * sizeof(int32_t));
        if (!nd) return -1;
        h->d = nd;
        h->cap = cap;
    }
    h->q[h->n] = q;
    h->pos[h->n] = pos;
    h->d[h->n] = d;
    h->n++;
    return 0;
}

static void hits_free(Hits *h) {
    free(h->q);
    free(h->pos);
    free(h->d);
    memset(h, 0, sizeof(*h));
}

/* (query bytearray, position bytearray, distance bytearray); frees the lists */
static PyObject *hits_result(Hits *h) {
    PyObject *a = PyByteArray_FromStringAndSize((const char *)h->q, h->n * (Py_ssize_t)sizeof(int64_t));
    PyObject *b = PyByteArray_FromStringAndSize((const char *)h->pos, h->n * (Py_ssize_t)sizeof(int64_t));
    PyObject *c = PyByteArray_FromStringAndSize((const char *)h->d, h->n * (Py_ssize_t)sizeof(int32_t));
    hits_free(h);
    if (!a || !b || !c) {
        Py_XDECREF(a);
        Py_XDECREF(b);
        Py_XDECREF(c);
        return NULL;
    }
    return Py_BuildValue("(NNN)", a, b, c);
}

static PyObject *no_memory(Hits *h) {
    hits_free(h);
    return PyErr_NoMemory();
}

/* -- reading the tables' integer arrays, whose width is chosen per segment ------------------------- */

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

static int check_codes(Py_buffer *codes, int w, Py_buffer *queries) {
    if (w < 1 || codes->len % (8 * w) || queries->len % (8 * w)) {
        PyErr_SetString(PyExc_ValueError, "code buffers must hold whole codes of w uint64 words");
        return -1;
    }
    return 0;
}

/* -- scans ------------------------------------------------------------------------------------------ */

#define BLOCK 4096 /* codes per block: a block stays in L1 while every query passes over it */

/* A query's state in a top-k scan (counting selection, see scan_topk). */
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

/* One-word codes s..e against q: every item within the threshold (r, or a top-k's falling T) is kept. */
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
        int t = st ? st->t : r;
        const __m512i vt = _mm512_set1_epi64(t);
        __m512i d0 = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512((const void *)(codes + i)), vq));
        __m512i d1 = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512((const void *)(codes + i + 8)), vq));
        unsigned int mask = (unsigned int)_mm512_cmple_epu64_mask(d0, vt) |
                            ((unsigned int)_mm512_cmple_epu64_mask(d1, vt) << 8);
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

/* The k nearest of n codes to each query, by counting selection: a query keeps the items within its
   current threshold T and a histogram of their distances; T falls to the smallest distance that still
   holds k kept items. Hits up to the final T (ties at the k-th distance included), by position. */
HOT static int topk_block(const uint64_t *codes, Py_ssize_t s, Py_ssize_t e, int w, const uint64_t *q, TopK *st,
                          Hits *out, int64_t qi) {
    if (w == 1) return scan1(codes, s, e, q[0], 0, st, out, qi);
    for (Py_ssize_t i = s; i < e; i++) {
        int d = dist(codes + i * w, q, w);
        if (d <= st->t && topk_keep(st, out, qi, i, d)) return -1;
    }
    return 0;
}

static PyObject *scan_topk(PyObject *self, PyObject *args) {
    Py_buffer codes, queries;
    int w, bits;
    long long k;
    if (!PyArg_ParseTuple(args, "y*iy*Li", &codes, &w, &queries, &k, &bits)) return NULL;
    PyObject *res = NULL;
    Hits *outs = NULL;
    int64_t *hist = NULL;
    TopK *st = NULL;
    if (check_codes(&codes, w, &queries)) goto done;
    Py_ssize_t n = codes.len / (8 * w), nq = queries.len / (8 * w);
    const uint64_t *c = codes.buf, *qs = queries.buf;
    outs = calloc(nq ? nq : 1, sizeof(Hits));
    hist = calloc((size_t)(nq ? nq : 1) * (bits + 1), sizeof(int64_t));
    st = calloc(nq ? nq : 1, sizeof(TopK));
    if (!outs || !hist || !st) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < nq; i++) {
        st[i].k = k;
        st[i].t = bits;
        st[i].hist = hist + i * (bits + 1);
    }
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t s = 0; s < n && !failed; s += BLOCK) {
        Py_ssize_t e = s + BLOCK < n ? s + BLOCK : n;
        for (Py_ssize_t i = 0; i < nq && !failed; i++) failed = topk_block(c, s, e, w, qs + i * w, st + i, outs + i, i);
    }
    Py_END_ALLOW_THREADS
    if (failed) {
        PyErr_NoMemory();
        goto done;
    }
    /* one list, query by query, keeping each query's hits within its final threshold */
    Hits all = {0};
    for (Py_ssize_t i = 0; i < nq; i++) {
        for (Py_ssize_t j = 0; j < outs[i].n; j++)
            if (outs[i].d[j] <= st[i].t && hits_push(&all, i, outs[i].pos[j], outs[i].d[j])) {
                no_memory(&all);
                goto done;
            }
    }
    res = hits_result(&all);
done:
    if (outs) {
        for (Py_ssize_t i = 0; i < queries.len / (8 * (w > 0 ? w : 1)); i++) hits_free(outs + i);
        free(outs);
    }
    free(hist);
    free(st);
    PyBuffer_Release(&codes);
    PyBuffer_Release(&queries);
    return res;
}

HOT static int radius_block(const uint64_t *codes, Py_ssize_t s, Py_ssize_t e, int w, const uint64_t *q, int r,
                            Hits *out, int64_t qi) {
    if (w == 1) return scan1(codes, s, e, q[0], r, NULL, out, qi);
    for (Py_ssize_t i = s; i < e; i++) {
        int d = dist(codes + i * w, q, w);
        if (d <= r && hits_push(out, qi, i, d)) return -1;
    }
    return 0;
}

/* Every item within distance r of each query, by a scan: hits by position within query. */
static PyObject *scan_radius(PyObject *self, PyObject *args) {
    Py_buffer codes, queries;
    int w, r;
    if (!PyArg_ParseTuple(args, "y*iy*i", &codes, &w, &queries, &r)) return NULL;
    PyObject *res = NULL;
    Hits *outs = NULL;
    Py_ssize_t nq = 0;
    if (check_codes(&codes, w, &queries)) goto done;
    Py_ssize_t n = codes.len / (8 * w);
    nq = queries.len / (8 * w);
    const uint64_t *c = codes.buf, *qs = queries.buf;
    outs = calloc(nq ? nq : 1, sizeof(Hits));
    if (!outs) {
        PyErr_NoMemory();
        goto done;
    }
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t s = 0; s < n && !failed; s += BLOCK) {
        Py_ssize_t e = s + BLOCK < n ? s + BLOCK : n;
        for (Py_ssize_t i = 0; i < nq && !failed; i++) failed = radius_block(c, s, e, w, qs + i * w, r, outs + i, i);
    }
    Py_END_ALLOW_THREADS
    if (failed) {
        PyErr_NoMemory();
        goto done;
    }
    Hits all = {0};
    for (Py_ssize_t i = 0; i < nq; i++)
        for (Py_ssize_t j = 0; j < outs[i].n; j++)
            if (hits_push(&all, i, outs[i].pos[j], outs[i].d[j])) {
                no_memory(&all);
                goto done;
            }
    res = hits_result(&all);
done:
    if (outs) {
        for (Py_ssize_t i = 0; i < nq; i++) hits_free(outs + i);
        free(outs);
    }
    PyBuffer_Release(&codes);
    PyBuffer_Release(&queries);
    return res;
}

/* -- the full-code table: every code query ^ mask, looked up ------------------------------------- */

/* kind 0: direct (offsets indexed by the code itself; one word); kind 1: bucketed by the top `prefix`
   bits of code_key. Hits (query, position, mask_d[mask]) by query, then mask, then position. */
HOT static int probe_full_one(const uint64_t *codes, int w, int kind, int prefix, const void *offsets, int osz,
                              const uint64_t *q, const uint64_t *masks, const int32_t *mask_d, Py_ssize_t nm,
                              Hits *out, int64_t qi) {
    uint64_t probe[16]; /* w <= 16 (1024 bits) */
    for (Py_ssize_t m = 0; m < nm; m++) {
        const uint64_t *mk = masks + m * w;
        for (int j = 0; j < w; j++) probe[j] = q[j] ^ mk[j];
        uint64_t slot = kind == 0 ? probe[0] : code_key(probe, w) >> (64 - prefix);
        Py_ssize_t lo = (Py_ssize_t)get_uint(offsets, osz, slot), hi = (Py_ssize_t)get_uint(offsets, osz, slot + 1);
        for (Py_ssize_t p = lo; p < hi; p++) {
            if (kind == 1) {
                const uint64_t *c = codes + p * w;
                int same = 1;
                for (int j = 0; j < w && same; j++) same = c[j] == probe[j];
                if (!same) continue;
            }
            if (hits_push(out, qi, p, mask_d[m])) return -1;
        }
    }
    return 0;
}

static PyObject *probe_full(PyObject *self, PyObject *args) {
    Py_buffer codes, offsets, queries, masks, mask_d;
    int w, kind, prefix, osz;
    if (!PyArg_ParseTuple(args, "y*iiiy*iy*y*y*", &codes, &w, &kind, &prefix, &offsets, &osz, &queries, &masks,
                          &mask_d))
        return NULL;
    PyObject *res = NULL;
    Hits out = {0};
    if (check_codes(&codes, w, &queries) || w > 16 || masks.len % (8 * w) ||
        mask_d.len != (masks.len / (8 * w)) * 4) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "probe_full: inconsistent buffers");
        goto done;
    }
    Py_ssize_t nq = queries.len / (8 * w), nm = masks.len / (8 * w);
    const uint64_t *qs = queries.buf;
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < nq && !failed; i++)
        failed = probe_full_one(codes.buf, w, kind, prefix, offsets.buf, osz, qs + i * w, masks.buf, mask_d.buf, nm,
                                &out, i);
    Py_END_ALLOW_THREADS
    res = failed ? no_memory(&out) : hits_result(&out);
done:
    hits_free(&out);
    PyBuffer_Release(&codes);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&queries);
    PyBuffer_Release(&masks);
    PyBuffer_Release(&mask_d);
    return res;
}

/* -- multi-index hashing ------------------------------------------------------------------------- */

typedef struct {
    int start, width, radius, kind, osz, tsz; /* kind 0: direct offsets; 1: sorted keys */
    Py_buffer masks, order, table;            /* table: offsets (direct) or keys (sorted) */
    Py_ssize_t nmasks, n;
} SubTable;

static inline Py_ssize_t lower_bound(const void *keys, int ksz, Py_ssize_t n, uint64_t key) {
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (get_uint(keys, ksz, mid) < key) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Every item within r of query q, each reported once: a candidate from table j is kept only when no
   earlier table reaches it (Norouzi, Punjani & Fleet 2012, Prop. 2; see search.mih_radius). */
HOT static int mih_one(const uint64_t *codes, int w, SubTable *t, int m, const uint64_t *q, int r, Hits *out,
                       int64_t qi) {
    for (int j = 0; j < m; j++) {
        SubTable *tj = t + j;
        if (tj->radius < 0) continue;
        uint64_t key = extract(q, tj->start, tj->width);
        const uint64_t *masks = tj->masks.buf;
        for (Py_ssize_t a = 0; a < tj->nmasks; a++) {
            uint64_t kk = key ^ masks[a];
            Py_ssize_t lo, hi;
            if (tj->kind == 0) {
                lo = (Py_ssize_t)get_uint(tj->table.buf, tj->tsz, kk);
                hi = (Py_ssize_t)get_uint(tj->table.buf, tj->tsz, kk + 1);
            } else {
                lo = lower_bound(tj->table.buf, tj->tsz, tj->n, kk);
                hi = lo;
                while (hi < tj->n && get_uint(tj->table.buf, tj->tsz, hi) == kk) hi++;
            }
            for (Py_ssize_t row = lo; row < hi; row++) {
                Py_ssize_t p = (Py_ssize_t)get_uint(tj->order.buf, tj->osz, row);
                const uint64_t *c = codes + p * w;
                int d = dist(c, q, w);
                if (d > r) continue;
                int dup = 0;
                if (j > 0) { /* reached by an earlier table? (its substring within that table's radius) */
                    uint64_t x[16];
                    for (int b = 0; b < w; b++) x[b] = c[b] ^ q[b];
                    for (int i = 0; i < j && !dup; i++)
                        dup = t[i].radius >= 0 && pc64(extract(x, t[i].start, t[i].width)) <= t[i].radius;
                }
                if (!dup && hits_push(out, qi, p, d)) return -1;
            }
        }
    }
    return 0;
}

/* tables: a sequence of (start, width, radius, masks, order, itemsize of order, kind, table, itemsize of
   table), the table being the offsets (kind 0) or the sorted keys (kind 1); radius < 0: not probed. */
static PyObject *mih_radius(PyObject *self, PyObject *args) {
    Py_buffer codes, queries;
    int w, r;
    PyObject *tables;
    if (!PyArg_ParseTuple(args, "y*iOy*i", &codes, &w, &tables, &queries, &r)) return NULL;
    PyObject *res = NULL;
    Hits out = {0};
    SubTable *t = NULL;
    Py_ssize_t m = 0, got = 0;
    if (check_codes(&codes, w, &queries) || w > 16) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "mih_radius: codes of more than 16 words");
        goto done;
    }
    PyObject *seq = PySequence_Fast(tables, "tables must be a sequence");
    if (!seq) goto done;
    m = PySequence_Fast_GET_SIZE(seq);
    t = calloc(m ? m : 1, sizeof(SubTable));
    if (!t) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        goto done;
    }
    for (; got < m; got++) {
        SubTable *s = t + got;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, got), "iiiy*y*iiy*i", &s->start, &s->width, &s->radius,
                              &s->masks, &s->order, &s->osz, &s->kind, &s->table, &s->tsz))
            break;
        s->nmasks = s->masks.len / 8;
        s->n = s->order.len / s->osz;
    }
    Py_DECREF(seq);
    if (got < m) goto done;
    Py_ssize_t nq = queries.len / (8 * w);
    const uint64_t *qs = queries.buf;
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < nq && !failed; i++) failed = mih_one(codes.buf, w, t, (int)m, qs + i * w, r, &out, i);
    Py_END_ALLOW_THREADS
    res = failed ? no_memory(&out) : hits_result(&out);
done:
    hits_free(&out);
    for (Py_ssize_t i = 0; i < got; i++) {
        PyBuffer_Release(&t[i].masks);
        PyBuffer_Release(&t[i].order);
        PyBuffer_Release(&t[i].table);
    }
    free(t);
    PyBuffer_Release(&codes);
    PyBuffer_Release(&queries);
    return res;
}

static PyMethodDef methods[] = {
    {"scan_topk", scan_topk, METH_VARARGS,
     "scan_topk(codes, words, queries, k, bits) -> (query, position, distance) bytearrays: each query's hits "
     "up to its k-th distance"},
    {"scan_radius", scan_radius, METH_VARARGS,
     "scan_radius(codes, words, queries, r) -> (query, position, distance): every item within r, by a scan"},
    {"probe_full", probe_full, METH_VARARGS,
     "probe_full(codes, words, kind, prefix, offsets, offset_itemsize, queries, masks, mask_d) -> hits of "
     "every code query ^ mask in the full-code table"},
    {"mih_radius", mih_radius, METH_VARARGS,
     "mih_radius(codes, words, tables, queries, r) -> every item within r by multi-index hashing, once each"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels", "Compiled inner loops of aelab.index.", -1,
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
