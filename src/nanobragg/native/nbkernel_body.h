/* Body of the fused kernel for one precision (REAL); included twice by nbkernel.c. */

/* Constants of the lattice factor in the working precision. */
typedef struct {
    REAL n[3], nprod, nsq, fudge, fdef, recip[9];
} NB_FN(_consts);

static NB_FN(_consts) NB_FN(_make_consts)(const nb_params *p)
{
    NB_FN(_consts) c;
    for (int a = 0; a < 3; a++)
        c.n[a] = (REAL)p->N[a];
    c.nprod = c.n[0] * c.n[1] * c.n[2];
    c.nsq = c.n[0] * c.n[0] * c.n[1] * c.n[1] * c.n[2] * c.n[2];
    c.fudge = (REAL)p->fudge;
    c.fdef = (REAL)p->default_F;
    for (int j = 0; j < 9; j++)
        c.recip[j] = (REAL)p->recip[j];
    return c;
}

/* sin(pi N d) / sin(pi d) from the offset d = h - nearest(h) (N at d = 0). */
static inline __attribute__((always_inline)) REAL NB_FN(_ratio)(REAL d, REAL n)
{
    REAL x = n * d;
    REAL r = x - NB_FLOOR(x + (REAL)0.5);
    REAL v = NB_SINPI(r) / NB_SINPI(d);
    return d == (REAL)0 ? n : v;
}

/* The C's sin(N x) / sin(x) with x = pi h of the full index (N at x = 0), in double. */
static inline __attribute__((always_inline)) REAL NB_FN(_direct)(double h, double n)
{
    double x = 3.141592653589793 * h;
    double safe = x == 0.0 ? 0.5 : x;
    double v = sin(n * safe) / sin(safe);
    return (REAL)(x == 0.0 ? n : v);
}

/* 3 (sin x / x - cos x) / x^2 from x^2 (series near 0) and x. */
static inline __attribute__((always_inline)) REAL NB_FN(_sinc3)(REAL x2, REAL x)
{
    const REAL limit = NB_SINC3_LIMIT;
    int small = x2 < limit * limit;
    REAL xs = small ? (REAL)1 : x;
    REAL direct = (REAL)3.0 * (NB_SIN(xs) / xs - NB_COS(xs)) / (xs * xs);
    REAL v = small ? x2 : (REAL)0;
    REAL s = (REAL)-1.34949948208585e-13;
    s = s * v + (REAL)3.2118087673643227e-11;
    s = s * v + (REAL)-5.7812557812557815e-09;
    s = s * v + (REAL)7.515632515632515e-07;
    s = s * v + (REAL)-6.613756613756614e-05;
    s = s * v + (REAL)0.0035714285714285713;
    s = s * v + (REAL)-0.1;
    s = s * v + (REAL)1.0;
    return small ? s : direct;
}

/* F_latt of one evaluation for a lattice shape (a constant at each call site). An axis
 * with N = 1 (the least N a render without gradients has) gives a factor of exactly 1,
 * as the eager kernel's skipped axis. */
static inline __attribute__((always_inline)) REAL NB_FN(_lattice)(
    const NB_FN(_consts) *c, double h, double k, double l, const int shape)
{
    if (shape == NB_SQUARE)
        return NB_FN(_ratio)((REAL)(h - floor(h + 0.5)), c->n[0])
            * NB_FN(_ratio)((REAL)(k - floor(k + 0.5)), c->n[1])
            * NB_FN(_ratio)((REAL)(l - floor(l + 0.5)), c->n[2]);
    if (shape == NB_SQUARE_DIRECT)
        return NB_FN(_direct)(h, (double)c->n[0]) * NB_FN(_direct)(k, (double)c->n[1])
            * NB_FN(_direct)(l, (double)c->n[2]);
    if (shape == NB_ROUND_DIRECT) {
        /* the C's own arithmetic in double: its direct sinc3 cancels to 0 (or a few
         * ulps) for tiny x, where the series would give 1 */
        double n0 = c->n[0], n1 = c->n[1], n2 = c->n[2];
        double eh = h - ceil(h - 0.5), ek = k - ceil(k - 0.5), el = l - ceil(l - 0.5);
        double hrad = eh * eh * n0 * n0 + ek * ek * n1 * n1 + el * el * n2 * n2;
        double x = 3.141592653589793 * sqrt(hrad * (double)c->fudge);
        double v = x == 0.0 ? 1.0 : 3.0 * (sin(x) / x - cos(x)) / (x * x);
        return (REAL)(n0 * n1 * n2 * 0.723601254558268 * v);
    }
    REAL dh = (REAL)(h - ceil(h - 0.5));
    REAL dk = (REAL)(k - ceil(k - 0.5));
    REAL dl = (REAL)(l - ceil(l - 0.5));
    if (shape == NB_ROUND) {
        REAL hrad = dh * dh * c->n[0] * c->n[0] + dk * dk * c->n[1] * c->n[1]
            + dl * dl * c->n[2] * c->n[2];
        REAL arg = hrad * c->fudge;
        REAL x = arg > (REAL)0 ? (REAL)3.141592653589793 * NB_SQRT(arg) : (REAL)0;
        REAL x2 = (REAL)9.869604401089358 * arg;
        return c->nprod * (REAL)0.723601254558268 * NB_FN(_sinc3)(x2, x);
    }
    const REAL *r = c->recip;
    REAL q0 = dh * r[0] + dk * r[3] + dl * r[6];
    REAL q1 = dh * r[1] + dk * r[4] + dl * r[7];
    REAL q2 = dh * r[2] + dk * r[5] + dl * r[8];
    REAL rad = (q0 * q0 + q1 * q1 + q2 * q2) * c->nsq;
    if (shape == NB_GAUSS)
        return c->nprod * NB_EXP(-(rad / (REAL)0.63 * c->fudge));
    return rad * c->fudge < (REAL)0.3969 ? c->nprod : (REAL)0;
}

/* The C's round-crystal F_latt (double arithmetic, its direct sinc3) of orientation row
 * for the lanes of a block, in float renders: sine and cosine by nb_sincos where
 * x >= 0.1 (within an ulp of libm's, which float keeps), libm's where the C's formula
 * cancels (x < 0.1, rare), whose last bits the image then shows. */
static void NB_FN(_round_lanes)(const NB_FN(_consts) *c, int width, const double *sx,
                                const double *sy, const double *sz, const double *row,
                                REAL *out)
{
    double x[NB_BLOCK];
    const double n0 = c->n[0], n1 = c->n[1], n2 = c->n[2], fudge = c->fudge;
    const double scale = n0 * n1 * n2 * 0.723601254558268;
    #pragma omp simd
    for (int i = 0; i < width; i++) {
        double h = sx[i] * row[0] + sy[i] * row[1] + sz[i] * row[2];
        double k = sx[i] * row[3] + sy[i] * row[4] + sz[i] * row[5];
        double l = sx[i] * row[6] + sy[i] * row[7] + sz[i] * row[8];
        double eh = h - ceil(h - 0.5), ek = k - ceil(k - 0.5), el = l - ceil(l - 0.5);
        double hrad = eh * eh * n0 * n0 + ek * ek * n1 * n1 + el * el * n2 * n2;
        double xi = 3.141592653589793 * sqrt(hrad * fudge), s, co;
        x[i] = xi;
        nb_sincos(xi, &s, &co);
        double safe = xi < 0.1 ? 1.0 : xi;
        out[i] = (REAL)(scale * (3.0 * (s / safe - co) / (safe * safe)));
    }
    for (int i = 0; i < width; i++) {
        if (x[i] >= 0.1)
            continue;
        double xi = x[i];
        double v = xi == 0.0 ? 1.0 : 3.0 * (sin(xi) / xi - cos(xi)) / (xi * xi);
        out[i] = (REAL)(scale * v);
    }
}

/* F of the nearest reflection (default_F outside the grid). */
static inline __attribute__((always_inline)) REAL NB_FN(_nearest)(
    const nb_params *p, const REAL *table, REAL fdef, double h, double k, double l)
{
    int64_t at = nb_nearest_at(p, h, k, l);
    /* an unconditional gather (index 0 outside) keeps the loop vectorised */
    REAL value = table[at < 0 ? 0 : at];
    return at >= 0 ? value : fdef;
}

/* Tricubic interpolation of F over the 4x4x4 neighbours (clamped at the grid edge). */
static inline REAL NB_FN(_tricubic)(const nb_params *p, const REAL *table, double h,
                                    double k, double l)
{
    double wh[4], wk[4], wl[4];
    int64_t ah[4], ak[4], al[4];
    nb_weights(h, p->mins[0], p->ranges[0], wh, ah);
    nb_weights(k, p->mins[1], p->ranges[1], wk, ak);
    nb_weights(l, p->mins[2], p->ranges[2], wl, al);
    const int64_t kr = p->ranges[1], lr = p->ranges[2];
    double sum = 0.0;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            for (int m = 0; m < 4; m++)
                sum += (double)table[(ah[i] * kr + ak[j]) * lr + al[m]]
                    * (wh[i] * wk[j] * wl[m]);
    return (REAL)sum;
}

/* Per-lane pixel state of a block. */
typedef struct {
    int64_t panel[NB_BLOCK], limit[NB_BLOCK];
    double ps[NB_BLOCK], pf[NB_BLOCK];
    double dx[NB_BLOCK], dy[NB_BLOCK], dz[NB_BLOCK], omega[NB_BLOCK], capture[NB_BLOCK];
    double sx[NB_BLOCK], sy[NB_BLOCK], sz[NB_BLOCK], keep[NB_BLOCK], pol[NB_BLOCK];
    double factor[NB_BLOCK];
} NB_FN(_lanes);

/* The panel, slow and fast index of each pixel of a block, and the tricubic limit
 * (evaluations before which a pixel interpolates). */
static void NB_FN(_pixels)(const nb_params *p, const int64_t *pixels, int64_t first,
                           int64_t b0, int64_t count, NB_FN(_lanes) *L)
{
    for (int i = 0; i < NB_BLOCK; i++) {
        int64_t at = b0 + (i < count ? i : count - 1);
        int64_t pixel = pixels ? pixels[at] : first + at;
        int64_t panel, slow, fast;
        nb_pixel_index(p, pixel, &panel, &slow, &fast);
        L->panel[i] = panel;
        L->ps[i] = (double)slow;
        L->pf[i] = (double)fast;
        int64_t position = first + at;
        L->limit[i] = position < p->stop_position ? INT64_MAX
            : (position == p->stop_position ? p->stop_eval : 0);
    }
}

/* Position of a flat detector point moved onto the sphere of radius distance. */
static inline void NB_FN(_curve)(const nb_params *p, const double *f, const double *s,
                                 double *x, double *y, double *z)
{
    double v[3] = {p->distance * p->beam[0], p->distance * p->beam[1],
                   p->distance * p->beam[2]};
    const double *axes[2] = {s, f};
    double angles[2] = {*y / p->distance, *z / p->distance};
    for (int r = 0; r < 2; r++) {
        const double *a = axes[r];
        double c = cos(angles[r]), sn = sin(angles[r]);
        double along = (a[0] * v[0] + a[1] * v[1] + a[2] * v[2]) * (1.0 - c);
        double w0 = a[0] * along + v[0] * c + (a[1] * v[2] - a[2] * v[1]) * sn;
        double w1 = a[1] * along + v[1] * c + (a[2] * v[0] - a[0] * v[2]) * sn;
        double w2 = a[2] * along + v[2] * c + (a[0] * v[1] - a[1] * v[0]) * sn;
        v[0] = w0;
        v[1] = w1;
        v[2] = w2;
    }
    *x = v[0];
    *y = v[1];
    *z = v[2];
}

/* Diffracted unit vectors of one (layer, sub-pixel) for a block, the solid angle and
 * the fraction the layer absorbs there. */
static void NB_FN(_geometry)(const nb_params *p, const double *panels, int width,
                             int64_t t, double layer, int64_t sub_s, int64_t sub_f,
                             NB_FN(_lanes) *L)
{
    const double os = (double)p->oversample;
    const double ss = (double)sub_s, sf = (double)sub_f;
    const double index = (double)(p->first_layer + t), depth = p->depth;
    const int point = (int)p->point_pixel, curved = (int)p->curved;
    const int capture = (int)p->capture;
    #pragma omp simd
    for (int i = 0; i < width; i++) {
        const double *q = panels + NB_PANEL * L->panel[i];
        const double size = q[12], sub = size / os;
        /* whole numbers below 2^53: the same values as the integer products */
        double fd = sub * (L->pf[i] * os + sf) + sub / 2.0;
        double sd = sub * (L->ps[i] * os + ss) + sub / 2.0;
        double x = fd * q[0] + sd * q[3] + layer * q[6] + q[9];
        double y = fd * q[1] + sd * q[4] + layer * q[7] + q[10];
        double z = fd * q[2] + sd * q[5] + layer * q[8] + q[11];
        if (curved)
            NB_FN(_curve)(p, q, q + 3, &x, &y, &z);
        double air = sqrt(x * x + y * y + z * z);
        double dx = x / air, dy = y / air, dz = z / air;
        L->dx[i] = dx;
        L->dy[i] = dy;
        L->dz[i] = dz;
        L->omega[i] = point ? 1.0 / air / air : size * size / air / air * q[13] / air;
        double parallax = dx * q[6] + dy * q[7] + dz * q[8];
        double absorbed = exp(-index * depth / parallax)
            - exp(-(index + 1.0) * depth / parallax);
        L->capture[i] = capture ? absorbed : 1.0;
    }
}

/* Scattering vectors (1/m) of one source, the resolution cut, the polarization factor
 * (pol), and that of the first evaluation the cut keeps (recorded once per pixel in
 * polar/have). Written without branches so that it vectorises. */
static void NB_FN(_source)(const nb_params *p, int width, const double *inc, double wl,
                           const double *e_in, const double *b_in, NB_FN(_lanes) *L,
                           double *restrict polar, double *restrict have)
{
    #pragma omp simd
    for (int i = 0; i < width; i++) {
        double dx = L->dx[i], dy = L->dy[i], dz = L->dz[i];
        double sx = (dx - inc[0]) / wl, sy = (dy - inc[1]) / wl, sz = (dz - inc[2]) / wl;
        L->sx[i] = sx;
        L->sy[i] = sy;
        L->sz[i] = sz;
        double stol = 0.5 * sqrt(sx * sx + sy * sy + sz * sz);
        double keep = (p->dmin > 0 && stol > 0 && p->dmin > 0.5 / stol) ? 0.0 : 1.0;
        L->keep[i] = keep;
        double c2t = inc[0] * dx + inc[1] * dy + inc[2] * dz;
        double eo = e_in[0] * dx + e_in[1] * dy + e_in[2] * dz;
        double bo = b_in[0] * dx + b_in[1] * dy + b_in[2] * dz;
        double s2t = 1.0 - c2t * c2t;
        double norm = eo * eo + bo * bo;
        double c2psi = norm > 0 ? (eo * eo - bo * bo) / (norm > 0 ? norm : 1.0) : 1.0;
        double value = 0.5 * (1.0 + c2t * c2t - p->kahn * c2psi * s2t);
        L->pol[i] = value;
        int take = have[i] == 0.0 && keep != 0.0;
        polar[i] = take ? value : polar[i];
        have[i] = take ? 1.0 : have[i];
        /* the -oversample_* factor of this (layer, sub-pixel, source) */
        double f = 1.0;
        f = p->over_thick ? f * L->capture[i] : f;
        f = p->over_polar ? f * value : f;
        f = p->over_omega ? f * L->omega[i] : f;
        L->factor[i] = f;
    }
}

/* Adds the terms F_cell^2 * F_latt^2 over orientations for one source to acc (the
 * running sum times the -oversample_* factor after each addition the C makes); shape
 * and lookup are constants at each call site so that each version vectorises on its
 * own. e0: the flat evaluation index of the first orientation. */
static inline __attribute__((always_inline)) void NB_FN(_orient_loop)(
    const nb_params *p, int width, const NB_FN(_lanes) *L, const double *rows,
    const REAL *restrict table, double *restrict acc, int64_t e0, const int shape,
    const int lookup)
{
    const NB_FN(_consts) c = NB_FN(_make_consts)(p);
    const int water = (int)p->water;
    for (int64_t o = 0; o < p->n_orient; o++) {
        const double r0 = rows[9 * o], r1 = rows[9 * o + 1], r2 = rows[9 * o + 2];
        const double r3 = rows[9 * o + 3], r4 = rows[9 * o + 4], r5 = rows[9 * o + 5];
        const double r6 = rows[9 * o + 6], r7 = rows[9 * o + 7], r8 = rows[9 * o + 8];
        const int64_t e = e0 + o;
        const int lanes = NB_SINGLE && shape == NB_ROUND_DIRECT;
        REAL pre[NB_BLOCK];
        if (lanes)
            NB_FN(_round_lanes)(&c, width, L->sx, L->sy, L->sz, rows + 9 * o, pre);
        #pragma omp simd
        for (int i = 0; i < width; i++) {
            double h = L->sx[i] * r0 + L->sy[i] * r1 + L->sz[i] * r2;
            double k = L->sx[i] * r3 + L->sy[i] * r4 + L->sz[i] * r5;
            double l = L->sx[i] * r6 + L->sy[i] * r7 + L->sz[i] * r8;
            REAL latt = lanes ? pre[i] : NB_FN(_lattice)(&c, h, k, l, shape);
            REAL fcell = c.fdef;
            if (lookup == NB_NEAREST)
                fcell = NB_FN(_nearest)(p, table, c.fdef, h, k, l);
            if (lookup == NB_TRICUBIC)
                fcell = e < L->limit[i] ? NB_FN(_tricubic)(p, table, h, k, l)
                                        : NB_FN(_nearest)(p, table, c.fdef, h, k, l);
            REAL term = (fcell * fcell) * (latt * latt);
            int kept = L->keep[i] != 0.0;
            int passed = !kept || (latt == (REAL)0 && !water);
            acc[i] = (acc[i] + (kept ? (double)term : 0.0)) * (passed ? 1.0 : L->factor[i]);
        }
    }
}

#define NB_LOOKUPS(shape)                                                          \
    do {                                                                           \
        if (p->lookup == NB_TRICUBIC)                                              \
            NB_FN(_orient_loop)(p, width, L, rows, table, acc, e0, shape, NB_TRICUBIC); \
        else if (p->lookup == NB_NEAREST)                                          \
            NB_FN(_orient_loop)(p, width, L, rows, table, acc, e0, shape, NB_NEAREST); \
        else                                                                       \
            NB_FN(_orient_loop)(p, width, L, rows, table, acc, e0, shape, NB_DEFAULT_F); \
    } while (0)

static void NB_FN(_orientations)(const nb_params *p, int width, const NB_FN(_lanes) *L,
                                 const double *rows, const REAL *table, double *acc,
                                 int64_t e0)
{
    switch (p->shape) {
    case NB_ROUND: NB_LOOKUPS(NB_ROUND); break;
    case NB_GAUSS: NB_LOOKUPS(NB_GAUSS); break;
    case NB_TOPHAT: NB_LOOKUPS(NB_TOPHAT); break;
    case NB_SQUARE_DIRECT: NB_LOOKUPS(NB_SQUARE_DIRECT); break;
    case NB_ROUND_DIRECT: NB_LOOKUPS(NB_ROUND_DIRECT); break;
    default: NB_LOOKUPS(NB_SQUARE); break;
    }
}

/* Renders n pixels (flat indices panel*frame + slow*fpixels + fast; pixels NULL: first
 * onwards; first is also the position of the call's first pixel in the whole list)
 * into out (photons). */
void NB_NAME(const nb_params *p, const int64_t *pixels, int64_t first, int64_t n,
             const double *panels, const double *layers, const double *incident,
             const double *wavelength, const double *e_in, const double *b_in,
             const double *rows, const REAL *table, REAL *out)
{
    NB_FN(_lanes) L;
    double omega[NB_BLOCK], capture[NB_BLOCK], polar[NB_BLOCK], have[NB_BLOCK];
    double acc[NB_BLOCK];
    const int64_t os = p->oversample, ns = p->n_sources, no = p->n_orient;
    const int running = p->over_thick || p->over_polar || p->over_omega;
    for (int64_t b0 = 0; b0 < n; b0 += NB_BLOCK) {
        int64_t count = n - b0 < NB_BLOCK ? n - b0 : NB_BLOCK;
        /* a short last block only pays for whole vectors, not the whole block */
        int width = (int)((count + NB_LANES - 1) / NB_LANES * NB_LANES);
        NB_FN(_pixels)(p, pixels, first, b0, count, &L);
        for (int i = 0; i < NB_BLOCK; i++) {
            acc[i] = running ? p->background : 0.0;
            have[i] = 0.0;
            polar[i] = 0.0;
        }
        for (int64_t t = 0; t < p->n_layers; t++) {
            for (int64_t sub = 0; sub < os * os; sub++) {
                NB_FN(_geometry)(p, panels, width, t, layers[t], sub / os, sub % os, &L);
                for (int i = 0; sub == 0 && i < width; i++) {
                    omega[i] = t == 0 ? L.omega[i] : omega[i];
                    capture[i] = L.capture[i]; /* the last layer's is kept */
                }
                for (int64_t s = 0; s < ns; s++) {
                    NB_FN(_source)(p, width, incident + 3 * s, wavelength[s], e_in + 3 * s,
                                   b_in + 3 * s, &L, polar, have);
                    NB_FN(_orientations)(p, width, &L, rows, table, acc,
                                         ((t * os * os + sub) * ns + s) * no);
                }
            }
        }
        for (int64_t i = 0; i < count; i++) {
            double factor = p->over_omega ? 1.0 : omega[i];
            factor = p->over_thick ? factor : factor * capture[i];
            factor = (p->over_polar || p->nopolar) ? factor : factor * polar[i];
            double sum = running ? acc[i] : p->background + acc[i];
            out[b0 + i] = (REAL)(p->scale * sum * factor);
        }
    }
}

/* The first evaluation, in the C's serial order over the n pixels, that tricubic
 * interpolation cannot take (its neighbourhood leaves the grid) and that the C reaches
 * (inside the resolution cut, and F_latt != 0 unless there is water). found[0]: its
 * position in the list (first + index), found[1]: its flat evaluation index; -1, -1
 * when there is none. */
void NB_STOP(const nb_params *p, const int64_t *pixels, int64_t first, int64_t n,
             const double *panels, const double *layers, const double *incident,
             const double *wavelength, const double *e_in, const double *b_in,
             const double *rows, int64_t *found)
{
    NB_FN(_lanes) L;
    double polar[NB_BLOCK], have[NB_BLOCK];
    int64_t hit[NB_BLOCK];
    const NB_FN(_consts) c = NB_FN(_make_consts)(p);
    const int64_t os = p->oversample, ns = p->n_sources, no = p->n_orient;
    found[0] = found[1] = -1;
    for (int64_t b0 = 0; b0 < n; b0 += NB_BLOCK) {
        int64_t count = n - b0 < NB_BLOCK ? n - b0 : NB_BLOCK;
        int width = (int)count;
        NB_FN(_pixels)(p, pixels, first, b0, count, &L);
        for (int i = 0; i < NB_BLOCK; i++) {
            hit[i] = INT64_MAX;
            have[i] = 0.0;
        }
        for (int64_t t = 0; t < p->n_layers; t++) {
            for (int64_t sub = 0; sub < os * os; sub++) {
                NB_FN(_geometry)(p, panels, width, t, layers[t], sub / os, sub % os, &L);
                for (int64_t s = 0; s < ns; s++) {
                    NB_FN(_source)(p, width, incident + 3 * s, wavelength[s], e_in + 3 * s,
                                   b_in + 3 * s, &L, polar, have);
                    int64_t e0 = ((t * os * os + sub) * ns + s) * no;
                    for (int64_t o = 0; o < no; o++) {
                        const double *r = rows + 9 * o;
                        for (int i = 0; i < width; i++) {
                            double h = L.sx[i] * r[0] + L.sy[i] * r[1] + L.sz[i] * r[2];
                            double k = L.sx[i] * r[3] + L.sy[i] * r[4] + L.sz[i] * r[5];
                            double l = L.sx[i] * r[6] + L.sy[i] * r[7] + L.sz[i] * r[8];
                            if (hit[i] != INT64_MAX || L.keep[i] == 0.0
                                || !nb_outside(p, h, k, l))
                                continue;
                            if (p->water || NB_FN(_lattice)(&c, h, k, l, (int)p->shape) != 0)
                                hit[i] = e0 + o;
                        }
                    }
                }
            }
        }
        for (int i = 0; i < width; i++) {
            if (hit[i] != INT64_MAX) {
                found[0] = first + b0 + i;
                found[1] = hit[i];
                return;
            }
        }
    }
}
