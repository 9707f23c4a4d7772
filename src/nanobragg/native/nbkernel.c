/* Fused per-pixel evaluation of nanobragg's common case, compiled at run time.
 *
 * One call renders a list of pixels. For each pixel the sub-steps are visited in the
 * simulator's loop order (layer, sub-pixel, source, phi step, mosaic domain) and the
 * terms F_cell^2 * F_latt^2 are summed in that order in double, so a pixel's value
 * does not depend on which other pixels share its call. Pixels are processed in blocks
 * of NB_BLOCK so the innermost loop runs over pixels and vectorises.
 *
 * The lattice factor uses the reduced argument: with h = m + d (m the nearest integer),
 * sincg(h)^2 = (sin(pi N d) / sin(pi d))^2 for whole N, and sin(pi x) is a polynomial
 * on |x| <= 1/2 after a second reduction of N d. Everything up to the Miller indices is
 * double; REAL (float or double) is the precision of the lattice factor.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define NB_BLOCK 64
#define NB_LANES 16
#define NB_CAT_(a, b) a##b
#define NB_CAT(a, b) NB_CAT_(a, b)
#define NB_FN(x) NB_CAT(NB_NAME, x)

typedef struct {
    double fdet[3], sdet[3], odet[3], pix0[3];
    double pixel_size, close_distance, kahn, dmin;
    double N[3];
    double default_F, background, scale;
    int64_t oversample, fpixels, point_pixel, nopolar;
    int64_t n_layers, n_sources, n_orient;
    int64_t table_loaded, mins[3], ranges[3];
} nb_params;

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

#define REAL float
#define NB_SINPI nb_sinpi_f
#define NB_FLOOR floorf
#define NB_NAME nb_render_f32
#include "nbkernel_body.h"
#undef REAL
#undef NB_SINPI
#undef NB_FLOOR
#undef NB_NAME

#define REAL double
#define NB_SINPI nb_sinpi_d
#define NB_FLOOR floor
#define NB_NAME nb_render_f64
#include "nbkernel_body.h"
