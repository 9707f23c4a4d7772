/* Adjoint of the fused kernel (included by nbkernel.c): given dL/d(photons) per pixel,
 * the gradients of L with respect to every tensor the forward reads, in double.
 *
 * It covers the square shape with the default or nearest structure factor on a flat
 * detector of one panel, without sensor absorption or -oversample_* products (the
 * engine table sends other gradients to the eager kernel). The derivatives are those
 * of the eager kernel's autograd: sin(pi N d)/sin(pi d) by its series near the peak
 * (|pi d| max(N, 1) < 0.1), the polarization through its smooth form
 * 0.5 (1 + c2t^2 - kahn (e^2 - b^2)).
 *
 * Gradient buffer layout (doubles), see nb_grad_size: pix0[3] fdet[3] sdet[3] odet[3]
 * pixel_size close_distance scale background kahn N[3] layers[T] incident[3S]
 * wavelength[S] e_in[3S] b_in[3S] rows[9 O] and, when asked for, the F table.
 */

enum { NB_G_PIX0 = 0, NB_G_FDET = 3, NB_G_SDET = 6, NB_G_ODET = 9, NB_G_SIZE = 12,
       NB_G_CLOSE = 13, NB_G_SCALE = 14, NB_G_BG = 15, NB_G_KAHN = 16, NB_G_N = 17,
       NB_G_LAYERS = 20 };

/* Offsets of the per-source, per-orientation and table parts of the buffer. */
typedef struct {
    int64_t inc, wl, e_in, b_in, rows, table, size;
} nb_grad_layout;

static nb_grad_layout nb_layout(const nb_params *p, int64_t with_table)
{
    nb_grad_layout g;
    g.inc = NB_G_LAYERS + p->n_layers;
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
    *f = sn / s;
    *fd = pi * (n * cn - *f * c) / s;
    *fn = x * cn / s;
}

/* The flat position of a sub-pixel and its derivative by the pixel size. */
static void nb_position(const nb_params *p, const double *q, double ps, double pf,
                        double layer, int64_t sub_s, int64_t sub_f, double *pos,
                        double *fd, double *sd, double *dsize)
{
    const double os = (double)p->oversample, size = q[12], sub = size / os;
    *fd = sub * (pf * os + (double)sub_f) + sub / 2.0;
    *sd = sub * (ps * os + (double)sub_s) + sub / 2.0;
    double cf = ((pf * os + (double)sub_f) + 0.5) / os;
    double cs = ((ps * os + (double)sub_s) + 0.5) / os;
    for (int c = 0; c < 3; c++) {
        pos[c] = *fd * q[c] + *sd * q[3 + c] + layer * q[6 + c] + q[9 + c];
        dsize[c] = cf * q[c] + cs * q[3 + c];
    }
}

/* F_cell of one evaluation (default or nearest) and its flat table index (-1: none). */
static double nb_cell(const nb_params *p, const double *table, double h, double k,
                      double l, int64_t *at)
{
    *at = -1;
    if (p->lookup != NB_NEAREST)
        return p->default_F;
    int64_t ih = (int64_t)ceil(h - 0.5) - p->mins[0];
    int64_t ik = (int64_t)ceil(k - 0.5) - p->mins[1];
    int64_t il = (int64_t)ceil(l - 0.5) - p->mins[2];
    if (ih < 0 || ih >= p->ranges[0] || ik < 0 || ik >= p->ranges[1] || il < 0
        || il >= p->ranges[2])
        return p->default_F;
    *at = (ih * p->ranges[1] + ik) * p->ranges[2] + il;
    return table[*at];
}

/* One evaluation's term and, when g is given, its gradient added to the buffer
 * (g_term: dL/dterm); returns the term and adds dL/dS to gs. */
static double nb_eval_grad(const nb_params *p, const double *table, const double *S,
                           const double *row, double g_term, double *grad,
                           double *g_row, double *gs, double *g_table)
{
    double hkl[3], f[3], fd[3], fn[3];
    for (int j = 0; j < 3; j++) {
        hkl[j] = S[0] * row[3 * j] + S[1] * row[3 * j + 1] + S[2] * row[3 * j + 2];
        nb_ratio_grad(hkl[j] - floor(hkl[j] + 0.5), p->N[j], f + j, fd + j, fn + j);
    }
    int64_t at;
    double fc = nb_cell(p, table, hkl[0], hkl[1], hkl[2], &at);
    double latt = f[0] * f[1] * f[2];
    double term = (fc * fc) * (latt * latt);
    if (g_term == 0.0)
        return term;
    double others[3] = {f[1] * f[2], f[0] * f[2], f[0] * f[1]};
    for (int j = 0; j < 3; j++) {
        double g_f = g_term * fc * fc * 2.0 * latt * others[j];
        double g_h = g_f * fd[j];
        grad[NB_G_N + j] += g_f * fn[j];
        for (int c = 0; c < 3; c++) {
            g_row[3 * j + c] += g_h * S[c];
            gs[c] += g_h * row[3 * j + c];
        }
    }
    if (g_table && at >= 0)
        g_table[at] += g_term * 2.0 * fc * latt * latt;
    return term;
}

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

/* Unit direction and distance of a sub-pixel (and what its position derives from). */
static double nb_direction(const nb_params *p, const double *q, double ps, double pf,
                           double layer, int64_t sub, double *d, double *fd, double *sd,
                           double *dsize)
{
    double pos[3];
    nb_position(p, q, ps, pf, layer, sub / p->oversample, sub % p->oversample, pos, fd, sd,
                dsize);
    double air = sqrt(pos[0] * pos[0] + pos[1] * pos[1] + pos[2] * pos[2]);
    for (int c = 0; c < 3; c++)
        d[c] = pos[c] / air;
    return air;
}

/* Adds the gradient gd (by the unit direction) and g_air (by the distance) of one
 * sub-pixel of layer t to the detector entries of the buffer. */
static void nb_position_grad(const double *q, const double *d, double air, double fd,
                             double sd, const double *dsize, double layer, const double *gd,
                             double g_air, double *grad, int64_t t)
{
    double gd_dot = gd[0] * d[0] + gd[1] * d[1] + gd[2] * d[2];
    double gp_dot_o = 0.0;
    for (int c = 0; c < 3; c++) {
        double gp = (gd[c] - gd_dot * d[c]) / air + g_air * d[c];
        grad[NB_G_PIX0 + c] += gp;
        grad[NB_G_FDET + c] += gp * fd;
        grad[NB_G_SDET + c] += gp * sd;
        grad[NB_G_ODET + c] += gp * layer;
        grad[NB_G_SIZE] += gp * dsize[c];
        gp_dot_o += gp * q[6 + c];
    }
    grad[NB_G_LAYERS + t] += gp_dot_o;
}

/* dL/dpolar of the smooth form at the evaluation that gave the polarization: adds to
 * the diffracted direction's gradient gd and to the buffer. */
static void nb_polar_grad(const nb_params *p, double g, const double *d, const double *is,
                          const double *e, const double *b, double *gd, double *grad,
                          double *g_inc, double *g_e, double *g_b)
{
    double c2t = is[0] * d[0] + is[1] * d[1] + is[2] * d[2];
    double eo = e[0] * d[0] + e[1] * d[1] + e[2] * d[2];
    double bo = b[0] * d[0] + b[1] * d[1] + b[2] * d[2];
    grad[NB_G_KAHN] += g * -0.5 * (eo * eo - bo * bo);
    for (int c = 0; c < 3; c++) {
        gd[c] += g * (c2t * is[c] - p->kahn * (eo * e[c] - bo * b[c]));
        g_inc[c] += g * c2t * d[c];
        g_e[c] += g * -p->kahn * eo * d[c];
        g_b[c] += g * p->kahn * bo * d[c];
    }
}

/* Adds one pixel's gradient (cotangent g of its photons) to the buffer, in one pass:
 * the factor of every term (scale * omega * polar) is known before the first term, and
 * the gradients of omega and of the polarization (which need the whole sum) are added
 * at the end, at the sub-pixel and source they were taken from. */
static void nb_pixel_adjoint(const nb_params *p, const double *q, double ps, double pf,
                             const double *layers, const double *inc, const double *wl,
                             const double *e_in, const double *b_in, const double *rows,
                             const double *table, double g, double *grad,
                             const nb_grad_layout *L, int with_table)
{
    const int64_t subs = p->oversample * p->oversample;
    double d[3], fd, sd, dsize[3], S[3];
    double air0 = nb_direction(p, q, ps, pf, layers[0], 0, d, &fd, &sd, dsize);
    const double size = q[12], close = q[13];
    const double omega = p->point_pixel ? 1.0 / air0 / air0
                                        : size * size / air0 / air0 * close / air0;
    double polar = p->nopolar ? 1.0 : 0.0, acc = 0.0, g_acc = 0.0;
    int64_t polar_sub = -1, polar_source = -1;
    for (int64_t t = 0; t < p->n_layers; t++)
        for (int64_t sub = 0; sub < subs; sub++) {
            double gd[3] = {0, 0, 0};
            double air = nb_direction(p, q, ps, pf, layers[t], sub, d, &fd, &sd, dsize);
            for (int64_t s = 0; s < p->n_sources; s++) {
                const double *is = inc + 3 * s;
                double gs[3] = {0, 0, 0};
                for (int c = 0; c < 3; c++)
                    S[c] = (d[c] - is[c]) / wl[s];
                double stol = 0.5 * sqrt(S[0] * S[0] + S[1] * S[1] + S[2] * S[2]);
                if (p->dmin > 0 && stol > 0 && p->dmin > 0.5 / stol)
                    continue;
                if (polar_sub < 0) {
                    polar_sub = t * subs + sub;
                    polar_source = s;
                    if (!p->nopolar)
                        polar = nb_polar(p, d, is, e_in + 3 * s, b_in + 3 * s);
                    g_acc = g * p->scale * omega * polar;
                }
                for (int64_t o = 0; o < p->n_orient; o++)
                    acc += nb_eval_grad(p, table, S, rows + 9 * o, g_acc, grad,
                                        grad + L->rows + 9 * o, gs,
                                        with_table ? grad + L->table : NULL);
                double s_dot = 0.0;
                for (int c = 0; c < 3; c++) {
                    gd[c] += gs[c] / wl[s];
                    grad[L->inc + 3 * s + c] -= gs[c] / wl[s];
                    s_dot += gs[c] * S[c];
                }
                grad[L->wl + s] -= s_dot / wl[s];
            }
            nb_position_grad(q, d, air, fd, sd, dsize, layers[t], gd, 0.0, grad, t);
        }
    if (polar_sub < 0)
        polar = 0.0; /* every evaluation beyond the resolution cut: the C's factor 0 */
    const double total = p->background + acc;
    grad[NB_G_SCALE] += g * total * omega * polar;
    grad[NB_G_BG] += g * p->scale * omega * polar;
    const double g_omega = g * p->scale * total * polar;
    double zero[3] = {0, 0, 0}, g_air;
    air0 = nb_direction(p, q, ps, pf, layers[0], 0, d, &fd, &sd, dsize);
    if (p->point_pixel) {
        g_air = g_omega * -2.0 / (air0 * air0 * air0);
    } else {
        double a3 = air0 * air0 * air0;
        g_air = g_omega * -3.0 * size * size * close / (a3 * air0);
        grad[NB_G_SIZE] += g_omega * 2.0 * size * close / a3;
        grad[NB_G_CLOSE] += g_omega * size * size / a3;
    }
    nb_position_grad(q, d, air0, fd, sd, dsize, layers[0], zero, g_air, grad, 0);
    if (p->nopolar || polar_sub < 0)
        return;
    const int64_t t = polar_sub / subs, s = polar_source;
    double gd[3] = {0, 0, 0};
    double air = nb_direction(p, q, ps, pf, layers[t], polar_sub % subs, d, &fd, &sd, dsize);
    nb_polar_grad(p, g * p->scale * total * omega, d, inc + 3 * s, e_in + 3 * s,
                  b_in + 3 * s, gd, grad, grad + L->inc + 3 * s, grad + L->e_in + 3 * s,
                  grad + L->b_in + 3 * s);
    nb_position_grad(q, d, air, fd, sd, dsize, layers[t], gd, 0.0, grad, t);
}

/* Adds the gradient of n pixels (flat indices as the render's; g_out: dL/dphotons per
 * pixel, g_out[i] for the i-th) to grad, pixel after pixel (a fixed order). */
void nb_adjoint(const nb_params *p, const int64_t *pixels, int64_t first, int64_t n,
                const double *panels, const double *layers, const double *incident,
                const double *wavelength, const double *e_in, const double *b_in,
                const double *rows, const double *table, const double *g_out,
                int64_t with_table, double *grad)
{
    const nb_grad_layout L = nb_layout(p, with_table);
    const double fp = (double)p->fpixels;
    for (int64_t i = 0; i < n; i++) {
        if (g_out[i] == 0.0)
            continue;
        int64_t pixel = pixels ? pixels[i] : first + i;
        int64_t slow = (int64_t)((double)pixel / fp);
        int64_t fast = pixel - slow * p->fpixels;
        slow += (fast >= p->fpixels) - (fast < 0);
        fast = pixel - slow * p->fpixels;
        nb_pixel_adjoint(p, panels, (double)slow, (double)fast, layers, incident, wavelength,
                         e_in, b_in, rows, table, g_out[i], grad, &L, (int)with_table);
    }
}
