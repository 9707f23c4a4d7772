/* The random stages of a detector-response run (the noisify program), drawing the
 * same numbers in the same order as the reference: one ran1 shuffle table shared by
 * two seed variables (the shot seed and the calibration seed), one Box-Muller spare
 * shared by every Gaussian draw, and the Poisson sampler of nanobragg.rng. Plain
 * libm, float variables where the reference has floats; sequential by nature.
 *
 * State (int64 array, NB_DN_STATE entries): [0] shot idum, [1] calibration idum,
 * [2] iy, [3..34] iv, [35] whether a spare deviate is held, [36] the spare's float
 * bits. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#define DN_IA 16807
#define DN_IM 2147483647
#define DN_IQ 127773
#define DN_IR 2836
#define DN_NTAB 32
#define DN_NDIV (1 + (DN_IM - 1) / DN_NTAB)
#define DN_AM (1.0 / DN_IM)
#define DN_RNMX (1.0 - 1.2e-7)
#define NB_DN_STATE 37

typedef struct {
    int64_t idum[2];
    int64_t iy;
    int64_t iv[DN_NTAB];
    int has_spare;
    float spare;
} dn_rng;

static void dn_load(dn_rng *r, const int64_t *st)
{
    r->idum[0] = st[0];
    r->idum[1] = st[1];
    r->iy = st[2];
    memcpy(r->iv, st + 3, sizeof r->iv);
    r->has_spare = (int)st[35];
    uint32_t bits = (uint32_t)st[36];
    memcpy(&r->spare, &bits, sizeof bits);
}

static void dn_save(const dn_rng *r, int64_t *st)
{
    st[0] = r->idum[0];
    st[1] = r->idum[1];
    st[2] = r->iy;
    memcpy(st + 3, r->iv, sizeof r->iv);
    st[35] = r->has_spare;
    uint32_t bits;
    memcpy(&bits, &r->spare, sizeof bits);
    st[36] = bits;
}

static int64_t dn_step(int64_t idum)
{
    int64_t k = idum / DN_IQ;
    idum = DN_IA * (idum - k * DN_IQ) - DN_IR * k;
    return idum < 0 ? idum + DN_IM : idum;
}

/* ran1 on seed variable `which` with the shared table. */
static float dn_ran1(dn_rng *r, int which)
{
    int64_t *idum = &r->idum[which];
    if (*idum <= 0 || !r->iy) {
        *idum = -(*idum) < 1 ? 1 : -(*idum);
        for (int j = DN_NTAB + 7; j >= 0; j--) {
            *idum = dn_step(*idum);
            if (j < DN_NTAB)
                r->iv[j] = *idum;
        }
        r->iy = r->iv[0];
    }
    *idum = dn_step(*idum);
    int64_t j = r->iy / DN_NDIV;
    r->iy = r->iv[j];
    r->iv[j] = *idum;
    float temp = (float)(DN_AM * (double)r->iy);
    return (double)temp > DN_RNMX ? (float)DN_RNMX : temp;
}

static float dn_gaussdev(dn_rng *r, int which)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    float v1, v2, rsq;
    do {
        v1 = (float)(2.0 * dn_ran1(r, which) - 1.0);
        v2 = (float)(2.0 * dn_ran1(r, which) - 1.0);
        rsq = v1 * v1 + v2 * v2;
    } while (rsq >= 1.0f || rsq == 0.0f);
    float fac = (float)sqrt(-2.0 * log((double)rsq) / rsq);
    r->spare = v1 * fac;
    r->has_spare = 1;
    return v2 * fac;
}

static float dn_gammln(float xx)
{
    static const double cof[6] = {76.18009172947146, -86.50532032941677,
                                  24.01409824083091, -1.231739572450155,
                                  0.1208650973866179e-2, -0.5395239384953e-5};
    double x, y, tmp, ser;
    y = x = xx;
    tmp = x + 5.5;
    tmp -= (x + 0.5) * log(tmp);
    ser = 1.000000000190015;
    for (int j = 0; j <= 5; ++j)
        ser += cof[j] / ++y;
    return (float)(-tmp + log(2.5066282746310005 * ser / x));
}

static float dn_poidev(dn_rng *r, float xm)
{
    if (xm > 1.0e6f)
        return (float)(xm + sqrt((double)xm) * dn_gaussdev(r, 0));
    float em, t, y;
    if (xm < 12.0f) {
        float g = (float)exp(-(double)xm);
        em = -1.0f;
        t = 1.0f;
        do {
            em += 1.0f;
            t *= dn_ran1(r, 0);
        } while (t > g);
        return em;
    }
    float sq = (float)sqrt(2.0 * xm);
    float alxm = (float)log((double)xm);
    float g = xm * alxm - dn_gammln((float)(xm + 1.0));
    do {
        do {
            y = (float)tan(M_PI * dn_ran1(r, 0));
            em = sq * y + xm;
        } while (em < 0.0f);
        em = (float)floor((double)em);
        t = (float)(0.9 * (1.0 + (double)(y * y)) *
                    exp((double)(em * alxm - dn_gammln((float)(em + 1.0)) - g)));
    } while (dn_ran1(r, 0) > t);
    return em;
}

/* Flicker, calibration error and Poisson counts of n photon means (C order) into
 * counts; returns the sum of the counts. */
double nb_dn_counts(const float *photons, int64_t n, double flicker, double calibration,
                    int64_t *state, float *counts)
{
    dn_rng r;
    dn_load(&r, state);
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double photons0 = photons[i];
        if (flicker > 0.0)
            photons0 *= (1.0 + flicker * dn_gaussdev(&r, 0));
        if (calibration > 0.0)
            photons0 *= (1.0 + calibration * dn_gaussdev(&r, 1));
        counts[i] = dn_poidev(&r, (float)photons0);
        sum += counts[i];
    }
    dn_save(&r, state);
    return sum;
}

/* Pixel values of n photon signals: gain, ADC offset, read-out noise (shot seed),
 * clipped like the reference; 16- and 32-bit images, the signal sum and the overloads
 * of the chosen width (bits 16 or 32). */
double nb_dn_readout(const float *photons, int64_t n, double gain, double adc,
                     double readout, int64_t bits, int64_t *state, uint16_t *out16,
                     uint32_t *out32, int64_t *overloads)
{
    dn_rng r;
    dn_load(&r, state);
    double sum = 0.0;
    int64_t over = 0;
    for (int64_t i = 0; i < n; i++) {
        sum += photons[i];
        double adu = photons[i] * gain + adc;
        if (readout > 0.0)
            adu += readout * dn_gaussdev(&r, 0);
        if (adu > 2147483647.0) {
            adu = 2147483647.0;
            over += bits == 32;
        }
        /* the reference build's conversions: through int64 for 32 bits, through int32
         * for 16 bits; out-of-range (and NaN) values give the conversion's sentinel */
        out32[i] = adu > -9223372036854775808.0 && adu < 9223372036854775808.0
                       ? (uint32_t)(int64_t)adu : 0u;
        if (adu > 65535.0) {
            adu = 65535.0;
            over += bits == 16;
        }
        out16[i] = adu > -2147483649.0 ? (uint16_t)((int64_t)adu & 0xFFFF) : 0;
    }
    dn_save(&r, state);
    *overloads = over;
    return sum;
}
