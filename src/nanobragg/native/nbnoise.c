/* Seeded Poisson noise image, drawing the same numbers in the same order as
 * nanobragg.models.rng (Ran1 + PoissonSampler) and nanobragg.products.noise do in Python, so the
 * result is bit-identical to them. float variables hold the single-precision
 * values; every double expression is rounded where the Python rounds with f32.
 *
 * Only the walk over the pixels that hands each one its uniforms is sequential
 * (nb_noise_draw). Two kinds of work are independent of it and are produced ahead,
 * by a helper thread (nb_noise_help) or, when it falls behind or is absent, by the
 * drawing thread itself:
 *  - chunks of the uniform stream (Park-Miller steps as products with powers of IA,
 *    then the sequential shuffle) with, for each uniform u, y = tan(pi u) from a
 *    vectorised tangent and approximate logarithms of u and of 0.9 (1 + y^2);
 *  - blocks of what depends on a pixel's mean alone: exp(-xm) for the product
 *    method; sqrt(2 xm), log(xm) and xm log(xm) - gammln(xm + 1) for the rejection
 *    method, vectorised.
 * Every vectorised value that the result depends on is checked against a margin
 * around the float rounding points and recomputed with libm where the margin is not
 * met, so it equals libm's value rounded to float; the logarithms only decide the
 * rejection test where they are far from its boundary, with exp as in the reference
 * elsewhere.
 * Each kind sits in a ring of slots guarded by a lock that either thread may take
 * (C11 atomics): whoever holds it fills the next slot. */
#define _POSIX_C_SOURCE 200809L /* nanosleep, sched_yield */
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NB_IA 16807
#define NB_IM 2147483647
#define NB_IQ 127773
#define NB_IR 2836
#define NB_NTAB 32
#define NB_NDIV (1 + (NB_IM - 1) / NB_NTAB)
#define NB_AM (1.0 / NB_IM)
#define NB_RNMX (1.0 - 1.2e-7)
#define NB_WARMUP 8
#define NB_STATE 34

/* uniforms per stream chunk, chunks in flight, and uniforms per run of tangents that
 * the drawing thread computes itself */
#define NB_CHUNK 4096
#define NB_RING 16
#define NB_TAN_RUN 16
/* pixels per block of prepared values, blocks in flight, floats per pixel */
#define NB_BLOCK 4096
#define NB_BLOCKS 16
#define NB_CONSTS 3
/* whole em below this have their gammln(em + 1) remembered */
#define NB_GAMMLN_TABLE (1 << 21)
/* a double this many units in the last place or closer to a float rounding midpoint
 * is recomputed with libm (the approximations are within a few hundred units at most:
 * 1e-13 relative; 4096 units are 4.5e-13 to 9e-13) */
#define NB_ROUNDING_MARGIN 4096
/* log-domain distance beyond which the acceptance test needs no exp */
#define NB_LOG_MARGIN 2.44140625e-4

/* ran1 state: state[0] = idum, state[1] = iy, state[2..33] = iv. */
typedef struct {
    int64_t start[NB_STATE]; /* the state before the chunk's first uniform */
    int derived;             /* y, ly and lu are set below this index */
    float u[NB_CHUNK];
    float y[NB_CHUNK];       /* (float)tan(pi u) */
    float ly[NB_CHUNK];      /* about log(0.9 (1 + y^2)) */
    float lu[NB_CHUNK];      /* about log(u) */
} nb_chunk;

typedef struct {
    const float *means;
    int64_t n;
    nb_chunk ring[NB_RING];
    int64_t powers[NB_CHUNK]; /* IA^(k+1) mod IM */
    float consts[NB_BLOCKS][NB_CONSTS][NB_BLOCK]; /* sq, alxm, g per pixel */
    int64_t live[NB_STATE]; /* the state after the chunks produced (under stream_lock) */
    _Alignas(64) atomic_int stream_lock;
    atomic_long produced; /* chunks filled (long: lock-free everywhere) */
    atomic_int want_y;     /* derive y, ly, lu with u (see nb_advance) */
    _Alignas(64) atomic_int consts_lock;
    atomic_long prepared; /* blocks filled */
    _Alignas(64) atomic_long released; /* chunks the draw is done with */
    atomic_long blocks_released;
    atomic_int done;
    /* the drawing thread's own state */
    _Alignas(64) nb_chunk *cur;
    int64_t cur_index;
    int pos;
    int has_spare;
    float spare;
    float *gammln_table;
    double photons;
    int64_t overloads;
} nb_noise_ctx;

static int64_t nb_schrage(int64_t idum)
{
    int64_t k = idum / NB_IQ;
    idum = NB_IA * (idum - k * NB_IQ) - NB_IR * k;
    return idum < 0 ? idum + NB_IM : idum;
}

static float nb_uniform_of(int64_t iy)
{
    float temp = (float)(NB_AM * (double)iy);
    return (double)temp > NB_RNMX ? (float)NB_RNMX : temp;
}

/* One ran1 step from any state (reloads the table where ran1 does). */
static float nb_ran1(int64_t *st)
{
    int64_t *iv = st + 2;
    if (st[0] <= 0 || st[1] == 0) {
        int64_t idum = -st[0] < 1 ? 1 : -st[0];
        for (int j = NB_NTAB + NB_WARMUP - 1; j >= 0; j--) {
            idum = nb_schrage(idum);
            if (j < NB_NTAB)
                iv[j] = idum;
        }
        st[0] = idum;
        st[1] = iv[0];
    }
    st[0] = nb_schrage(st[0]);
    int64_t j = st[1] / NB_NDIV;
    st[1] = iv[j];
    iv[j] = st[0];
    return nb_uniform_of(st[1]);
}

/* Whether every step is a plain product modulo IM and a shuffle (no reload). */
static int nb_regular(const int64_t *st)
{
    int ok = st[0] > 0 && st[0] < NB_IM && st[1] > 0 && st[1] < NB_IM;
    for (int j = 0; j < NB_NTAB; j++)
        ok &= st[2 + j] > 0 && st[2 + j] < NB_IM;
    return ok;
}

static void nb_init_powers(int64_t *powers)
{
    int64_t value = 1;
    for (int k = 0; k < NB_CHUNK; k++) {
        value = value * NB_IA % NB_IM;
        powers[k] = value;
    }
}

/* a * b mod IM for 0 <= a, b < IM (IM = 2^31 - 1). */
static inline int64_t nb_mulmod(int64_t a, int64_t b)
{
    uint64_t p = (uint64_t)a * (uint64_t)b;
    p = (p & NB_IM) + (p >> 31);
    p = (p & NB_IM) + (p >> 31);
    return (int64_t)(p >= NB_IM ? p - NB_IM : p);
}

/* n uniforms from a regular state into u (the shuffle is the only sequential part). */
static void nb_fill_regular(int64_t *st, const int64_t *powers, float *u, int n)
{
    int64_t idums[NB_CHUNK], outs[NB_CHUNK];
    int64_t idum = st[0];
#pragma omp simd
    for (int k = 0; k < n; k++)
        idums[k] = nb_mulmod(powers[k], idum);
    uint32_t iv[NB_NTAB];
    for (int j = 0; j < NB_NTAB; j++)
        iv[j] = (uint32_t)st[2 + j];
    uint32_t iy = (uint32_t)st[1];
    for (int k = 0; k < n; k++) {
        uint32_t j = iy / NB_NDIV;
        iy = iv[j];
        iv[j] = (uint32_t)idums[k];
        outs[k] = iy;
    }
    st[0] = idums[n - 1];
    st[1] = iy;
    for (int j = 0; j < NB_NTAB; j++)
        st[2 + j] = iv[j];
#pragma omp simd
    for (int k = 0; k < n; k++)
        u[k] = nb_uniform_of(outs[k]);
}

#define NB_LN2_HI 0.6931471805598903
#define NB_LN2_LO 5.497923018708371e-14

/* log(x) for a positive normal x within a few units in the last place. */
static inline double nb_log_approx(double x)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    double e = (double)((int64_t)(bits >> 52) - 1023);
    bits = (bits & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull;
    double m;
    memcpy(&m, &bits, sizeof m);
    int big = m > 1.4142135623730951;
    m = big ? 0.5 * m : m;
    e = big ? e + 1.0 : e;
    /* log(m) = 2 atanh(s) as its series to s^23, |s| < 0.172 */
    double f = m - 1.0, s = f / (2.0 + f), s2 = s * s;
    double p = s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (
        1.0 / 11.0 + s2 * (1.0 / 13.0 + s2 * (1.0 / 15.0 + s2 * (1.0 / 17.0 + s2 * (
        1.0 / 19.0 + s2 * (1.0 / 21.0 + s2 * (1.0 / 23.0)))))))))));
    return e * NB_LN2_HI + (e * NB_LN2_LO + 2.0 * s * (1.0 + p));
}

/* log(x) for a positive normal float x, within 1e-5 for x in [1e-10, 1e33] (7.9e-6
 * over all those floats, nb_noise_logf_error). */
static inline float nb_logf_approx(float x)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    float e = (float)((int32_t)(bits >> 23) - 127);
    bits = (bits & 0x007FFFFFu) | 0x3F800000u;
    float m;
    memcpy(&m, &bits, sizeof m);
    int big = m > 1.41421356f;
    m = big ? 0.5f * m : m;
    e = big ? e + 1.0f : e;
    float f = m - 1.0f, s = f / (2.0f + f), s2 = s * s;
    float p = s2 * (1.0f / 3.0f + s2 * (1.0f / 5.0f + s2 * (1.0f / 7.0f + s2 * (1.0f / 9.0f))));
    return e * 0.693147181f + 2.0f * s * (1.0f + p);
}

/* exp(x) for |x| <= 700 within a few units in the last place. */
static inline double nb_exp_approx(double x)
{
    double k = nearbyint(x * 1.4426950408889634);
    double r = (x - k * NB_LN2_HI) - k * NB_LN2_LO;
    double p = 1.0 + r * (1.0 + r * (1.0 / 2.0 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (
        1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0 + r * (1.0 / 40320.0 + r * (
        1.0 / 362880.0 + r * (1.0 / 3628800.0 + r * (1.0 / 39916800.0 + r * (
        1.0 / 479001600.0 + r * (1.0 / 6227020800.0)))))))))))));
    uint64_t bits = (uint64_t)((int64_t)k + 1023) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* tan(x) for x in [0, pi] within 1e-13 relative. */
static inline double nb_tan_approx(double x)
{
    const double pio2_hi = 1.5707963267948966, pio2_lo = 6.123233995736766e-17;
    double k = nearbyint(x * 0.6366197723675814);
    double r = (x - k * pio2_hi) - k * pio2_lo;
    double r2 = r * r;
    /* sin and cos of the reduced argument as Taylor polynomials to r^13 and r^14
     * (truncation below 3e-14 relative; NB_ROUNDING_MARGIN allows 9e-13) */
    double sp = r2 * (-1.0 / 6.0 + r2 * (1.0 / 120.0 + r2 * (-1.0 / 5040.0 + r2 * (
        1.0 / 362880.0 + r2 * (-1.0 / 39916800.0 + r2 * (1.0 / 6227020800.0))))));
    double cp = r2 * (-0.5 + r2 * (1.0 / 24.0 + r2 * (-1.0 / 720.0 + r2 * (
        1.0 / 40320.0 + r2 * (-1.0 / 3628800.0 + r2 * (1.0 / 479001600.0 + r2 * (
        -1.0 / 87178291200.0)))))));
    double sn = r + r * sp, cs = 1.0 + cp;
    return k == 1.0 ? -cs / sn : sn / cs;
}

/* Whether t is within NB_ROUNDING_MARGIN units of a float rounding midpoint. */
static inline int nb_near_midpoint(double t)
{
    uint64_t bits;
    memcpy(&bits, &t, sizeof bits);
    int64_t low = (int64_t)(bits & 0x1FFFFFFF) - 0x10000000;
    return low < NB_ROUNDING_MARGIN && low > -NB_ROUNDING_MARGIN;
}

/* y = (float)tan(pi u) for NB_TAN_RUN uniforms, equal to libm's value rounded to
 * float. */
static void nb_tan_run(const float *u, float *y)
{
    double t[NB_TAN_RUN];
#pragma omp simd
    for (int k = 0; k < NB_TAN_RUN; k++)
        t[k] = nb_tan_approx(3.141592653589793 * (double)u[k]);
    int any = 0;
#pragma omp simd reduction(| : any)
    for (int k = 0; k < NB_TAN_RUN; k++) {
        any |= nb_near_midpoint(t[k]);
        y[k] = (float)t[k];
    }
    if (!any)
        return;
    for (int k = 0; k < NB_TAN_RUN; k++)
        if (nb_near_midpoint(t[k]))
            y[k] = (float)tan(3.141592653589793 * (double)u[k]);
}

static float nb_gammln(float xx)
{
    static const double cof[6] = {76.18009172947146, -86.50532032941677,
                                  24.01409824083091, -1.231739572450155,
                                  0.1208650973866179e-2, -0.5395239384953e-5};
    double x = xx, y = xx;
    double tmp = x + 5.5;
    tmp -= (x + 0.5) * log(tmp);
    double ser = 1.000000000190015;
    for (int j = 0; j < 6; j++) {
        y += 1.0;
        ser += cof[j] / y;
    }
    return (float)(-tmp + log(2.5066282746310005 * ser / x));
}

/* y, ly and lu of the NB_TAN_RUN uniforms from index run. The logarithms only serve
 * the acceptance test's shortcut (see nb_accept), so float precision will do. */
static void nb_derive_run(nb_chunk *chunk, int run)
{
    const float *u = chunk->u + run;
    float *y = chunk->y + run, *ly = chunk->ly + run, *lu = chunk->lu + run;
    nb_tan_run(u, y);
#pragma omp simd
    for (int k = 0; k < NB_TAN_RUN; k++) {
        float yy = y[k] * y[k];
        ly[k] = nb_logf_approx((float)(0.9 * (1.0 + (double)yy)));
        lu[k] = u[k] > 0.0f ? nb_logf_approx(u[k] > 0.0f ? u[k] : 1.0f) : -INFINITY;
    }
}

static void nb_fill_chunk(nb_chunk *chunk, int64_t *live, const int64_t *powers, int with_y)
{
    memcpy(chunk->start, live, sizeof chunk->start);
    int k = 0;
    while (k < NB_CHUNK && !nb_regular(live))
        chunk->u[k++] = nb_ran1(live);
    if (k < NB_CHUNK)
        nb_fill_regular(live, powers, chunk->u + k, NB_CHUNK - k);
    chunk->derived = 0;
    if (with_y) {
        for (int run = 0; run < NB_CHUNK; run += NB_TAN_RUN)
            nb_derive_run(chunk, run);
        chunk->derived = NB_CHUNK;
    }
}

static int nb_try_lock(atomic_int *lock)
{
    int free_ = 0;
    return atomic_compare_exchange_strong_explicit(lock, &free_, 1, memory_order_acquire,
                                                   memory_order_relaxed);
}

static void nb_unlock(atomic_int *lock)
{
    atomic_store_explicit(lock, 0, memory_order_release);
}

/* Waits a little longer each time: spins, then yields, then sleeps 20 us. */
static void nb_pause(int *spins)
{
    if (++*spins < 64)
        return;
    if (*spins < 256) {
        sched_yield();
        return;
    }
    struct timespec nap = {0, 20000};
    nanosleep(&nap, NULL);
}

/* Fills the next chunk of the stream if there is room and nobody else is; 1 if done.
 * The helper also derives y, ly and lu once the draw has needed them (the drawing
 * thread derives them run by run where it needs them). */
static int nb_produce_chunk(nb_noise_ctx *c, int helper)
{
    if (!nb_try_lock(&c->stream_lock))
        return 0;
    int64_t k = atomic_load_explicit(&c->produced, memory_order_relaxed);
    int room = k < atomic_load_explicit(&c->released, memory_order_acquire) + NB_RING;
    if (room) {
        int with_y = helper && atomic_load_explicit(&c->want_y, memory_order_relaxed);
        nb_fill_chunk(&c->ring[k % NB_RING], c->live, c->powers, with_y);
        atomic_store_explicit(&c->produced, k + 1, memory_order_release);
    }
    nb_unlock(&c->stream_lock);
    return room;
}

/* nb_gammln with nb_log_approx, before the rounding to float. */
static inline double nb_gammln_approx(float xx)
{
    const double cof[6] = {76.18009172947146, -86.50532032941677, 24.01409824083091,
                           -1.231739572450155, 0.1208650973866179e-2, -0.5395239384953e-5};
    double x = xx;
    double tmp = x + 5.5;
    tmp -= (x + 0.5) * nb_log_approx(tmp);
    /* the sum of cof[j] / (x + j + 1) over one common denominator */
    double a[6];
    for (int j = 0; j < 6; j++)
        a[j] = x + (double)(j + 1);
    double n01 = cof[0] * a[1] + cof[1] * a[0], d01 = a[0] * a[1];
    double n23 = cof[2] * a[3] + cof[3] * a[2], d23 = a[2] * a[3];
    double n45 = cof[4] * a[5] + cof[5] * a[4], d45 = a[4] * a[5];
    double num = (n01 * d23 + n23 * d01) * d45 + n45 * (d01 * d23);
    double ser = 1.000000000190015 + num / (d01 * d23 * d45);
    return -tmp + nb_log_approx(2.5066282746310005 * ser / x);
}

/* Largest error of nb_logf_approx against log over the float bit patterns lo..hi-1. */
double nb_noise_logf_error(uint32_t lo, uint32_t hi)
{
    double worst = 0.0;
    for (uint64_t b = lo; b < hi; b++) {
        uint32_t bits = (uint32_t)b;
        float x;
        memcpy(&x, &bits, sizeof x);
        double err = fabs((double)nb_logf_approx(x) - log((double)x));
        worst = err > worst ? err : worst;
    }
    return worst;
}

/* The mean-only values of one pixel with libm: g = (float)exp(-xm) for the product
 * method, sq = sqrt(2 xm), alxm = log(xm) and g = xm alxm - gammln(xm + 1) for the
 * rejection method (nothing for the Gaussian one). */
static void nb_prepare_one(float xm, float *sq, float *alxm, float *g)
{
    if (xm > 1.0e6f)
        return;
    if (xm < 12.0f) {
        *g = (float)exp(-(double)xm);
        return;
    }
    *sq = (float)sqrt(2.0 * xm);
    *alxm = (float)log((double)xm);
    *g = xm * *alxm - nb_gammln((float)(xm + 1.0));
}

/* nb_prepare_one for n <= NB_BLOCK pixels, vectorised with the approximations where
 * their rounding to float is certain and with libm elsewhere. */
static void nb_noise_prepare(const float *means, int n, float *sq, float *alxm, float *g)
{
    int redo[NB_BLOCK];
    int rejections = 0, directs = 0, any = 0;
#pragma omp simd reduction(+ : rejections, directs) reduction(| : any)
    for (int i = 0; i < n; i++) {
        float xm = means[i];
        rejections += xm >= 12.0f && xm <= 1.0e6f;
        directs += xm >= -80.0f && xm < 12.0f;
        redo[i] = !(xm >= -80.0f);
        any |= redo[i];
    }
    if (rejections) {
#pragma omp simd reduction(| : any)
        for (int i = 0; i < n; i++) {
            float xm = means[i];
            int rejection = xm >= 12.0f && xm <= 1.0e6f;
            float xr = rejection ? xm : 12.0f;
            double lx = nb_log_approx((double)xr);
            double lg = nb_gammln_approx((float)(xr + 1.0));
            int bad = rejection && (nb_near_midpoint(lx) | nb_near_midpoint(lg));
            if (rejection) {
                sq[i] = (float)sqrt(2.0 * xr);
                alxm[i] = (float)lx;
                g[i] = xr * (float)lx - (float)lg;
            }
            redo[i] |= bad;
            any |= bad;
        }
    }
    if (directs) {
#pragma omp simd reduction(| : any)
        for (int i = 0; i < n; i++) {
            float xm = means[i];
            int direct = xm >= -80.0f && xm < 12.0f;
            double ex = nb_exp_approx(direct ? -(double)xm : 0.0);
            int bad = direct && nb_near_midpoint(ex);
            if (direct)
                g[i] = (float)ex;
            redo[i] |= bad;
            any |= bad;
        }
    }
    if (!any)
        return;
    for (int i = 0; i < n; i++)
        if (redo[i])
            nb_prepare_one(means[i], sq + i, alxm + i, g + i);
}

/* Mismatches of nb_noise_prepare against nb_prepare_one over the float bit patterns
 * lo..hi-1 taken as means (a check of the margin rule). */
int64_t nb_noise_prepare_check(uint32_t lo, uint32_t hi)
{
    float xm[NB_BLOCK], sq[NB_BLOCK], alxm[NB_BLOCK], g[NB_BLOCK];
    int64_t bad = 0;
    for (uint64_t b = lo; b < hi; b += NB_BLOCK) {
        int n = hi - b < NB_BLOCK ? (int)(hi - b) : NB_BLOCK;
        for (int k = 0; k < n; k++) {
            uint32_t bits = (uint32_t)(b + k);
            memcpy(xm + k, &bits, sizeof bits);
        }
        nb_noise_prepare(xm, n, sq, alxm, g);
        for (int k = 0; k < n; k++) {
            float want[3] = {sq[k], alxm[k], g[k]};
            nb_prepare_one(xm[k], want, want + 1, want + 2);
            int used = xm[k] > 1.0e6f ? 0 : xm[k] < 12.0f ? 1 : 3;
            bad += memcmp(want + 3 - used, (float[3]){sq[k], alxm[k], g[k]} + 3 - used,
                          sizeof(float) * used) != 0;
        }
    }
    return bad;
}

static int64_t nb_block_count(const nb_noise_ctx *c)
{
    return (c->n + NB_BLOCK - 1) / NB_BLOCK;
}

/* Prepares the next block of pixels if there is one, room and nobody else is. */
static int nb_produce_block(nb_noise_ctx *c)
{
    if (!nb_try_lock(&c->consts_lock))
        return 0;
    int64_t b = atomic_load_explicit(&c->prepared, memory_order_relaxed);
    int room = b < nb_block_count(c)
               && b < atomic_load_explicit(&c->blocks_released, memory_order_acquire)
                      + NB_BLOCKS;
    if (room) {
        int64_t lo = b * NB_BLOCK, count = c->n - lo < NB_BLOCK ? c->n - lo : NB_BLOCK;
        float (*k)[NB_BLOCK] = c->consts[b % NB_BLOCKS];
        nb_noise_prepare(c->means + lo, (int)count, k[0], k[1], k[2]);
        atomic_store_explicit(&c->prepared, b + 1, memory_order_release);
    }
    nb_unlock(&c->consts_lock);
    return room;
}

/* Makes chunk k (the next one after those released) current, filling it if needed. */
static nb_chunk *nb_take_chunk(nb_noise_ctx *c, int64_t k)
{
    int spins = 0;
    while (atomic_load_explicit(&c->produced, memory_order_acquire) <= k)
        if (!nb_produce_chunk(c, 0))
            nb_pause(&spins);
    c->cur_index = k;
    return &c->ring[k % NB_RING];
}

/* Releases the current chunk and returns the next. The helper derives y, ly and lu
 * with the chunks it fills from now on if more than an eighth of this chunk's uniforms
 * were y draws (the drawing thread derives the runs it needs otherwise). */
static nb_chunk *nb_advance(nb_noise_ctx *c, int y_draws)
{
    atomic_store_explicit(&c->want_y, y_draws > NB_CHUNK / 8, memory_order_relaxed);
    atomic_store_explicit(&c->released, c->cur_index + 1, memory_order_release);
    return nb_take_chunk(c, c->cur_index + 1);
}

/* Where the draw is in the stream (a local of the drawing loop, kept in registers). */
typedef struct {
    nb_chunk *chunk;
    int pos;
    int y_draws; /* in this chunk */
} nb_cursor;

static inline void nb_step(nb_noise_ctx *c, nb_cursor *at)
{
    if (at->pos == NB_CHUNK) {
        at->chunk = nb_advance(c, at->y_draws);
        at->pos = 0;
        at->y_draws = 0;
    }
}

static inline float nb_next_u(nb_noise_ctx *c, nb_cursor *at)
{
    nb_step(c, at);
    return at->chunk->u[at->pos++];
}

static void nb_derive_here(nb_chunk *chunk, int pos)
{
    int run = pos - pos % NB_TAN_RUN;
    nb_derive_run(chunk, run);
    chunk->derived = run + NB_TAN_RUN;
}

/* The next uniform's y = (float)tan(pi u) and ly. */
static inline float nb_next_y(nb_noise_ctx *c, nb_cursor *at, float *ly)
{
    nb_step(c, at);
    if (at->pos >= at->chunk->derived)
        nb_derive_here(at->chunk, at->pos);
    at->y_draws++;
    *ly = at->chunk->ly[at->pos];
    return at->chunk->y[at->pos++];
}

/* The next uniform u and lu. */
static inline float nb_next_u_log(nb_noise_ctx *c, nb_cursor *at, float *lu)
{
    nb_step(c, at);
    if (at->pos >= at->chunk->derived)
        nb_derive_here(at->chunk, at->pos);
    *lu = at->chunk->lu[at->pos];
    return at->chunk->u[at->pos++];
}

/* Whether a try is accepted: !(u > t) for t = (float)(0.9 (1 + y^2) exp(log_ratio)),
 * decided from the logarithms where they are NB_LOG_MARGIN or more apart (together
 * they are within 3e-5 of log t: 1e-5 each for the approximations, 1e-7 for the
 * roundings of t; an underflowing t only makes the rejection surer) and from t itself
 * elsewhere. */
static inline int nb_accept(float u, float lu, float y, float ly, float log_ratio)
{
    double d = (double)lu - ((double)ly + (double)log_ratio);
    if (d < -NB_LOG_MARGIN)
        return 1;
    if (d > NB_LOG_MARGIN)
        return 0;
    float t = (float)(0.9 * (1.0 + (double)(y * y)) * exp((double)log_ratio));
    return !(u > t);
}

/* gammln(em + 1) for a whole em, remembered below NB_GAMMLN_TABLE (NaN = not yet). */
static float nb_gammln_whole(nb_noise_ctx *c, float em)
{
    float arg = (float)(em + 1.0);
    if (!(em >= 0.0f && em < (float)NB_GAMMLN_TABLE))
        return nb_gammln(arg);
    if (!c->gammln_table) {
        c->gammln_table = malloc(sizeof(float) * NB_GAMMLN_TABLE);
        if (!c->gammln_table)
            return nb_gammln(arg);
        memset(c->gammln_table, 0xFF, sizeof(float) * NB_GAMMLN_TABLE);
    }
    float *slot = c->gammln_table + (int64_t)em;
    if (*slot != *slot)
        *slot = nb_gammln(arg);
    return *slot;
}

static float nb_gaussdev(nb_noise_ctx *c, nb_cursor *at)
{
    if (c->has_spare) {
        c->has_spare = 0;
        return c->spare;
    }
    float v1, v2, rsq;
    do {
        v1 = (float)(2.0 * nb_next_u(c, at) - 1.0);
        v2 = (float)(2.0 * nb_next_u(c, at) - 1.0);
        rsq = v1 * v1 + v2 * v2;
    } while (!(rsq < 1.0f && rsq != 0.0f));
    float fac = (float)sqrt(-2.0 * log((double)rsq) / rsq);
    c->spare = v1 * fac;
    c->has_spare = 1;
    return v2 * fac;
}

/* Product of uniforms until it drops to g = (float)exp(-xm). */
static inline float nb_poidev_direct(nb_noise_ctx *c, nb_cursor *at, float g)
{
    float em = -1.0f, t = 1.0f;
    do {
        em += 1.0f;
        t = t * nb_next_u(c, at);
    } while (t > g);
    return em;
}

/* Rejection against a Lorentzian; sq = sqrt(2xm), alxm = log(xm),
 * g = xm log(xm) - gammln(xm+1). */
static inline float nb_poidev_rejection(nb_noise_ctx *c, nb_cursor *at, float xm,
                                        float sq, float alxm, float g)
{
    for (;;) {
        float y, ly, lu, em;
        do {
            y = nb_next_y(c, at, &ly);
            em = sq * y + xm;
        } while (em < 0.0f);
        em = floorf(em);
        float log_ratio = (em * alxm - nb_gammln_whole(c, em)) - g;
        float u = nb_next_u_log(c, at, &lu);
        if (nb_accept(u, lu, y, ly, log_ratio))
            return em;
    }
}

/* A sampler of the noise of n means (C order, kept by the caller until it is closed)
 * continuing the ran1 state (idum, iy, iv[32]); NULL without memory. */
void *nb_noise_open(const float *means, int64_t n, const int64_t *state)
{
    nb_noise_ctx *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    memset(c, 0, sizeof *c);
    nb_init_powers(c->powers);
    c->means = means;
    c->n = n;
    memcpy(c->live, state, sizeof c->live);
    atomic_init(&c->stream_lock, 0);
    atomic_init(&c->produced, 0);
    atomic_init(&c->want_y, 0);
    atomic_init(&c->consts_lock, 0);
    atomic_init(&c->prepared, 0);
    atomic_init(&c->released, 0);
    atomic_init(&c->blocks_released, 0);
    atomic_init(&c->done, 0);
    return c;
}

/* Fills chunks and blocks ahead of the draw until nb_noise_stop (a helper thread). */
void nb_noise_help(void *ctx)
{
    nb_noise_ctx *c = ctx;
    int spins = 0;
    while (!atomic_load_explicit(&c->done, memory_order_acquire)) {
        int did = nb_produce_block(c);
        did |= nb_produce_chunk(c, 1);
        if (did)
            spins = 0;
        else
            nb_pause(&spins);
    }
}

void nb_noise_stop(void *ctx)
{
    atomic_store_explicit(&((nb_noise_ctx *)ctx)->done, 1, memory_order_release);
}

/* Pixel i of a block of prepared values k. */
static inline float nb_poidev(nb_noise_ctx *c, nb_cursor *at, float xm,
                              const float (*k)[NB_BLOCK], int64_t i)
{
    if (xm > 1.0e6f)
        return (float)(xm + sqrt((double)xm) * nb_gaussdev(c, at));
    if (xm < 12.0f)
        return nb_poidev_direct(c, at, k[2][i]);
    return nb_poidev_rejection(c, at, xm, k[0][i], k[1][i], k[2][i]);
}

/* Draws the noise counts of all the sampler's pixels into out (uint16, C order). */
void nb_noise_draw(void *ctx, double adc, uint16_t *out)
{
    nb_noise_ctx *c = ctx;
    nb_cursor at = {nb_take_chunk(c, 0), 0, 0};
    double photons = 0.0;
    int64_t over = 0;
    for (int64_t b = 0; b < nb_block_count(c); b++) {
        int spins = 0;
        while (atomic_load_explicit(&c->prepared, memory_order_acquire) <= b)
            if (!nb_produce_block(c))
                nb_pause(&spins);
        const float (*k)[NB_BLOCK] = (const float (*)[NB_BLOCK])c->consts[b % NB_BLOCKS];
        int64_t lo = b * NB_BLOCK, count = c->n - lo < NB_BLOCK ? c->n - lo : NB_BLOCK;
        for (int64_t i = 0; i < count; i++) {
            float deviate = nb_poidev(c, &at, c->means[lo + i], k, i);
            photons += deviate;
            double value = deviate + adc;
            if (value > 65535.0) {
                value = 65535.0;
                over++;
            }
            out[lo + i] = value > -2147483649.0 ? (uint16_t)((int64_t)value & 0xFFFF) : 0;
        }
        atomic_store_explicit(&c->blocks_released, b + 1, memory_order_release);
    }
    c->photons = photons;
    c->overloads = over;
    c->cur = at.chunk;
    c->pos = at.pos;
}

/* Frees the sampler (after nb_noise_draw, with no helper running), writing the ran1
 * state after the uniforms used; returns the photon sum and stores the overloads. */
double nb_noise_close(void *ctx, int64_t *state, int64_t *overloads)
{
    nb_noise_ctx *c = ctx;
    memcpy(state, c->cur->start, sizeof c->cur->start);
    for (int k = 0; k < c->pos; k++)
        nb_ran1(state);
    double photons = c->photons;
    *overloads = c->overloads;
    free(c->gammln_table);
    free(c);
    return photons;
}

/* The whole image on the calling thread; returns the photon sum (-1 overloads and the
 * state unchanged without memory). */
double nb_noise(const float *means, int64_t n, double adc, int64_t *state,
                uint16_t *out, int64_t *overloads)
{
    void *ctx = nb_noise_open(means, n, state);
    if (!ctx) {
        *overloads = -1;
        return 0.0;
    }
    nb_noise_draw(ctx, adc, out);
    return nb_noise_close(ctx, state, overloads);
}

/* Mismatches of the fast tangent against (float)tan(pi u) over the float bit patterns
 * lo..hi-1 (a check of the margin rule). */
int64_t nb_noise_tan_check(uint32_t lo, uint32_t hi)
{
    float u[NB_TAN_RUN], y[NB_TAN_RUN];
    int64_t bad = 0;
    for (uint64_t b = lo; b < hi; b += NB_TAN_RUN) {
        int n = hi - b < NB_TAN_RUN ? (int)(hi - b) : NB_TAN_RUN;
        for (int k = 0; k < NB_TAN_RUN; k++) {
            uint32_t bits = (uint32_t)(b + (k < n ? k : 0));
            memcpy(u + k, &bits, sizeof bits);
        }
        nb_tan_run(u, y);
        for (int k = 0; k < n; k++) {
            float want = (float)tan(3.141592653589793 * (double)u[k]);
            bad += memcmp(&want, y + k, sizeof want) != 0;
        }
    }
    return bad;
}
