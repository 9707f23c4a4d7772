/* Adjoint of the fused kernel (included by nbkernel.c): given dL/d(photons) per pixel,
 * the gradients of L with respect to every tensor the forward reads, in double.
 *
 * It covers every render the forward does: the four lattice shapes, default, nearest
 * and tricubic structure factors (with the forward's stop), sensor layers with
 * absorption, flat and curved detectors of one or stacked panels, point pixels and the
 * -oversample_* running products. The derivatives are those of the eager kernel's
 * autograd: sin(pi N d)/sin(pi d) by its series near the peak (|pi d| max(N, 1) < 0.1),
 * the sphere transform by its series near the centre, the polarization through its
 * smooth form 0.5 (1 + c2t^2 - kahn (e^2 - b^2)); values where the C's direct formula
 * is asked for (round shape) are the forward's.
 *
 * Gradient buffer layout (doubles), see nb_grad_size: per panel the 14 doubles of the
 * forward's panel array (fdet, sdet, odet, pix0, pixel size, close distance), then
 * scale background kahn N[3] fudge recip[9] depth distance beam[3] layers[T]
 * incident[3S] wavelength[S] e_in[3S] b_in[3S] rows[9 O] and, when asked for, the F
 * table.
 */

#include <stdlib.h>

enum { NB_G_SCALE = 0, NB_G_BG = 1, NB_G_KAHN = 2, NB_G_N = 3, NB_G_FUDGE = 6,
       NB_G_RECIP = 7, NB_G_DEPTH = 16, NB_G_DIST = 17, NB_G_BEAM = 18, NB_G_GLOBALS = 21 };

/* Offsets of the parts of the buffer. */
typedef struct {
    int64_t glob, layers, inc, wl, e_in, b_in, rows, table, size;
} nb_grad_layout;

static nb_grad_layout nb_layout(const nb_params *p, int64_t with_table)
{
    nb_grad_layout g;
    g.glob = NB_PANEL * p->n_panels;
    g.layers = g.glob + NB_G_GLOBALS;
    g.inc = g.layers + p->n_layers;
    g.wl = g.inc + 3 * p->n_sources;
    g.e_in = g.wl + p->n_sources;
    g.b_in = g.e_in + 3 * p->n_sources;
    g.rows = g.b_in + 3 * p->n_sources;
    g.table = g.rows + 9 * p->n_orient;
    g.size = g.table + (with_table ? p->ranges[0] * p->ranges[1] * p->ranges[2] : 0);
    return g;
}

/* Doubles in the gradient buffer (with or without the F table). */
int64_t nb_grad_size(const nb_params *p, int64_t with_table)
{
    return nb_layout(p, with_table).size;
}

/* ---- lattice factor -------------------------------------------------------------- */

/* Derivatives of F_latt by the Miller indices, N, fudge (set by the round and gauss
 * shapes) and the reciprocal rows (set by the gauss shape). */
typedef struct {
    double h[3], n[3], fudge, recip[9];
} nb_dlatt;

/* sin(pi N d)/sin(pi d) (|d| <= 1/2) and its derivatives by d and by N. */
static void nb_ratio_grad(double d, double n, double *f, double *fd, double *fn)
{
    static const double A[6] = {1.0, -1.0 / 6, 1.0 / 120, -1.0 / 5040, 1.0 / 362880,
                                -1.0 / 39916800};
    static const double B[6] = {1.0, 1.0 / 6, 7.0 / 360, 31.0 / 15120, 127.0 / 604800,
                                73.0 / 3421440};
    const double pi = 3.141592653589793;
    double x = pi * d;
    if (fabs(x) * (n > 1.0 ? n : 1.0) < 0.1) {
        double v = x * x, u = n * n * v;
        double a = A[5], da = 0.0, b = B[5], db = 0.0;
        for (int k = 4; k >= 0; k--) {
            da = da * u + a;
            a = a * u + A[k];
            db = db * v + b;
            b = b * v + B[k];
        }
        *f = n * a * b;
        *fd = pi * n * (da * n * n * 2.0 * x * b + a * db * 2.0 * x);
        *fn = a * b + n * da * 2.0 * n * v * b;
        return;
    }
    /* sin and cos of pi d and pi N d by the forward's polynomial on reduced arguments;
     * sin and cos of pi N d only up to a common sign (-1)^m, which f, fd and fn share,
     * so the image's terms f^2 and f * fd, f * fn do not see it */
    double y = n * d, r = y - floor(y + 0.5);
    double s = nb_sinpi_d(d), c = nb_sinpi_d(0.5 - fabs(d));
    double sn = nb_sinpi_d(r), cn = nb_sinpi_d(0.5 - fabs(r));
    double inv = 1.0 / s;
    *f = sn * inv;
    *fd = pi * (n * cn - *f * c) * inv;
    *fn = x * cn * inv;
}

/* The products of the other two of three numbers. */
static void nb_others(const double *v, double *out)
{
    out[0] = v[1] * v[2];
    out[1] = v[0] * v[2];
    out[2] = v[0] * v[1];
}

static double nb_square_grad(const nb_params *p, const double *hkl, nb_dlatt *dl)
{
    double f[3], fd[3], fn[3], others[3];
    for (int j = 0; j < 3; j++)
        nb_ratio_grad(hkl[j] - floor(hkl[j] + 0.5), p->N[j], f + j, fd + j, fn + j);
    if (dl) {
        nb_others(f, others);
        for (int j = 0; j < 3; j++) {
            dl->h[j] = fd[j] * others[j];
            dl->n[j] = fn[j] * others[j];
        }
    }
    return f[0] * f[1] * f[2];
}

/* sinc3 = 3 (sin x / x - cos x) / x^2 and its derivative by arg (x = pi sqrt(arg)). */
static double nb_sinc3_grad(double arg, double *dv)
{
    static const double C[8] = {1.0, -0.1, 0.0035714285714285713, -6.613756613756614e-05,
                                7.515632515632515e-07, -5.7812557812557815e-09,
                                3.2118087673643227e-11, -1.34949948208585e-13};
    const double pi2 = 9.869604401089358;
    double x2 = pi2 * arg;
    if (x2 < 0.01) {
        double v = C[7], d = 0.0;
        for (int k = 6; k >= 0; k--) {
            d = d * x2 + v;
            v = v * x2 + C[k];
        }
        *dv = pi2 * d;
        return v;
    }
    double x = sqrt(x2), sx = sin(x);
    double v = 3.0 * (sx / x - cos(x)) / x2;
    *dv = (3.0 * sx / x2 - 3.0 * v / x) * pi2 / (2.0 * x);
    return v;
}

static double nb_round_grad(const nb_params *p, const double *hkl, nb_dlatt *dl)
{
    const double *N = p->N, scale = 0.723601254558268;
    double e[3], hrad = 0.0, others[3], dv;
    for (int j = 0; j < 3; j++) {
        e[j] = hkl[j] - ceil(hkl[j] - 0.5);
        hrad += e[j] * e[j] * N[j] * N[j];
    }
    double arg = hrad * p->fudge, nprod = N[0] * N[1] * N[2];
    double v = nb_sinc3_grad(arg > 0 ? arg : 0.0, &dv);
    if (dl) {
        nb_others(N, others);
        double slope = nprod * scale * dv;
        for (int j = 0; j < 3; j++) {
            dl->h[j] = slope * p->fudge * 2.0 * e[j] * N[j] * N[j];
            dl->n[j] = others[j] * scale * v + slope * p->fudge * 2.0 * e[j] * e[j] * N[j];
        }
        dl->fudge = slope * hrad;
    }
    if (p->shape == NB_ROUND_DIRECT) {
        double x = 3.141592653589793 * sqrt(arg);
        v = x == 0.0 ? 1.0 : 3.0 * (sin(x) / x - cos(x)) / (x * x);
    }
    return nprod * scale * v;
}

/* The Gaussian and top-hat spots: functions of |dh a* + dk b* + dl c*|^2 (Na Nb Nc)^2. */
static double nb_spot_grad(const nb_params *p, const double *hkl, nb_dlatt *dl)
{
    const double *N = p->N, *r = p->recip;
    double e[3], q[3], others[3];
    for (int j = 0; j < 3; j++)
        e[j] = hkl[j] - ceil(hkl[j] - 0.5);
    for (int c = 0; c < 3; c++)
        q[c] = e[0] * r[c] + e[1] * r[3 + c] + e[2] * r[6 + c];
    nb_others(N, others);
    double nprod = N[0] * N[1] * N[2], nsq = nprod * nprod;
    double qq = q[0] * q[0] + q[1] * q[1] + q[2] * q[2], rad = qq * nsq;
    if (p->shape == NB_TOPHAT) {
        int inside = rad * p->fudge < 0.3969;
        for (int j = 0; dl && j < 3; j++) {
            dl->h[j] = 0.0; /* flat inside and outside the cut */
            dl->n[j] = inside ? others[j] : 0.0;
        }
        return inside ? nprod : 0.0;
    }
    double spread = exp(-(rad / 0.63 * p->fudge)), latt = nprod * spread;
    if (dl) {
        double g_rad = -latt * p->fudge / 0.63;
        for (int j = 0; j < 3; j++) {
            dl->h[j] = g_rad * nsq * 2.0 * (q[0] * r[3 * j] + q[1] * r[3 * j + 1]
                                            + q[2] * r[3 * j + 2]);
            for (int c = 0; c < 3; c++)
                dl->recip[3 * j + c] = g_rad * nsq * 2.0 * q[c] * e[j];
            dl->n[j] = others[j] * spread + g_rad * qq * 2.0 * N[j] * others[j] * others[j];
        }
        dl->fudge = -latt * rad / 0.63;
    }
    return latt;
}

/* F_latt of one evaluation and, when dl is given, its derivatives. */
static double nb_lattice_grad(const nb_params *p, const double *hkl, nb_dlatt *dl)
{
    switch (p->shape) {
    case NB_ROUND:
    case NB_ROUND_DIRECT:
        return nb_round_grad(p, hkl, dl);
    case NB_GAUSS:
    case NB_TOPHAT:
        return nb_spot_grad(p, hkl, dl);
    default:
        return nb_square_grad(p, hkl, dl);
    }
}

/* ---- structure factor ------------------------------------------------------------ */

/* Lagrange weights (and their derivatives) of the 4 nodes floor(x)-1..floor(x)+2. */
static void nb_weights_grad(double x, int64_t lo, int64_t n, double *w, double *dw,
                            int64_t *at)
{
    nb_weights(x, lo, n, w, at);
    double base = floor(x) - 1.0;
    for (int i = 0; i < 4; i++) {
        double num = 1.0, dnum = 0.0, den = 1.0, ni = base + i;
        for (int j = 0; j < 4; j++) {
            if (j != i) {
                dnum = dnum * (x - (base + j)) + num;
                num = num * (x - (base + j));
                den = den * (ni - (base + j));
            }
        }
        dw[i] = dnum / den;
    }
}

/* F_cell of one evaluation and where it was read: the nearest reflection's index (-1:
 * none, default_F) or, interpolated, the 4x4x4 neighbourhood and its weights. */
typedef struct {
    double value, fh[3], w[3][4];
    int64_t at[3][4], flat;
    int interp;
} nb_cell;

/* F_cell of one evaluation (interp: interpolate, tricubic before the stop) and, when
 * derivatives is set, its derivatives by h, k, l (nonzero for interpolation only). */
static void nb_cell_look(const nb_params *p, const double *table, const double *hkl,
                         int interp, int derivatives, nb_cell *c)
{
    c->fh[0] = c->fh[1] = c->fh[2] = 0.0;
    c->interp = interp && p->lookup != NB_DEFAULT_F;
    c->flat = -1;
    c->value = p->default_F;
    if (p->lookup == NB_DEFAULT_F)
        return;
    if (!c->interp) {
        c->flat = nb_nearest_at(p, hkl[0], hkl[1], hkl[2]);
        c->value = c->flat < 0 ? p->default_F : table[c->flat];
        return;
    }
    double dw[3][4], sum = 0.0;
    for (int j = 0; j < 3; j++)
        nb_weights_grad(hkl[j], p->mins[j], p->ranges[j], c->w[j], dw[j], c->at[j]);
    const int64_t kr = p->ranges[1], lr = p->ranges[2];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            for (int m = 0; m < 4; m++) {
                double v = table[(c->at[0][i] * kr + c->at[1][j]) * lr + c->at[2][m]];
                sum += v * (c->w[0][i] * c->w[1][j] * c->w[2][m]);
                if (derivatives) {
                    c->fh[0] += v * dw[0][i] * c->w[1][j] * c->w[2][m];
                    c->fh[1] += v * c->w[0][i] * dw[1][j] * c->w[2][m];
                    c->fh[2] += v * c->w[0][i] * c->w[1][j] * dw[2][m];
                }
            }
    c->value = sum;
}

/* Adds g_fc dF_cell/dtable of a looked-up cell to the table's gradient. */
static void nb_cell_table_grad(const nb_params *p, const nb_cell *c, double g_fc,
                               double *g_table)
{
    if (!c->interp) {
        if (c->flat >= 0)
            g_table[c->flat] += g_fc;
        return;
    }
    const int64_t kr = p->ranges[1], lr = p->ranges[2];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            for (int m = 0; m < 4; m++)
                g_table[(c->at[0][i] * kr + c->at[1][j]) * lr + c->at[2][m]]
                    += g_fc * (c->w[0][i] * c->w[1][j] * c->w[2][m]);
}

/* ---- one evaluation -------------------------------------------------------------- */

/* One evaluation's term F_cell^2 F_latt^2 (and F_latt in *latt) and, when g_term is not
 * 0, its gradient added to the buffer: globals (the buffer from its scale entry), g_row
 * for the orientation's rows, gs (dL/dS) for the scattering vector, g_table for the F
 * table (NULL: not wanted). */
static double nb_eval_grad(const nb_params *p, const double *table, const double *S,
                           const double *row, int interp, double g_term, double *globals,
                           double *g_row, double *gs, double *g_table, double *latt)
{
    double hkl[3];
    for (int j = 0; j < 3; j++)
        hkl[j] = S[0] * row[3 * j] + S[1] * row[3 * j + 1] + S[2] * row[3 * j + 2];
    nb_dlatt dl;
    nb_cell cell;
    const int want = g_term != 0.0;
    *latt = nb_lattice_grad(p, hkl, want ? &dl : NULL);
    nb_cell_look(p, table, hkl, interp, want, &cell);
    const double fc = cell.value, *fh = cell.fh;
    double term = (fc * fc) * (*latt * *latt);
    if (!want)
        return term;
    double g_latt = g_term * fc * fc * 2.0 * *latt;
    double g_fc = g_term * *latt * *latt * 2.0 * fc;
    for (int j = 0; j < 3; j++) {
        double g_h = g_latt * dl.h[j] + g_fc * fh[j];
        globals[NB_G_N + j] += g_latt * dl.n[j];
        for (int c = 0; c < 3; c++) {
            g_row[3 * j + c] += g_h * S[c];
            gs[c] += g_h * row[3 * j + c];
        }
    }
    if (p->shape == NB_ROUND || p->shape == NB_ROUND_DIRECT || p->shape == NB_GAUSS)
        globals[NB_G_FUDGE] += g_latt * dl.fudge;
    if (p->shape == NB_GAUSS)
        for (int k = 0; k < 9; k++)
            globals[NB_G_RECIP + k] += g_latt * dl.recip[k];
    if (g_table)
        nb_cell_table_grad(p, &cell, g_fc, g_table);
    return term;
}

/* ---- geometry of a sub-pixel ----------------------------------------------------- */

/* What a (layer, sub-pixel) of a pixel derives from, and its factors. */
typedef struct {
    double fd, sd, cf, cs, flat[3], pos[3], d[3], air, omega, capture, e1, e2, parallax;
    double index;
} nb_geo;

/* Rotates v about the unit axis a by angle (Rodrigues, as the forward's curve). */
static void nb_rotate(const double *a, const double *v, double angle, double *w)
{
    double c = cos(angle), sn = sin(angle);
    double along = (a[0] * v[0] + a[1] * v[1] + a[2] * v[2]) * (1.0 - c);
    w[0] = a[0] * along + v[0] * c + (a[1] * v[2] - a[2] * v[1]) * sn;
    w[1] = a[1] * along + v[1] * c + (a[2] * v[0] - a[0] * v[2]) * sn;
    w[2] = a[2] * along + v[2] * c + (a[0] * v[1] - a[1] * v[0]) * sn;
}

/* Gradients of one rotation w = R(a, angle) v by v, a and angle, from gw = dL/dw. */
static void nb_rotate_grad(const double *a, const double *v, double angle, const double *gw,
                           double *gv, double *ga, double *g_angle)
{
    double c = cos(angle), sn = sin(angle);
    double av = a[0] * v[0] + a[1] * v[1] + a[2] * v[2];
    double ag = a[0] * gw[0] + a[1] * gw[1] + a[2] * gw[2];
    double cross_av[3] = {a[1] * v[2] - a[2] * v[1], a[2] * v[0] - a[0] * v[2],
                          a[0] * v[1] - a[1] * v[0]};
    double cross_ga[3] = {gw[1] * a[2] - gw[2] * a[1], gw[2] * a[0] - gw[0] * a[2],
                          gw[0] * a[1] - gw[1] * a[0]};
    double cross_vg[3] = {v[1] * gw[2] - v[2] * gw[1], v[2] * gw[0] - v[0] * gw[2],
                          v[0] * gw[1] - v[1] * gw[0]};
    double g = 0.0;
    for (int k = 0; k < 3; k++) {
        gv[k] = (1.0 - c) * ag * a[k] + c * gw[k] + sn * cross_ga[k];
        ga[k] += (1.0 - c) * (gw[k] * av + v[k] * ag) + sn * cross_vg[k];
        g += gw[k] * (a[k] * av * sn - v[k] * sn + cross_av[k] * c);
    }
    *g_angle = g;
}

/* The geometry of sub-pixel sub of layer t of the pixel (ps, pf) of panel q. */
static void nb_geo_at(const nb_params *p, const double *q, double ps, double pf, int64_t t,
                      double layer, int64_t sub, nb_geo *G)
{
    const double os = (double)p->oversample, size = q[12], step = size / os;
    const double sub_s = (double)(sub / p->oversample), sub_f = (double)(sub % p->oversample);
    G->fd = step * (pf * os + sub_f) + step / 2.0;
    G->sd = step * (ps * os + sub_s) + step / 2.0;
    G->cf = ((pf * os + sub_f) + 0.5) / os;
    G->cs = ((ps * os + sub_s) + 0.5) / os;
    for (int c = 0; c < 3; c++) {
        G->flat[c] = G->fd * q[c] + G->sd * q[3 + c] + layer * q[6 + c] + q[9 + c];
        G->pos[c] = G->flat[c];
    }
    if (p->curved) {
        double start[3] = {p->distance * p->beam[0], p->distance * p->beam[1],
                           p->distance * p->beam[2]}, turned[3];
        nb_rotate(q + 3, start, G->flat[1] / p->distance, turned);
        nb_rotate(q, turned, G->flat[2] / p->distance, G->pos);
    }
    G->air = sqrt(G->pos[0] * G->pos[0] + G->pos[1] * G->pos[1] + G->pos[2] * G->pos[2]);
    for (int c = 0; c < 3; c++)
        G->d[c] = G->pos[c] / G->air;
    G->omega = p->point_pixel ? 1.0 / G->air / G->air
                              : size * size / G->air / G->air * q[13] / G->air;
    G->parallax = G->d[0] * q[6] + G->d[1] * q[7] + G->d[2] * q[8];
    G->index = (double)(p->first_layer + t);
    G->e1 = exp(-G->index * p->depth / G->parallax);
    G->e2 = exp(-(G->index + 1.0) * p->depth / G->parallax);
    G->capture = p->capture ? G->e1 - G->e2 : 1.0;
}

/* Adds the gradient of a sub-pixel's direction (gd), solid angle (g_omega) and capture
 * fraction (g_capture) to its panel's entries gq, layer t and the globals. */
static void nb_geo_grad(const nb_params *p, const double *q, const nb_geo *G, int64_t t,
                        double layer, const double *gd_in, double g_omega, double g_capture,
                        double *grad, double *gq, const nb_grad_layout *L)
{
    const double size = q[12], close = q[13], air = G->air;
    double gd[3] = {gd_in[0], gd_in[1], gd_in[2]}, g_air = 0.0, gp[3], gf[3];
    if (p->point_pixel) {
        g_air = g_omega * -2.0 / (air * air * air);
    } else {
        double a3 = air * air * air;
        g_air = g_omega * -3.0 * G->omega / air;
        gq[12] += g_omega * 2.0 * size * close / a3;
        gq[13] += g_omega * size * size / a3;
    }
    if (p->capture && g_capture != 0.0) {
        double par = G->parallax, i = G->index, depth = p->depth;
        double g_par = g_capture * (G->e1 * i * depth - G->e2 * (i + 1.0) * depth) / (par * par);
        grad[L->glob + NB_G_DEPTH] += g_capture * (-G->e1 * i + G->e2 * (i + 1.0)) / par;
        for (int c = 0; c < 3; c++) {
            gd[c] += g_par * q[6 + c];
            gq[6 + c] += g_par * G->d[c];
        }
    }
    double gd_dot = gd[0] * G->d[0] + gd[1] * G->d[1] + gd[2] * G->d[2];
    for (int c = 0; c < 3; c++)
        gp[c] = (gd[c] - gd_dot * G->d[c]) / air + g_air * G->d[c];
    if (p->curved) {
        const double dist = p->distance;
        double start[3] = {dist * p->beam[0], dist * p->beam[1], dist * p->beam[2]};
        double turned[3], g_turned[3], g_start[3], g2, g1;
        nb_rotate(q + 3, start, G->flat[1] / dist, turned);
        nb_rotate_grad(q, turned, G->flat[2] / dist, gp, g_turned, gq, &g2);
        nb_rotate_grad(q + 3, start, G->flat[1] / dist, g_turned, g_start, gq + 3, &g1);
        gf[0] = 0.0;
        gf[1] = g1 / dist;
        gf[2] = g2 / dist;
        double g_dist = -(g1 * G->flat[1] + g2 * G->flat[2]) / (dist * dist);
        for (int c = 0; c < 3; c++) {
            g_dist += g_start[c] * p->beam[c];
            grad[L->glob + NB_G_BEAM + c] += g_start[c] * dist;
        }
        grad[L->glob + NB_G_DIST] += g_dist;
    } else {
        for (int c = 0; c < 3; c++)
            gf[c] = gp[c];
    }
    double g_layer = 0.0;
    for (int c = 0; c < 3; c++) {
        gq[c] += gf[c] * G->fd;
        gq[3 + c] += gf[c] * G->sd;
        gq[6 + c] += gf[c] * layer;
        gq[9 + c] += gf[c];
        gq[12] += gf[c] * (G->cf * q[c] + G->cs * q[3 + c]);
        g_layer += gf[c] * q[6 + c];
    }
    grad[L->layers + t] += g_layer;
}

/* ---- polarization ---------------------------------------------------------------- */

/* The polarization factor (C formula) at unit direction d for source vectors is, e, b. */
static double nb_polar(const nb_params *p, const double *d, const double *is,
                       const double *e, const double *b)
{
    double c2t = is[0] * d[0] + is[1] * d[1] + is[2] * d[2];
    double eo = e[0] * d[0] + e[1] * d[1] + e[2] * d[2];
    double bo = b[0] * d[0] + b[1] * d[1] + b[2] * d[2];
    double norm = eo * eo + bo * bo;
    double c2psi = norm > 0 ? (eo * eo - bo * bo) / norm : 1.0;
    return 0.5 * (1.0 + c2t * c2t - p->kahn * c2psi * (1.0 - c2t * c2t));
}

/* dL/dpolar = g of the smooth form at direction d and source s: adds to the direction's
 * gradient gd and to the buffer. */
static void nb_polar_grad(const nb_params *p, double g, const double *d, int64_t s,
                          const double *incident, const double *e_in, const double *b_in,
                          double *gd, double *grad, const nb_grad_layout *L)
{
    const double *is = incident + 3 * s, *e = e_in + 3 * s, *b = b_in + 3 * s;
    double c2t = is[0] * d[0] + is[1] * d[1] + is[2] * d[2];
    double eo = e[0] * d[0] + e[1] * d[1] + e[2] * d[2];
    double bo = b[0] * d[0] + b[1] * d[1] + b[2] * d[2];
    grad[L->glob + NB_G_KAHN] += g * -0.5 * (eo * eo - bo * bo);
    for (int c = 0; c < 3; c++) {
        gd[c] += g * (c2t * is[c] - p->kahn * (eo * e[c] - bo * b[c]));
        grad[L->inc + 3 * s + c] += g * c2t * d[c];
        grad[L->e_in + 3 * s + c] += g * -p->kahn * eo * d[c];
        grad[L->b_in + 3 * s + c] += g * p->kahn * bo * d[c];
    }
}

/* ---- one pixel ------------------------------------------------------------------- */

/* What one pixel's adjoint reads. */
typedef struct {
    const nb_params *p;
    const nb_grad_layout *L;
    const double *q, *layers, *inc, *wl, *e_in, *b_in, *rows, *table;
    double ps, pf, *grad, *gq, *g_table;
    int64_t limit; /* tricubic: evaluations before this interpolate */
} nb_pixel;

/* Scattering vector of source s at direction d and whether the resolution cut keeps it. */
static int nb_scatter(const nb_pixel *X, const double *d, int64_t s, double *S)
{
    for (int c = 0; c < 3; c++)
        S[c] = (d[c] - X->inc[3 * s + c]) / X->wl[s];
    double stol = 0.5 * sqrt(S[0] * S[0] + S[1] * S[1] + S[2] * S[2]);
    return !(X->p->dmin > 0 && stol > 0 && X->p->dmin > 0.5 / stol);
}

/* Adds dL/dS = gs of source s to its incident direction and wavelength, and to gd. */
static void nb_scatter_grad(const nb_pixel *X, int64_t s, const double *S, const double *gs,
                            double *gd)
{
    const double wl = X->wl[s];
    double s_dot = 0.0;
    for (int c = 0; c < 3; c++) {
        gd[c] += gs[c] / wl;
        X->grad[X->L->inc + 3 * s + c] -= gs[c] / wl;
        s_dot += gs[c] * S[c];
    }
    X->grad[X->L->wl + s] -= s_dot / wl;
}

/* The evaluations of one (layer, sub-pixel, source) at S with cotangent g_term each
 * (g_terms: per orientation, or NULL for g_term for all); returns their sum and adds
 * dL/dS to gs. */
static double nb_group(const nb_pixel *X, const double *S, int64_t e0, double g_term,
                       const double *g_terms, double *gs)
{
    const nb_params *p = X->p;
    double sum = 0.0, latt;
    for (int64_t o = 0; o < p->n_orient; o++)
        sum += nb_eval_grad(p, X->table, S, X->rows + 9 * o, e0 + o < X->limit,
                            g_terms ? g_terms[o] : g_term, X->grad + X->L->glob,
                            X->grad + X->L->rows + 9 * o, gs, X->g_table, &latt);
    return sum;
}

/* The once-per-pixel factor: the solid angle at (0, 0), the capture fraction of the
 * last layer at its first sub-pixel and the polarization at the first kept evaluation,
 * each unless the running products take it. */
static double nb_final_factor(const nb_params *p, double omega, double capture, double polar)
{
    double f = p->over_omega ? 1.0 : omega;
    f = p->over_thick ? f : f * capture;
    return (p->over_polar || p->nopolar) ? f : f * polar;
}

/* Adds the gradient of the once-per-pixel factor (g_factor: dL/dfactor) to the buffer;
 * the polarization was taken at sub-pixel polar_sub (layer-major) of source polar_source. */
static void nb_final_grad(const nb_pixel *X, double g_factor, double omega, double capture,
                          double polar, int64_t polar_sub, int64_t polar_source)
{
    const nb_params *p = X->p;
    const int64_t subs = p->oversample * p->oversample, last = p->n_layers - 1;
    const double a = p->over_omega ? 1.0 : omega, b = p->over_thick ? 1.0 : capture;
    const double c = (p->over_polar || p->nopolar) ? 1.0 : polar;
    double zero[3] = {0, 0, 0}, gd[3] = {0, 0, 0};
    nb_geo G;
    if (!p->over_omega) {
        nb_geo_at(p, X->q, X->ps, X->pf, 0, X->layers[0], 0, &G);
        nb_geo_grad(p, X->q, &G, 0, X->layers[0], zero, g_factor * b * c, 0.0, X->grad,
                    X->gq, X->L);
    }
    if (p->capture && !p->over_thick) {
        nb_geo_at(p, X->q, X->ps, X->pf, last, X->layers[last], 0, &G);
        nb_geo_grad(p, X->q, &G, last, X->layers[last], zero, 0.0, g_factor * a * c, X->grad,
                    X->gq, X->L);
    }
    if (!p->over_polar && !p->nopolar && polar_sub >= 0) {
        const int64_t t = polar_sub / subs;
        nb_geo_at(p, X->q, X->ps, X->pf, t, X->layers[t], polar_sub % subs, &G);
        nb_polar_grad(p, g_factor * a * b, G.d, polar_source, X->inc, X->e_in, X->b_in, gd,
                      X->grad, X->L);
        nb_geo_grad(p, X->q, &G, t, X->layers[t], gd, 0.0, 0.0, X->grad, X->gq, X->L);
    }
}

/* The solid angle at (0, 0) and the capture fraction of the last layer at its first
 * sub-pixel (1 without a sensor). */
static void nb_first_factors(const nb_pixel *X, double *omega, double *capture)
{
    const nb_params *p = X->p;
    const int64_t last = p->n_layers - 1;
    nb_geo G;
    nb_geo_at(p, X->q, X->ps, X->pf, 0, X->layers[0], 0, &G);
    *omega = G.omega;
    *capture = 1.0;
    if (p->capture) {
        nb_geo_at(p, X->q, X->ps, X->pf, last, X->layers[last], 0, &G);
        *capture = G.capture;
    }
}

/* One pixel without -oversample_* products (cotangent g of its photons), in one pass:
 * the factor of every term (scale * omega * capture * polar) is known before the first
 * term; the gradients of the factor (which need the whole sum) are added at the end. */
static void nb_pixel_plain(const nb_pixel *X, double g)
{
    const nb_params *p = X->p;
    const int64_t subs = p->oversample * p->oversample;
    nb_geo G;
    double omega, capture, S[3];
    nb_first_factors(X, &omega, &capture);
    double polar = p->nopolar ? 1.0 : 0.0, acc = 0.0, g_term = 0.0;
    int64_t polar_sub = -1, polar_source = -1;
    for (int64_t t = 0; t < p->n_layers; t++)
        for (int64_t sub = 0; sub < subs; sub++) {
            double gd[3] = {0, 0, 0};
            nb_geo_at(p, X->q, X->ps, X->pf, t, X->layers[t], sub, &G);
            for (int64_t s = 0; s < p->n_sources; s++) {
                double gs[3] = {0, 0, 0};
                if (!nb_scatter(X, G.d, s, S))
                    continue;
                if (polar_sub < 0) {
                    polar_sub = t * subs + sub;
                    polar_source = s;
                    if (!p->nopolar)
                        polar = nb_polar(p, G.d, X->inc + 3 * s, X->e_in + 3 * s,
                                         X->b_in + 3 * s);
                    g_term = g * p->scale * nb_final_factor(p, omega, capture, polar);
                }
                acc += nb_group(X, S, ((t * subs + sub) * p->n_sources + s) * p->n_orient,
                                g_term, NULL, gs);
                nb_scatter_grad(X, s, S, gs, gd);
            }
            nb_geo_grad(p, X->q, &G, t, X->layers[t], gd, 0.0, 0.0, X->grad, X->gq, X->L);
        }
    if (polar_sub < 0)
        polar = 0.0; /* every evaluation beyond the resolution cut: the C's factor 0 */
    const double total = p->background + acc;
    const double factor = nb_final_factor(p, omega, capture, polar);
    X->grad[X->L->glob + NB_G_SCALE] += g * total * factor;
    X->grad[X->L->glob + NB_G_BG] += g * p->scale * factor;
    nb_final_grad(X, g * p->scale * total, omega, capture, polar, polar_sub, polar_source);
}

/* The factor one (layer, sub-pixel, source) multiplies the running sum by after each
 * evaluation (the -oversample_* products), and its parts. */
static double nb_running_factor(const nb_params *p, const nb_geo *G, double pol)
{
    double f = p->over_thick ? G->capture : 1.0;
    f = p->over_polar ? f * pol : f;
    return p->over_omega ? f * G->omega : f;
}

/* Scratch of one pixel with running products: the running sum entering each (layer,
 * sub-pixel, source) and, per orientation of one of them, the sum before the term,
 * the term, the factor taken and the term's cotangent. */
typedef struct {
    double *entry, *before, *term, *factor, *g_terms;
} nb_running_scratch;

/* The evaluations of one (layer, sub-pixel, source) from the running sum x: fills the
 * scratch and returns the sum after them. */
static double nb_running_group(const nb_pixel *X, const double *S, int64_t e0, double f,
                               double x, const nb_running_scratch *R)
{
    const nb_params *p = X->p;
    double gs[3], latt;
    for (int64_t o = 0; o < p->n_orient; o++) {
        double term = nb_eval_grad(p, X->table, S, X->rows + 9 * o, e0 + o < X->limit, 0.0,
                                   X->grad, NULL, gs, NULL, &latt);
        int passed = latt == 0.0 && !p->water;
        R->before[o] = x;
        R->term[o] = term;
        R->factor[o] = passed ? -1.0 : f; /* -1: passed over (factor 1) */
        x = (x + term) * (passed ? 1.0 : f);
    }
    return x;
}

/* Back through one group: from G = dL/d(sum after it), the terms' cotangents (in the
 * scratch), dL/df (returned) and dL/d(sum entering it) in *G. */
static double nb_running_back(const nb_params *p, const nb_running_scratch *R, double *G)
{
    double g_f = 0.0;
    for (int64_t o = p->n_orient - 1; o >= 0; o--) {
        int passed = R->factor[o] == -1.0;
        double phi = passed ? 1.0 : R->factor[o];
        if (!passed)
            g_f += *G * (R->before[o] + R->term[o]);
        R->g_terms[o] = *G * phi;
        *G = *G * phi;
    }
    return g_f;
}

/* One pixel with -oversample_* products: a forward pass records the running sum at the
 * entry of each (layer, sub-pixel, source); a backward pass over them in reverse order
 * recomputes each one's evaluations and takes the gradient through the products. */
static void nb_pixel_running(const nb_pixel *X, double g, const nb_running_scratch *R)
{
    const nb_params *p = X->p;
    const int64_t subs = p->oversample * p->oversample, ns = p->n_sources;
    nb_geo G;
    double omega, capture, S[3], acc = p->background, polar = p->nopolar ? 1.0 : 0.0;
    int64_t polar_sub = -1, polar_source = -1;
    nb_first_factors(X, &omega, &capture);
    for (int64_t t = 0; t < p->n_layers; t++)
        for (int64_t sub = 0; sub < subs; sub++) {
            nb_geo_at(p, X->q, X->ps, X->pf, t, X->layers[t], sub, &G);
            for (int64_t s = 0; s < ns; s++) {
                int64_t group = (t * subs + sub) * ns + s;
                R->entry[group] = acc;
                if (!nb_scatter(X, G.d, s, S))
                    continue;
                double pol = nb_polar(p, G.d, X->inc + 3 * s, X->e_in + 3 * s, X->b_in + 3 * s);
                if (polar_sub < 0) {
                    polar_sub = t * subs + sub;
                    polar_source = s;
                    polar = p->nopolar ? 1.0 : pol;
                }
                acc = nb_running_group(X, S, group * p->n_orient,
                                       nb_running_factor(p, &G, pol), acc, R);
            }
        }
    if (polar_sub < 0)
        polar = 0.0;
    const double factor = nb_final_factor(p, omega, capture, polar);
    X->grad[X->L->glob + NB_G_SCALE] += g * acc * factor;
    double Gsum = g * p->scale * factor;
    for (int64_t t = p->n_layers - 1; t >= 0; t--)
        for (int64_t sub = subs - 1; sub >= 0; sub--) {
            double gd[3] = {0, 0, 0}, g_omega = 0.0, g_capture = 0.0;
            nb_geo_at(p, X->q, X->ps, X->pf, t, X->layers[t], sub, &G);
            for (int64_t s = ns - 1; s >= 0; s--) {
                int64_t group = (t * subs + sub) * ns + s;
                double gs[3] = {0, 0, 0};
                if (!nb_scatter(X, G.d, s, S))
                    continue;
                double pol = nb_polar(p, G.d, X->inc + 3 * s, X->e_in + 3 * s, X->b_in + 3 * s);
                nb_running_group(X, S, group * p->n_orient, nb_running_factor(p, &G, pol),
                                 R->entry[group], R);
                double g_f = nb_running_back(p, R, &Gsum);
                nb_group(X, S, group * p->n_orient, 0.0, R->g_terms, gs);
                nb_scatter_grad(X, s, S, gs, gd);
                double cap = p->over_thick ? G.capture : 1.0, om = p->over_omega ? G.omega : 1.0;
                double po = p->over_polar ? pol : 1.0;
                g_capture += p->over_thick ? g_f * po * om : 0.0;
                g_omega += p->over_omega ? g_f * cap * po : 0.0;
                if (p->over_polar)
                    nb_polar_grad(p, g_f * cap * om, G.d, s, X->inc, X->e_in, X->b_in, gd,
                                  X->grad, X->L);
            }
            nb_geo_grad(p, X->q, &G, t, X->layers[t], gd, g_omega, g_capture, X->grad, X->gq,
                        X->L);
        }
    X->grad[X->L->glob + NB_G_BG] += Gsum;
    nb_final_grad(X, g * p->scale * acc, omega, capture, polar, polar_sub, polar_source);
}

/* ---- blocks of pixels: the square shape without running products -------------------- */

/* sin(pi N d)/sin(pi d) and its derivatives as nb_ratio_grad, without branches (both
 * forms evaluated, one kept) so that a loop over pixels vectorises; n1 = max(N, 1). */
static inline __attribute__((always_inline)) void nb_ratio_lane(double d, double n, double n1,
                                                                double *f, double *fd,
                                                                double *fn)
{
    const double pi = 3.141592653589793;
    double x = pi * d;
    int small = fabs(x) * n1 < 0.1;
    double v = small ? x * x : 0.0, u = n * n * v;
    double a = -1.0 / 39916800, da = 0.0, b = 73.0 / 3421440, db = 0.0;
    const double A[5] = {1.0, -1.0 / 6, 1.0 / 120, -1.0 / 5040, 1.0 / 362880};
    const double B[5] = {1.0, 1.0 / 6, 7.0 / 360, 31.0 / 15120, 127.0 / 604800};
    for (int k = 4; k >= 0; k--) {
        da = da * u + a;
        a = a * u + A[k];
        db = db * v + b;
        b = b * v + B[k];
    }
    double xs = small ? x : 0.0;
    double ds = small ? 0.25 : d, y = n * ds, r = y - floor(y + 0.5);
    double s = nb_sinpi_d(ds), c = nb_sinpi_d(0.5 - fabs(ds));
    double sn = nb_sinpi_d(r), cn = nb_sinpi_d(0.5 - fabs(r)), inv = 1.0 / s;
    double fc = sn * inv;
    *f = small ? n * a * b : fc;
    *fd = small ? pi * n * (da * n * n * 2.0 * xs * b + a * db * 2.0 * xs)
                : pi * (n * cn - fc * c) * inv;
    *fn = small ? a * b + n * da * 2.0 * n * v * b : pi * ds * cn * inv;
}

/* Per-lane state of a block of pixels. */
typedef struct {
    nb_pixel X[NB_BLOCK];
    nb_geo G[NB_BLOCK];
    double g[NB_BLOCK], omega[NB_BLOCK], capture[NB_BLOCK], polar[NB_BLOCK];
    double acc[NB_BLOCK], g_term[NB_BLOCK], gt[NB_BLOCK], kept[NB_BLOCK];
    double sx[NB_BLOCK], sy[NB_BLOCK], sz[NB_BLOCK], gsx[NB_BLOCK], gsy[NB_BLOCK];
    double gsz[NB_BLOCK], gfc[NB_BLOCK], gd[NB_BLOCK][3];
    int64_t at[NB_BLOCK], polar_sub[NB_BLOCK], polar_source[NB_BLOCK];
} nb_block;

/* The evaluations of orientation o for every lane of a block (square shape; lookup a
 * constant at each call site): adds the terms to acc, dL/dS to gs and returns, through
 * the buffer, the gradients of the rows and of N; gfc and at hold each lane's dL/dF and
 * table index (-1: none) for the table's gradient. */
static inline __attribute__((always_inline)) void nb_block_orientation(
    const nb_params *p, nb_block *B, int width, const double *row, const double *table,
    double *g_row, double *globals, const int lookup)
{
    const double r0 = row[0], r1 = row[1], r2 = row[2], r3 = row[3], r4 = row[4];
    const double r5 = row[5], r6 = row[6], r7 = row[7], r8 = row[8];
    const double n0 = p->N[0], n1 = p->N[1], n2 = p->N[2];
    const double m0 = n0 > 1.0 ? n0 : 1.0, m1 = n1 > 1.0 ? n1 : 1.0, m2 = n2 > 1.0 ? n2 : 1.0;
    double R0 = 0, R1 = 0, R2 = 0, R3 = 0, R4 = 0, R5 = 0, R6 = 0, R7 = 0, R8 = 0;
    double N0 = 0, N1 = 0, N2 = 0;
    #pragma omp simd reduction(+ : R0, R1, R2, R3, R4, R5, R6, R7, R8, N0, N1, N2)
    for (int i = 0; i < width; i++) {
        double sx = B->sx[i], sy = B->sy[i], sz = B->sz[i];
        double h = sx * r0 + sy * r1 + sz * r2;
        double k = sx * r3 + sy * r4 + sz * r5;
        double l = sx * r6 + sy * r7 + sz * r8;
        double f0, f1, f2, d0, d1, d2, e0, e1, e2;
        nb_ratio_lane(h - floor(h + 0.5), n0, m0, &f0, &d0, &e0);
        nb_ratio_lane(k - floor(k + 0.5), n1, m1, &f1, &d1, &e1);
        nb_ratio_lane(l - floor(l + 0.5), n2, m2, &f2, &d2, &e2);
        double latt = f0 * f1 * f2, fc = p->default_F;
        if (lookup == NB_NEAREST) {
            int64_t at = nb_nearest_at(p, h, k, l);
            double value = table[at < 0 ? 0 : at];
            fc = at >= 0 ? value : p->default_F;
            B->at[i] = at;
        }
        double term = (fc * fc) * (latt * latt), gt = B->gt[i];
        B->acc[i] += B->kept[i] * term;
        double g_latt = gt * fc * fc * 2.0 * latt;
        B->gfc[i] = gt * latt * latt * 2.0 * fc;
        double o0 = f1 * f2, o1 = f0 * f2, o2 = f0 * f1;
        double h0 = g_latt * d0 * o0, h1 = g_latt * d1 * o1, h2 = g_latt * d2 * o2;
        N0 += g_latt * e0 * o0;
        N1 += g_latt * e1 * o1;
        N2 += g_latt * e2 * o2;
        R0 += h0 * sx;
        R1 += h0 * sy;
        R2 += h0 * sz;
        R3 += h1 * sx;
        R4 += h1 * sy;
        R5 += h1 * sz;
        R6 += h2 * sx;
        R7 += h2 * sy;
        R8 += h2 * sz;
        B->gsx[i] += h0 * r0 + h1 * r3 + h2 * r6;
        B->gsy[i] += h0 * r1 + h1 * r4 + h2 * r7;
        B->gsz[i] += h0 * r2 + h1 * r5 + h2 * r8;
    }
    const double R[9] = {R0, R1, R2, R3, R4, R5, R6, R7, R8};
    for (int j = 0; j < 9; j++)
        g_row[j] += R[j];
    globals[NB_G_N] += N0;
    globals[NB_G_N + 1] += N1;
    globals[NB_G_N + 2] += N2;
}

/* The lanes' evaluations of one (layer, sub-pixel, source), orientation after orientation. */
static void nb_block_group(const nb_params *p, nb_block *B, int width)
{
    const nb_pixel *X = &B->X[0];
    double *globals = X->grad + X->L->glob;
    for (int64_t o = 0; o < p->n_orient; o++) {
        double *g_row = X->grad + X->L->rows + 9 * o;
        if (p->lookup == NB_NEAREST)
            nb_block_orientation(p, B, width, X->rows + 9 * o, X->table, g_row, globals,
                                 NB_NEAREST);
        else
            nb_block_orientation(p, B, width, X->rows + 9 * o, X->table, g_row, globals,
                                 NB_DEFAULT_F);
        for (int i = 0; X->g_table && p->lookup == NB_NEAREST && i < width; i++)
            if (B->at[i] >= 0)
                X->g_table[B->at[i]] += B->gfc[i];
    }
}

/* A block of pixels (B->X, B->g filled for width lanes) as nb_pixel_plain, square
 * shape, the evaluations of each orientation vectorised over the pixels. */
static void nb_block_plain(nb_block *B, int width)
{
    const nb_params *p = B->X[0].p;
    const int64_t subs = p->oversample * p->oversample;
    double S[3];
    for (int i = 0; i < width; i++) {
        nb_first_factors(&B->X[i], &B->omega[i], &B->capture[i]);
        B->polar[i] = p->nopolar ? 1.0 : 0.0;
        B->acc[i] = B->g_term[i] = 0.0;
        B->polar_sub[i] = B->polar_source[i] = -1;
    }
    for (int64_t t = 0; t < p->n_layers; t++)
        for (int64_t sub = 0; sub < subs; sub++) {
            for (int i = 0; i < width; i++) {
                const nb_pixel *X = &B->X[i];
                nb_geo_at(p, X->q, X->ps, X->pf, t, X->layers[t], sub, &B->G[i]);
                B->gd[i][0] = B->gd[i][1] = B->gd[i][2] = 0.0;
            }
            for (int64_t s = 0; s < p->n_sources; s++) {
                for (int i = 0; i < width; i++) {
                    const nb_pixel *X = &B->X[i];
                    int kept = nb_scatter(X, B->G[i].d, s, S);
                    if (kept && B->polar_sub[i] < 0) {
                        B->polar_sub[i] = t * subs + sub;
                        B->polar_source[i] = s;
                        if (!p->nopolar)
                            B->polar[i] = nb_polar(p, B->G[i].d, X->inc + 3 * s,
                                                   X->e_in + 3 * s, X->b_in + 3 * s);
                        B->g_term[i] = B->g[i] * p->scale
                            * nb_final_factor(p, B->omega[i], B->capture[i], B->polar[i]);
                    }
                    B->kept[i] = kept ? 1.0 : 0.0;
                    B->gt[i] = kept ? B->g_term[i] : 0.0;
                    B->sx[i] = S[0];
                    B->sy[i] = S[1];
                    B->sz[i] = S[2];
                    B->gsx[i] = B->gsy[i] = B->gsz[i] = 0.0;
                }
                nb_block_group(p, B, width);
                for (int i = 0; i < width; i++) {
                    if (B->kept[i] == 0.0)
                        continue;
                    double Si[3] = {B->sx[i], B->sy[i], B->sz[i]};
                    double gs[3] = {B->gsx[i], B->gsy[i], B->gsz[i]};
                    nb_scatter_grad(&B->X[i], s, Si, gs, B->gd[i]);
                }
            }
            for (int i = 0; i < width; i++) {
                const nb_pixel *X = &B->X[i];
                nb_geo_grad(p, X->q, &B->G[i], t, X->layers[t], B->gd[i], 0.0, 0.0, X->grad,
                            X->gq, X->L);
            }
        }
    for (int i = 0; i < width; i++) {
        const nb_pixel *X = &B->X[i];
        double polar = B->polar_sub[i] < 0 ? 0.0 : B->polar[i];
        double total = p->background + B->acc[i];
        double factor = nb_final_factor(p, B->omega[i], B->capture[i], polar);
        X->grad[X->L->glob + NB_G_SCALE] += B->g[i] * total * factor;
        X->grad[X->L->glob + NB_G_BG] += B->g[i] * p->scale * factor;
        nb_final_grad(X, B->g[i] * p->scale * total, B->omega[i], B->capture[i], polar,
                      B->polar_sub[i], B->polar_source[i]);
    }
}

/* Doubles of scratch one call of nb_adjoint needs (the -oversample_* products, or a
 * block of pixels). */
int64_t nb_adjoint_scratch(const nb_params *p)
{
    int64_t groups = p->n_layers * p->oversample * p->oversample * p->n_sources;
    int64_t running = groups + 4 * p->n_orient;
    int64_t block = (int64_t)(sizeof(nb_block) / sizeof(double)) + 1;
    return running > block ? running : block;
}

/* Adds the gradient of n pixels (flat indices as the render's; g_out: dL/dphotons per
 * pixel, g_out[i] for the i-th) to grad, pixel after pixel (a fixed order). scratch:
 * nb_adjoint_scratch(p) doubles. */
void nb_adjoint(const nb_params *p, const int64_t *pixels, int64_t first, int64_t n,
                const double *panels, const double *layers, const double *incident,
                const double *wavelength, const double *e_in, const double *b_in,
                const double *rows, const double *table, const double *g_out,
                int64_t with_table, double *grad, double *scratch)
{
    const nb_grad_layout L = nb_layout(p, with_table);
    const int64_t groups = p->n_layers * p->oversample * p->oversample * p->n_sources;
    const nb_running_scratch R = {scratch, scratch + groups, scratch + groups + p->n_orient,
                                  scratch + groups + 2 * p->n_orient,
                                  scratch + groups + 3 * p->n_orient};
    const int running = p->over_thick || p->over_polar || p->over_omega;
    nb_pixel X = {p, &L, NULL, layers, incident, wavelength, e_in, b_in, rows, table,
                  0.0, 0.0, grad, NULL, with_table ? grad + L.table : NULL, 0};
    const int blocks = p->shape == NB_SQUARE && p->lookup != NB_TRICUBIC && !running;
    nb_block *B = blocks ? (nb_block *)scratch : NULL;
    int width = 0;
    for (int64_t i = 0; i < n; i++) {
        if (g_out[i] == 0.0)
            continue;
        int64_t panel, slow, fast, position = first + i;
        nb_pixel_index(p, pixels ? pixels[i] : first + i, &panel, &slow, &fast);
        X.q = panels + NB_PANEL * panel;
        X.gq = grad + NB_PANEL * panel;
        X.ps = (double)slow;
        X.pf = (double)fast;
        X.limit = p->lookup != NB_TRICUBIC ? 0
            : position < p->stop_position ? INT64_MAX
            : (position == p->stop_position ? p->stop_eval : 0);
        if (blocks) {
            B->X[width] = X;
            B->g[width++] = g_out[i];
            if (width == NB_BLOCK) {
                nb_block_plain(B, width);
                width = 0;
            }
        } else if (running) {
            nb_pixel_running(&X, g_out[i], &R);
        } else {
            nb_pixel_plain(&X, g_out[i]);
        }
    }
    if (blocks && width)
        nb_block_plain(B, width);
}
