/* Fused per-pixel evaluation of nanobragg's forward render, compiled at run time.
 *
 * One call renders a list of pixels. For each pixel the sub-steps are visited in the
 * simulator's loop order (layer, sub-pixel, source, phi step, mosaic domain) and the
 * terms F_cell^2 * F_latt^2 are summed in that order in double (with the -oversample_*
 * factors multiplied into the running sum after each addition, as the C does), so a
 * pixel's value does not depend on which other pixels share its call. Pixels are
 * processed in blocks of NB_BLOCK so the innermost loop runs over pixels and vectorises.
 *
 * Square crystals: with h = m + d (m the nearest integer), sincg(h)^2 =
 * (sin(pi N d) / sin(pi d))^2 for any real N, and sin(pi x) is a polynomial on
 * |x| <= 1/2 after a second reduction of N d; the direct sin(pi N h)/sin(pi h) of the
 * C is used where it differs (non-whole N with the C's formula). Everything up to the
 * Miller indices is double; REAL (float or double) is the precision of the lattice
 * factor and the structure factor, as in the eager kernel.
 *
 * Tricubic interpolation stops at the first evaluation, in the C's serial order, whose
 * neighbourhood leaves the grid: a first pass (nb_stop_*) finds it, and the render
 * interpolates before it and takes the nearest reflection from it on.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define NB_BLOCK 64
#define NB_LANES 16
#define NB_CAT_(a, b) a##b
#define NB_CAT(a, b) NB_CAT_(a, b)
#define NB_FN(x) NB_CAT(NB_NAME, x)

/* Lattice shapes and structure-factor lookups (values of nb_params.shape, .lookup). */
enum { NB_SQUARE = 0, NB_ROUND = 1, NB_GAUSS = 2, NB_TOPHAT = 3, NB_SQUARE_DIRECT = 4,
       NB_ROUND_DIRECT = 5 };
enum { NB_DEFAULT_F = 0, NB_NEAREST = 1, NB_TRICUBIC = 2 };
/* Doubles per panel in the panel array: fdet, sdet, odet, pix0, pixel size, close
 * distance. */
#define NB_PANEL 14

typedef struct {
    double kahn, dmin, default_F, background, scale;
    double N[3], fudge, recip[9];
    double depth;              /* layer step * mu: absorption per layer */
    double distance, beam[3];  /* of a curved detector */
    int64_t oversample, fpixels, frame;
    int64_t point_pixel, nopolar, curved, capture, first_layer, water;
    int64_t over_thick, over_polar, over_omega;
    int64_t shape, lookup;
    int64_t n_layers, n_sources, n_orient;
    int64_t mins[3], ranges[3];
    int64_t stop_position, stop_eval; /* tricubic: where the interpolation stops */
    int64_t n_panels;
} nb_params;

/* Size of nb_params as compiled (the loader checks it against its own struct). */
int64_t nb_params_size(void)
{
    return (int64_t)sizeof(nb_params);
}

/* The panel, slow and fast index of a flat pixel index (panel*frame + slow*fpixels +
 * fast), without a 64-bit division (tens of cycles each): the double quotient, corrected
 * by one where it rounded across. */
static inline __attribute__((always_inline)) void nb_pixel_index(const nb_params *p,
                                                                int64_t pixel, int64_t *panel,
                                                                int64_t *slow, int64_t *fast)
{
    int64_t k = (int64_t)((double)pixel / (double)p->frame);
    int64_t local = pixel - k * p->frame;
    k += (local >= p->frame) - (local < 0);
    local = pixel - k * p->frame;
    int64_t s = (int64_t)((double)local / (double)p->fpixels);
    int64_t f = local - s * p->fpixels;
    s += (f >= p->fpixels) - (f < 0);
    *panel = k;
    *slow = s;
    *fast = local - s * p->fpixels;
}

/* Flat index in the F table of the nearest reflection to (h, k, l), -1 outside the
 * grid. The grid minimum is taken off in double: GCC turns (int64_t)ceil(x) into a call
 * of lceil, which would keep the loops that look F up from vectorising. */
static inline __attribute__((always_inline)) int64_t nb_nearest_at(const nb_params *p,
                                                                   double h, double k,
                                                                   double l)
{
    const int64_t kr = p->ranges[1], lr = p->ranges[2];
    int64_t ih = (int64_t)(ceil(h - 0.5) - (double)p->mins[0]);
    int64_t ik = (int64_t)(ceil(k - 0.5) - (double)p->mins[1]);
    int64_t il = (int64_t)(ceil(l - 0.5) - (double)p->mins[2]);
    int64_t inside = (ih >= 0) & (ih < p->ranges[0]) & (ik >= 0) & (ik < kr) & (il >= 0)
        & (il < lr);
    return inside ? (ih * kr + ik) * lr + il : -1;
}

/* Whether the 4x4x4 neighbourhood of (h, k, l) leaves the grid (the eager test). */
static inline __attribute__((always_inline)) int nb_outside(const nb_params *p, double h,
                                                            double k, double l)
{
    int out = 0;
    out |= (h - (double)p->mins[0] + 3 > (double)p->ranges[0]) | (h - 2 < (double)p->mins[0]);
    out |= (k - (double)p->mins[1] + 3 > (double)p->ranges[1]) | (k - 2 < (double)p->mins[1]);
    out |= (l - (double)p->mins[2] + 3 > (double)p->ranges[2]) | (l - 2 < (double)p->mins[2]);
    return out;
}

/* Lagrange weights of the 4 nodes floor(x)-1..floor(x)+2 at x, and the grid indices
 * (clamped) of those nodes along an axis of grid minimum lo and size n. */
static inline __attribute__((always_inline)) void nb_weights(double x, int64_t lo,
                                                             int64_t n, double *w,
                                                             int64_t *at)
{
    double base = floor(x) - 1.0;
    for (int i = 0; i < 4; i++) {
        double num = 1.0, den = 1.0, ni = base + i;
        for (int j = 0; j < 4; j++) {
            if (j != i) {
                num = num * (x - (base + j));
                den = den * (ni - (base + j));
            }
        }
        w[i] = num / den;
        int64_t local = (int64_t)ni - lo;
        local = local < 0 ? 0 : local;
        at[i] = local > n - 1 ? n - 1 : local;
    }
}

#ifdef __FMA__
#define NB_FMA(a, b, c) fma((a), (b), (c))
#define NB_FMAF(a, b, c) fmaf((a), (b), (c))
#else
#define NB_FMA(a, b, c) ((a) * (b) + (c))
#define NB_FMAF(a, b, c) ((a) * (b) + (c))
#endif

/* sin(pi x) for |x| <= 1/2: Taylor series to x^13 (float) or x^21 (double). */
static inline float nb_sinpi_f(float x)
{
    float x2 = x * x;
    float p = 0.00046630280576761234f;
    p = NB_FMAF(p, x2, -0.007370430945714348f);
    p = NB_FMAF(p, x2, 0.08214588661112819f);
    p = NB_FMAF(p, x2, -0.5992645293207919f);
    p = NB_FMAF(p, x2, 2.550164039877345f);
    p = NB_FMAF(p, x2, -5.167712780049969f);
    p = NB_FMAF(p, x2, 3.141592653589793f);
    return x * p;
}

static inline double nb_sinpi_d(double x)
{
    double x2 = x * x;
    double p = 5.392664662608125e-10;
    p = NB_FMA(p, x2, -2.2948428997269856e-08);
    p = NB_FMA(p, x2, 7.952054001475508e-07);
    p = NB_FMA(p, x2, -2.1915353447830204e-05);
    p = NB_FMA(p, x2, 0.00046630280576761234);
    p = NB_FMA(p, x2, -0.007370430945714348);
    p = NB_FMA(p, x2, 0.08214588661112819);
    p = NB_FMA(p, x2, -0.5992645293207919);
    p = NB_FMA(p, x2, 2.550164039877345);
    p = NB_FMA(p, x2, -5.167712780049969);
    p = NB_FMA(p, x2, 3.141592653589793);
    return x * p;
}

/* e^x in float (within 2 ulp of expf; 0 below -103, inf above 88.7) without branches or
 * calls, so that a loop over pixels vectorises: x = k ln2 + r, a Taylor polynomial of
 * e^r on |r| <= ln2/2, and 2^k as two exponent fields (k/2 and the rest, so that the
 * subnormal range is reached). */
static inline float nb_expf(float x)
{
    x = x < -103.0f ? -103.0f : (x > 88.8f ? 88.8f : x);
    float k = floorf(x * 1.44269504088896341f + 0.5f);
    float r = (x - k * 0.693145751953125f) - k * 1.42860682030941723e-06f;
    float p = 1.0f / 5040;
    p = NB_FMAF(p, r, 1.0f / 720);
    p = NB_FMAF(p, r, 1.0f / 120);
    p = NB_FMAF(p, r, 1.0f / 24);
    p = NB_FMAF(p, r, 1.0f / 6);
    p = NB_FMAF(p, r, 0.5f);
    p = NB_FMAF(p, r, 1.0f);
    p = NB_FMAF(p, r, 1.0f);
    int32_t ki = (int32_t)k, k1 = ki / 2, k2 = ki - k1;
    int32_t b1 = (k1 + 127) << 23, b2 = (k2 + 127) << 23;
    float s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    return p * s1 * s2;
}

/* sin and cos of x >= 0 (up to about 1e5) in double, within an ulp or so of libm's, without
 * branches or calls so that a loop vectorises: x = q pi/2 + r (Cody-Waite, |r| <= pi/4),
 * Taylor polynomials of sin r and cos r, and the quadrant's signs and swap. */
static inline __attribute__((always_inline)) void nb_sincos(double x, double *s, double *c)
{
    double q = floor(x * 0.63661977236758134308 + 0.5);
    double r = (x - q * 1.57079632673412561417) - q * 6.07710050650619224932e-11;
    double r2 = r * r;
    double ps = 1.0 / 355687428096000.0, pc = 1.0 / 6402373705728000.0;
    ps = NB_FMA(ps, r2, -1.0 / 1307674368000.0);
    ps = NB_FMA(ps, r2, 1.0 / 6227020800.0);
    ps = NB_FMA(ps, r2, -1.0 / 39916800.0);
    ps = NB_FMA(ps, r2, 1.0 / 362880.0);
    ps = NB_FMA(ps, r2, -1.0 / 5040.0);
    ps = NB_FMA(ps, r2, 1.0 / 120.0);
    ps = NB_FMA(ps, r2, -1.0 / 6.0);
    double sr = NB_FMA(r * r2, ps, r);
    pc = NB_FMA(pc, r2, -1.0 / 20922789888000.0);
    pc = NB_FMA(pc, r2, 1.0 / 87178291200.0);
    pc = NB_FMA(pc, r2, -1.0 / 479001600.0);
    pc = NB_FMA(pc, r2, 1.0 / 3628800.0);
    pc = NB_FMA(pc, r2, -1.0 / 40320.0);
    pc = NB_FMA(pc, r2, 1.0 / 720.0);
    pc = NB_FMA(pc, r2, -1.0 / 24.0);
    pc = NB_FMA(pc, r2, 0.5);
    double cr = 1.0 - r2 * pc;
    int64_t quadrant = (int64_t)q & 3;
    double a = (quadrant & 1) ? cr : sr, b = (quadrant & 1) ? sr : cr;
    *s = (quadrant & 2) ? -a : a;
    *c = ((quadrant + 1) & 2) ? -b : b;
}

#define NB_SINGLE 1
#define REAL float
#define NB_SINPI nb_sinpi_f
#define NB_FLOOR floorf
#define NB_SIN sinf
#define NB_COS cosf
#define NB_EXP nb_expf
#define NB_SQRT sqrtf
#define NB_SINC3_LIMIT 0.5f
#define NB_NAME nb_render_f32
#define NB_STOP nb_stop_f32
#include "nbkernel_body.h"
#undef REAL
#undef NB_SINPI
#undef NB_FLOOR
#undef NB_SIN
#undef NB_COS
#undef NB_EXP
#undef NB_SQRT
#undef NB_SINC3_LIMIT
#undef NB_NAME
#undef NB_STOP
#undef NB_SINGLE

#define NB_SINGLE 0
#define REAL double
#define NB_SINPI nb_sinpi_d
#define NB_FLOOR floor
#define NB_SIN sin
#define NB_COS cos
#define NB_EXP exp
#define NB_SQRT sqrt
#define NB_SINC3_LIMIT 0.1
#define NB_NAME nb_render_f64
#define NB_STOP nb_stop_f64
#include "nbkernel_body.h"

#include "nbadjoint.h"
