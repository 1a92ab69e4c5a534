/* Model "mix" (model version 3) of the .spkz archive: one pass in raster order per frame, each
 * pixel's bit coded by a binary range coder with a probability mixed from two adaptive context
 * tables, with mixer weights chosen by the pixel's phase and ISI jitter. Integer arithmetic only (no floating point), so every machine and compiler produces the
 * same bytes; `mixref.py` is the same algorithm in plain Python and the tests hold them equal.
 *
 * Why this shape: the numpy model (format 2) needs ~100 whole-array passes per frame and a 5 MB
 * count table; here every context table but one fits in the L2 cache and a pixel costs a few
 * table reads, so a clip decodes at tens of millions of spike-pixels per second on one core.
 */
#ifndef SPKZ_MIXKERNEL_H
#define SPKZ_MIXKERNEL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- quantisers and the logistic tables (integer only) ---- */

#define NQ 49          /* quantised tau / ISI: 0..48 */
#define ND 50          /* ISI context: 0 never fired, 1 fired once, 2..49 = 1 + Q(d1) */
#define NREL 21        /* neighbours' mean ISI minus own, quarter frames, clipped to +-10 */
#define NNB (NREL + 14) /* + (own ISI unknown) the neighbours' mean ISI itself, coarsely quantised */
#define NDD 8          /* d2 - d1 clipped to +-3, 0 = unknown */
#define NPH 14         /* tau - d1 clipped to +-6, 0 = own ISI unknown */
#define NIN 2          /* mixer inputs: the two tables */
#define NNBK 6         /* neighbour-rate buckets of the weight choice */
#define NSEL (NPH * NDD * NNBK) /* weight sets, chosen by (tau - d1, d2 - d1, neighbour-rate bucket) */
#define LIMIT 255      /* adaptation count cap of a context (then rate 1/257) */
#define MIX_LR 24      /* mixer learning rate */
#define W_INIT 32768   /* initial weight 0.5 in 16.16 */

static int16_t qtab[1024];
static int16_t stretch_tab[4096];
static int16_t squash_tab[4095]; /* squash(d) for every d: one load instead of an interpolation */
static int32_t rec_tab[LIMIT + 1];
static int32_t inv_tab[5]; /* 65536 / n rounded up: a mean without a division */
static uint8_t nb_bucket[NNB]; /* neighbours' ISI vs own: much shorter, shorter, equal, longer, much longer, own unknown */
static int tables_ready = 0;

static const int32_t squash_pts[33] = {1,    2,    4,    6,    10,   17,   27,   45,   74,   120,  194,
                                       311,  488,  747,  1102, 1546, 2048, 2550, 2994, 3349, 3608, 3785,
                                       3902, 3976, 4022, 4051, 4069, 4079, 4086, 4090, 4092, 4094, 4095};

/* 4096 / (1 + exp(-d / 256)) by linear interpolation of 33 points, d clipped to +-2047 */
static inline int squash(int d) {
    if (d > 2047) d = 2047;
    if (d < -2047) d = -2047;
    int w = d & 127;
    int i = (d >> 7) + 16;
    return (squash_pts[i] * (128 - w) + squash_pts[i + 1] * w + 64) >> 7;
}

static int quantise(int v) {
    if (v < 24) return v;
    if (v < 88) return 24 + (v - 24) / 4;
    if (v < 344) return 40 + (v - 88) / 32;
    return 48;
}

static void init_tables(void) {
    if (tables_ready) return;
    for (int v = 0; v < 1024; v++) qtab[v] = (int16_t)quantise(v);
    /* stretch = inverse of squash: for each p the smallest d with squash(d) >= p */
    int pi = 0;
    for (int d = -2047; d <= 2047; d++) {
        int v = squash(d);
        for (int j = pi; j <= v; j++) stretch_tab[j] = (int16_t)d;
        pi = v + 1;
    }
    for (int j = pi; j < 4096; j++) stretch_tab[j] = 2047;
    for (int d = -2047; d <= 2047; d++) squash_tab[d + 2047] = (int16_t)squash(d);
    for (int n = 0; n <= LIMIT; n++) rec_tab[n] = 65536 / (n + 2);
    for (int n = 1; n <= 4; n++) inv_tab[n] = (65536 + n - 1) / n;
    for (int v = 0; v < NNB; v++)
        nb_bucket[v] = (uint8_t)(v >= NREL ? 5 : v < 7 ? 0 : v < 10 ? 1 : v == 10 ? 2 : v < 14 ? 3 : 4);
    tables_ready = 1;
}

static inline int qv(int v) { return qtab[v < 1023 ? v : 1023]; }

/* ---- adaptive probability: p of a spike in 16 bits (low half), count (high half) ---- */

static inline int cnt_p(uint32_t c) { return (int)(c & 0xFFFF); }

static inline uint32_t cnt_update(uint32_t c, int bit) {
    int p = (int)(c & 0xFFFF), n = (int)(c >> 16);
    /* p += (target - p) / (n + 2): a KT estimate until LIMIT observations, then a fixed rate.
     * >> of a negative number is an arithmetic (floor) shift on every compiler we build with. */
    p += (((bit ? 65535 : 0) - p) * rec_tab[n]) >> 16; /* |product| < 2^31 */
    n += n < LIMIT;
    return (uint32_t)p | ((uint32_t)n << 16);
}

/* ---- binary range coder: 32-bit range, carries through a cached byte ---- */

typedef struct {
    uint64_t low;
    uint32_t range;
    uint8_t cache;
    uint64_t pending;
    uint8_t *buf;
    size_t pos, cap;
    int oom;
} Encoder;

static void enc_put(Encoder *e, uint8_t b) {
    if (e->pos == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 1 << 16;
        uint8_t *nb = (uint8_t *)realloc(e->buf, cap);
        if (!nb) { e->oom = 1; return; }
        e->buf = nb;
        e->cap = cap;
    }
    e->buf[e->pos++] = b;
}

static void enc_shift(Encoder *e) {
    if ((uint32_t)e->low < 0xFF000000u || (e->low >> 32) != 0) {
        uint8_t carry = (uint8_t)(e->low >> 32);
        uint8_t b = e->cache;
        do {
            enc_put(e, (uint8_t)(b + carry));
            b = 0xFF;
        } while (--e->pending != 0);
        e->cache = (uint8_t)(e->low >> 24);
    }
    e->pending++;
    e->low = (e->low & 0x00FFFFFFu) << 8;
}

static inline void enc_bit(Encoder *e, int bit, int p16) {
    uint32_t bound = (e->range >> 16) * (uint32_t)p16;
    if (bit) {
        e->range = bound;
    } else {
        e->low += bound;
        e->range -= bound;
    }
    while (e->range < (1u << 24)) {
        e->range <<= 8;
        enc_shift(e);
    }
}

static void enc_finish(Encoder *e) {
    for (int i = 0; i < 5; i++) enc_shift(e);
}

typedef struct {
    uint32_t code, range;
    const uint8_t *buf;
    size_t pos, len;
} Decoder;

static inline uint8_t dec_byte(Decoder *d) { return d->pos < d->len ? d->buf[d->pos++] : 0; }

static void dec_init(Decoder *d, const uint8_t *buf, size_t len) {
    d->buf = buf;
    d->len = len;
    d->pos = 0;
    d->code = 0;
    d->range = 0xFFFFFFFFu;
    for (int i = 0; i < 5; i++) d->code = (d->code << 8) | dec_byte(d);
}

static inline int dec_bit(Decoder *d, int p16) {
    uint32_t bound = (d->range >> 16) * (uint32_t)p16;
    int bit;
    if (d->code < bound) {
        d->range = bound;
        bit = 1;
    } else {
        d->code -= bound;
        d->range -= bound;
        bit = 0;
    }
    while (d->range < (1u << 24)) {
        d->range <<= 8;
        d->code = (d->code << 8) | dec_byte(d);
    }
    return bit;
}

/* ---- the model ---- */

typedef struct {
    int h, w;
    int32_t *last;  /* frame of the last spike, -1: none yet in this chunk */
    uint16_t *d1;   /* last ISI (0: unknown), with a border of zeros: (h + 2) x (w + 2) */
    uint16_t *d2;   /* the ISI before it */
    uint8_t *qd;    /* own-ISI context: 0 never fired, 1 fired once, 2.. = 1 + Q(d1) (kept, not recomputed) */
    uint8_t *fa, *fb; /* this and the previous frame, (h + 2) x (w + 2) with a zero border: no bounds tests */
    uint32_t *rate;  /* (tau, d1, neighbours) */
    uint32_t *phase; /* (tau - d1, causal neighbours and own last bit, last frame's 4-neighbours, d2 - d1) */
    int64_t *wts; /* 64 bits: no update sequence of a chunk (< 2^31 pixels) can overflow them */
} Model;

#define RATE_SIZE (NQ * ND * NNB)
#define PHASE_SIZE (NPH * 32 * 5 * NDD)

static void model_free(Model *m) {
    free(m->last); free(m->d1); free(m->d2); free(m->qd); free(m->fa); free(m->fb);
    free(m->rate); free(m->phase); free(m->wts);
}

static int model_init(Model *m, int h, int w) {
    init_tables();
    size_t n = (size_t)h * w;
    memset(m, 0, sizeof(*m));
    m->h = h;
    m->w = w;
    m->last = (int32_t *)malloc(n * sizeof(int32_t));
    m->d1 = (uint16_t *)calloc((size_t)(h + 2) * (w + 2), sizeof(uint16_t));
    m->d2 = (uint16_t *)calloc(n, sizeof(uint16_t));
    m->qd = (uint8_t *)calloc(n, 1);
    m->fa = (uint8_t *)calloc((size_t)(h + 2) * (w + 2), 1);
    m->fb = (uint8_t *)calloc((size_t)(h + 2) * (w + 2), 1);
    m->rate = (uint32_t *)malloc(RATE_SIZE * sizeof(uint32_t));
    m->phase = (uint32_t *)malloc(PHASE_SIZE * sizeof(uint32_t));
    m->wts = (int64_t *)malloc(NSEL * NIN * sizeof(int64_t));
    if (!m->last || !m->d1 || !m->d2 || !m->qd || !m->fa || !m->fb || !m->rate || !m->phase ||
        !m->wts) {
        model_free(m);
        return -1;
    }
    for (size_t i = 0; i < n; i++) m->last[i] = -1;
    for (int i = 0; i < RATE_SIZE; i++) m->rate[i] = 32768;
    for (int i = 0; i < PHASE_SIZE; i++) m->phase[i] = 32768;
    for (int i = 0; i < NSEL * NIN; i++) m->wts[i] = W_INIT;
    return 0;
}

typedef struct {
    int ir, ip, sel;
    int s[NIN];
    int p12;
} Ctx;

/* Probability (16 bits) that pixel (y, x) fires in frame t. `cur` is this frame so far (pixels
 * before (y, x) in raster order are final), `prev` the previous frame (zeros before the first), both
 * padded: (h + 2) x (w + 2) with a zero border. */
static inline __attribute__((always_inline)) int predict(const Model *m, const uint8_t *cur, const uint8_t *prev, int t, int y, int x,
                          Ctx *c) {
    int w = m->w, i = y * w + x, w2 = w + 2;
    const uint16_t *q = m->d1 + (y + 1) * w2 + x + 1;
    int last = m->last[i], d1 = q[0], d2 = m->d2[i], qd = m->qd[i];
    int tau = last < 0 ? t + 1 : t - last;
    int qt = qv(tau);
    /* the 4 neighbours' known last ISIs: their sum and count (the border holds zeros = unknown);
     * 4 neighbours code 0.8 % smaller than 8 (measured), and faster */
    int b = q[-w2], f = q[-1], g = q[1], l = q[w2];
    int nsum = b + f + g + l;
    int nc = (b != 0) + (f != 0) + (g != 0) + (l != 0), nb;
    if (d1 && nc) {
        int rel = (int)(((int64_t)nsum * inv_tab[nc]) >> 14) - 4 * d1; /* 4 x mean - 4 x own */
        nb = (rel < -10 ? -10 : rel > 10 ? 10 : rel) + 10;
    } else {
        nb = nc ? NREL + 1 + (qv((int)(((int64_t)nsum * inv_tab[nc]) >> 16)) >> 2) : NREL;
    }
    int dd = 0, ph = 0;
    if (d1) {
        int gap = tau - d1;
        ph = (gap < -6 ? -6 : gap > 6 ? 6 : gap) + 7;
        if (d2) {
            int jitter = d2 - d1;
            dd = (jitter < -3 ? -3 : jitter > 3 ? 3 : jitter) + 4;
        }
    }
    const uint8_t *cp = cur + (y + 1) * w2 + x + 1, *pp = prev + (y + 1) * w2 + x + 1;
    /* this frame's causal neighbours and the pixel's own last bit (-0.45 %: tau = 1 when d1 is unknown) */
    int cn = cp[-1] | cp[-w2 - 1] << 1 | cp[-w2] << 2 | cp[-w2 + 1] << 3 | pp[0] << 4;
    int pn = pp[-1] + pp[1] + pp[-w2] + pp[w2];
    c->ir = (qt * ND + qd) * NNB + nb;
    c->ip = ((ph * 32 + cn) * 5 + pn) * NDD + dd;
    c->sel = (ph * NDD + dd) * NNBK + nb_bucket[nb];
    c->s[0] = stretch_tab[cnt_p(m->rate[c->ir]) >> 4];
    c->s[1] = stretch_tab[cnt_p(m->phase[c->ip]) >> 4];
    const int64_t *wt = m->wts + c->sel * NIN;
    int64_t dot = 0;
    for (int k = 0; k < NIN; k++) dot += wt[k] * c->s[k];
    dot >>= 16;
    c->p12 = squash_tab[(dot < -2047 ? -2047 : dot > 2047 ? 2047 : (int)dot) + 2047];
    int p16 = c->p12 * 16;
    if (p16 < 16) p16 = 16;
    if (p16 > 65520) p16 = 65520;
    return p16;
}

static inline __attribute__((always_inline)) void update(Model *m, const Ctx *c, int t, int y, int x, int bit) {
    int i = y * m->w + x;
    m->rate[c->ir] = cnt_update(m->rate[c->ir], bit);
    m->phase[c->ip] = cnt_update(m->phase[c->ip], bit);
    int err = ((bit << 12) - c->p12) * MIX_LR;
    int64_t *wt = m->wts + c->sel * NIN;
    for (int k = 0; k < NIN; k++) wt[k] += (c->s[k] * err) >> 16;
    if (bit) {
        int last = m->last[i];
        if (last >= 0) {
            int isi = t - last;
            if (isi > 65535) isi = 65535;
            uint16_t *d1 = m->d1 + (y + 1) * (m->w + 2) + x + 1;
            m->d2[i] = *d1;
            *d1 = (uint16_t)isi;
            m->qd[i] = (uint8_t)(1 + qv(isi));
        } else {
            m->qd[i] = 1;
        }
        m->last[i] = t;
    }
}

/* Encode `frames` frames of h x w bits (0/1, one byte each). Returns the stream (malloc'd) and its
 * length in *len, or NULL when out of memory. */
/* Both directions share this loop: `in` (encode: the frames, 0/1) or `out` (decode) is NULL. Each
 * frame is coded in a padded buffer; the previous frame's buffer is kept for the next. */
static inline __attribute__((always_inline)) void code_frames(Model *m, Encoder *e, Decoder *d,
                                                             const uint8_t *in, uint8_t *out, int frames) {
    int h = m->h, w = m->w, w2 = w + 2;
    size_t n = (size_t)h * w;
    Ctx c;
    for (int t = 0; t < frames; t++) {
        uint8_t *cur = m->fa, *prev = m->fb;
        for (int y = 0; y < h; y++) {
            uint8_t *row = cur + (y + 1) * w2 + 1;
            for (int x = 0; x < w; x++) {
                int p = predict(m, cur, prev, t, y, x, &c);
                int bit;
                if (in) {
                    bit = in[(size_t)t * n + (size_t)y * w + x] != 0;
                    enc_bit(e, bit, p);
                } else {
                    bit = dec_bit(d, p);
                }
                row[x] = (uint8_t)bit;
                update(m, &c, t, y, x, bit);
            }
            if (out) memcpy(out + (size_t)t * n + (size_t)y * w, row, (size_t)w);
        }
        m->fa = prev; /* this frame becomes the previous one */
        m->fb = cur;
    }
}

/* Encode `frames` frames of h x w bits (0/1, one byte each). Returns the stream (malloc'd) and its
 * length in *len, or NULL when out of memory. */
static uint8_t *mix_encode(const uint8_t *bits, int frames, int h, int w, size_t *len) {
    Model m;
    if (model_init(&m, h, w)) return NULL;
    Encoder e = {0, 0xFFFFFFFFu, 0, 1, NULL, 0, 0, 0};
    code_frames(&m, &e, NULL, bits, NULL, frames);
    enc_finish(&e);
    model_free(&m);
    if (e.oom) {
        free(e.buf);
        return NULL;
    }
    *len = e.pos;
    return e.buf;
}

/* Decode the first `frames` frames into out (h x w bytes each, 0/1). 0, or -1 when out of memory. */
static int mix_decode(const uint8_t *data, size_t len, int frames, int h, int w, uint8_t *out) {
    Model m;
    if (model_init(&m, h, w)) return -1;
    Decoder d;
    dec_init(&d, data, len);
    code_frames(&m, NULL, &d, NULL, out, frames);
    model_free(&m);
    return 0;
}

#endif
