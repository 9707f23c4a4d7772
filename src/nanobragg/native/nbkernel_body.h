/* Body of the fused kernel for one precision (REAL); included twice by nbkernel.c. */

#undef NB_AXIS_SQR
/* Squared lattice factor along one axis from the offset d = h - nearest(h). */
#define NB_AXIS_SQR(out, d, n)                                   \
    do {                                                         \
        REAL x_ = (n) * (d);                                     \
        REAL r_ = x_ - NB_FLOOR(x_ + (REAL)0.5);                 \
        REAL v_ = NB_SINPI(r_) / NB_SINPI(d);                    \
        v_ = ((d) == (REAL)0) ? (n) : v_;                        \
        (out) = v_ * v_;                                         \
    } while (0)

/* Diffracted unit vectors of one (layer, sub-pixel) for a block, and the solid angle
 * there; ps, pf: slow and fast pixel indices. */
static void NB_FN(_geometry)(const nb_params *p, const double *restrict ps,
                             const double *restrict pf, int width, double layer,
                             int64_t sub_s, int64_t sub_f, double *restrict dx,
                             double *restrict dy, double *restrict dz,
                             double *restrict omega)
{
    const double sub = p->pixel_size / (double)p->oversample;
    const double os = (double)p->oversample;
    const double ss = (double)sub_s, sf = (double)sub_f;
    const double f0 = p->fdet[0], f1 = p->fdet[1], f2 = p->fdet[2];
    const double s0 = p->sdet[0], s1 = p->sdet[1], s2 = p->sdet[2];
    const double o0 = layer * p->odet[0], o1 = layer * p->odet[1], o2 = layer * p->odet[2];
    const double q0 = p->pix0[0], q1 = p->pix0[1], q2 = p->pix0[2];
    const double area = p->pixel_size * p->pixel_size, close = p->close_distance;
    const int point = (int)p->point_pixel;
    #pragma omp simd
    for (int i = 0; i < width; i++) {
        /* whole numbers below 2^53: the same values as the integer products */
        double fd = sub * (pf[i] * os + sf) + sub / 2.0;
        double sd = sub * (ps[i] * os + ss) + sub / 2.0;
        double x = fd * f0 + sd * s0 + o0 + q0;
        double y = fd * f1 + sd * s1 + o1 + q1;
        double z = fd * f2 + sd * s2 + o2 + q2;
        double air = sqrt(x * x + y * y + z * z);
        dx[i] = x / air;
        dy[i] = y / air;
        dz[i] = z / air;
        omega[i] = point ? 1.0 / air / air : area / air / air * close / air;
    }
}

/* Scattering vectors (1/m) of one source, the resolution cut, and the polarization
 * factor of the first evaluation the cut keeps (recorded once per pixel). Written
 * without branches so that it vectorises; the values are those of the direct form. */
static void NB_FN(_source)(const nb_params *p, int width, const double *restrict dx,
                           const double *restrict dy, const double *restrict dz,
                           const double *inc, double wl, const double *e_in,
                           const double *b_in, double *restrict sx, double *restrict sy,
                           double *restrict sz, double *restrict keep,
                           double *restrict polar, double *restrict have)
{
    #pragma omp simd
    for (int i = 0; i < width; i++) {
        sx[i] = (dx[i] - inc[0]) / wl;
        sy[i] = (dy[i] - inc[1]) / wl;
        sz[i] = (dz[i] - inc[2]) / wl;
        double stol = 0.5 * sqrt(sx[i] * sx[i] + sy[i] * sy[i] + sz[i] * sz[i]);
        keep[i] = (p->dmin > 0 && stol > 0 && p->dmin > 0.5 / stol) ? 0.0 : 1.0;
        double c2t = inc[0] * dx[i] + inc[1] * dy[i] + inc[2] * dz[i];
        double eo = e_in[0] * dx[i] + e_in[1] * dy[i] + e_in[2] * dz[i];
        double bo = b_in[0] * dx[i] + b_in[1] * dy[i] + b_in[2] * dz[i];
        double s2t = 1.0 - c2t * c2t;
        double norm = eo * eo + bo * bo;
        double c2psi = norm > 0 ? (eo * eo - bo * bo) / (norm > 0 ? norm : 1.0) : 1.0;
        double value = 0.5 * (1.0 + c2t * c2t - p->kahn * c2psi * s2t);
        int take = have[i] == 0.0 && keep[i] != 0.0;
        polar[i] = take ? value : polar[i];
        have[i] = take ? 1.0 : have[i];
    }
}

/* Adds sum over orientations of F_cell^2 * F_latt^2 for one source to acc; loaded is
 * a constant at each call site so that each version vectorises on its own. */
static inline __attribute__((always_inline)) void NB_FN(_orient_loop)(
    const nb_params *p, int width, const double *restrict sx, const double *restrict sy,
    const double *restrict sz, const double *restrict keep, const double *rows,
    const REAL *restrict table, double *restrict acc, const int loaded)
{
    const REAL na = (REAL)p->N[0], nb = (REAL)p->N[1], nc = (REAL)p->N[2];
    const REAL fdef = (REAL)p->default_F;
    const int64_t h0 = p->mins[0], k0 = p->mins[1], l0 = p->mins[2];
    const int64_t hr = p->ranges[0], kr = p->ranges[1], lr = p->ranges[2];
    for (int64_t o = 0; o < p->n_orient; o++) {
        const double r0 = rows[9 * o], r1 = rows[9 * o + 1], r2 = rows[9 * o + 2];
        const double r3 = rows[9 * o + 3], r4 = rows[9 * o + 4], r5 = rows[9 * o + 5];
        const double r6 = rows[9 * o + 6], r7 = rows[9 * o + 7], r8 = rows[9 * o + 8];
        #pragma omp simd
        for (int i = 0; i < width; i++) {
            double h = sx[i] * r0 + sy[i] * r1 + sz[i] * r2;
            double k = sx[i] * r3 + sy[i] * r4 + sz[i] * r5;
            double l = sx[i] * r6 + sy[i] * r7 + sz[i] * r8;
            REAL dh = (REAL)(h - floor(h + 0.5));
            REAL dk = (REAL)(k - floor(k + 0.5));
            REAL dl = (REAL)(l - floor(l + 0.5));
            REAL fa, fb, fc;
            NB_AXIS_SQR(fa, dh, na);
            NB_AXIS_SQR(fb, dk, nb);
            NB_AXIS_SQR(fc, dl, nc);
            REAL fcell = fdef;
            if (loaded) {
                int64_t ih = (int64_t)ceil(h - 0.5) - h0;
                int64_t ik = (int64_t)ceil(k - 0.5) - k0;
                int64_t il = (int64_t)ceil(l - 0.5) - l0;
                int64_t inside = (ih >= 0) & (ih < hr) & (ik >= 0) & (ik < kr)
                    & (il >= 0) & (il < lr);
                /* an unconditional gather (index 0 outside) keeps the loop vectorised */
                int64_t at = ((ih * kr + ik) * lr + il) * inside;
                REAL value = table[at];
                fcell = inside ? value : fdef;
            }
            REAL term = (fcell * fcell) * (fa * fb * fc);
            acc[i] += keep[i] * (double)term;
        }
    }
}

static void NB_FN(_orientations)(const nb_params *p, int width, const double *sx,
                                 const double *sy, const double *sz, const double *keep,
                                 const double *rows, const REAL *table, double *acc)
{
    if (p->table_loaded)
        NB_FN(_orient_loop)(p, width, sx, sy, sz, keep, rows, table, acc, 1);
    else
        NB_FN(_orient_loop)(p, width, sx, sy, sz, keep, rows, table, acc, 0);
}

/* Renders n pixels (flat indices slow*fpixels+fast; pixels NULL: first_pixel onwards)
 * into out (photons). */
void NB_NAME(const nb_params *p, const int64_t *pixels, int64_t first_pixel, int64_t n,
             const double *layers,
             const double *incident, const double *wavelength, const double *e_in,
             const double *b_in, const double *rows, const REAL *table, REAL *out)
{
    double ps[NB_BLOCK], pf[NB_BLOCK];
    double dx[NB_BLOCK], dy[NB_BLOCK], dz[NB_BLOCK], omega[NB_BLOCK], unused[NB_BLOCK];
    double sx[NB_BLOCK], sy[NB_BLOCK], sz[NB_BLOCK], keep[NB_BLOCK];
    double polar[NB_BLOCK], have[NB_BLOCK], acc[NB_BLOCK];
    int64_t os = p->oversample;
    const double fp = (double)p->fpixels;
    for (int64_t b0 = 0; b0 < n; b0 += NB_BLOCK) {
        int64_t count = n - b0 < NB_BLOCK ? n - b0 : NB_BLOCK;
        /* a short last block only pays for whole vectors, not the whole block */
        int width = (int)((count + NB_LANES - 1) / NB_LANES * NB_LANES);
        for (int i = 0; i < NB_BLOCK; i++) {
            int64_t at = b0 + (i < count ? i : count - 1);
            int64_t pixel = pixels ? pixels[at] : first_pixel + at;
            /* slow = pixel / fpixels without a 64-bit division (tens of cycles each):
             * the double quotient, corrected by one where it rounded across */
            int64_t slow = (int64_t)((double)pixel / fp);
            int64_t fast = pixel - slow * p->fpixels;
            slow += (fast >= p->fpixels) - (fast < 0);
            fast = pixel - slow * p->fpixels;
            ps[i] = (double)slow;
            pf[i] = (double)fast;
            acc[i] = 0.0;
            have[i] = 0.0;
            polar[i] = 0.0;
        }
        for (int64_t t = 0; t < p->n_layers; t++) {
            for (int64_t sub = 0; sub < os * os; sub++) {
                int first = t == 0 && sub == 0;
                NB_FN(_geometry)(p, ps, pf, width, layers[t], sub / os, sub % os, dx, dy,
                                 dz, first ? omega : unused);
                for (int64_t s = 0; s < p->n_sources; s++) {
                    NB_FN(_source)(p, width, dx, dy, dz, incident + 3 * s, wavelength[s],
                                   e_in + 3 * s, b_in + 3 * s, sx, sy, sz, keep, polar,
                                   have);
                    NB_FN(_orientations)(p, width, sx, sy, sz, keep, rows, table, acc);
                }
            }
        }
        for (int64_t i = 0; i < count; i++) {
            double factor = omega[i] * (p->nopolar ? 1.0 : polar[i]);
            out[b0 + i] = (REAL)(p->scale * (p->background + acc[i]) * factor);
        }
    }
}
