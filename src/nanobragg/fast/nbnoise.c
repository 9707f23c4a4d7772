/* Seeded Poisson noise image, drawing the same numbers in the same order as
 * nanobragg.rng (Ran1 + PoissonSampler) and nanobragg.noise do in Python, so the
 * result is bit-identical to them. float variables hold the single-precision
 * values; every double expression is rounded where the Python rounds with f32. */
#include <math.h>
#include <stdint.h>

#define NB_IA 16807
#define NB_IM 2147483647
#define NB_IQ 127773
#define NB_IR 2836
#define NB_NTAB 32
#define NB_NDIV (1 + (NB_IM - 1) / NB_NTAB)
#define NB_AM (1.0 / NB_IM)
#define NB_RNMX (1.0 - 1.2e-7)
#define NB_WARMUP 8

#define NB_GAMMLN_SLOTS 4096

/* state[0] = idum, state[1] = iy, state[2..33] = iv; the gammln cache only saves work
 * (a slot holds the value for its key exactly) */
typedef struct {
    int64_t *state;
    int has_spare;
    float spare;
    float oldm, g, sq, alxm;
    float gl_key[NB_GAMMLN_SLOTS], gl_value[NB_GAMMLN_SLOTS];
} nb_sampler;

static int64_t nb_schrage(int64_t idum)
{
    int64_t k = idum / NB_IQ;
    idum = NB_IA * (idum - k * NB_IQ) - NB_IR * k;
    return idum < 0 ? idum + NB_IM : idum;
}

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
    float temp = (float)(NB_AM * (double)st[1]);
    return (double)temp > NB_RNMX ? (float)NB_RNMX : temp;
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

/* gammln(em + 1) for a whole em >= 0, remembered per slot. */
static float nb_gammln_whole(nb_sampler *s, float em)
{
    float arg = (float)(em + 1.0);
    if (!(em >= 0.0f && em < 1.0e9f))
        return nb_gammln(arg);
    int64_t slot = (int64_t)em & (NB_GAMMLN_SLOTS - 1);
    if (s->gl_key[slot] != arg) {
        s->gl_key[slot] = arg;
        s->gl_value[slot] = nb_gammln(arg);
    }
    return s->gl_value[slot];
}

static float nb_gaussdev(nb_sampler *s)
{
    if (s->has_spare) {
        s->has_spare = 0;
        return s->spare;
    }
    float v1, v2, rsq;
    do {
        v1 = (float)(2.0 * nb_ran1(s->state) - 1.0);
        v2 = (float)(2.0 * nb_ran1(s->state) - 1.0);
        rsq = v1 * v1 + v2 * v2;
    } while (!(rsq < 1.0f && rsq != 0.0f));
    float fac = (float)sqrt(-2.0 * log((double)rsq) / rsq);
    s->spare = v1 * fac;
    s->has_spare = 1;
    return v2 * fac;
}

static float nb_poidev(nb_sampler *s, float xm)
{
    if (xm > 1.0e6f)
        return (float)(xm + sqrt((double)xm) * nb_gaussdev(s));
    if (xm < 12.0f) {
        if (xm != s->oldm) {
            s->oldm = xm;
            s->g = (float)exp(-(double)xm);
        }
        float em = -1.0f, t = 1.0f;
        do {
            em += 1.0f;
            t = t * nb_ran1(s->state);
        } while (t > s->g);
        return em;
    }
    if (xm != s->oldm) {
        s->oldm = xm;
        s->sq = (float)sqrt(2.0 * xm);
        s->alxm = (float)log((double)xm);
        s->g = xm * s->alxm - nb_gammln((float)(xm + 1.0));
    }
    for (;;) {
        float y, em;
        do {
            y = (float)tan(3.141592653589793 * nb_ran1(s->state));
            em = s->sq * y + xm;
        } while (em < 0.0f);
        em = floorf(em);
        float log_ratio = (em * s->alxm - nb_gammln_whole(s, em)) - s->g;
        float t = (float)(0.9 * (1.0 + (double)(y * y)) * exp((double)log_ratio));
        if (!(nb_ran1(s->state) > t))
            return em;
    }
}

/* Noise counts of n means (C order); returns the photon sum and counts overloads. */
double nb_noise(const float *means, int64_t n, double adc, int64_t *state,
                uint16_t *out, int64_t *overloads)
{
    static const nb_sampler fresh = {0};
    nb_sampler s = fresh;
    s.state = state;
    s.oldm = -1.0f;
    for (int i = 0; i < NB_GAMMLN_SLOTS; i++)
        s.gl_key[i] = -1.0f;
    double photons = 0.0;
    int64_t over = 0;
    for (int64_t i = 0; i < n; i++) {
        float deviate = nb_poidev(&s, means[i]);
        photons += deviate;
        double value = deviate + adc;
        if (value > 65535.0) {
            value = 65535.0;
            over++;
        }
        out[i] = value > -2147483649.0 ? (uint16_t)((int64_t)value & 0xFFFF) : 0;
    }
    *overloads = over;
    return photons;
}
