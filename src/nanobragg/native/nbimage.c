/* Noiseless SMV pixels from the float image, the same values as the numpy version in
 * nanobragg.products.images.int_image: floorf((float)(clip(v*scale + adc, 0, 65535) + 0.5)), 0
 * outside the ROI and where that is not finite. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

void nb_int_image(const float *image, const uint8_t *roi, int64_t n, double scale,
                  double adc, uint16_t *out)
{
    for (int64_t i = 0; i < n; i++) {
        double value = (double)image[i] * scale + adc;
        value = value < 0.0 ? 0.0 : (value > 65535.0 ? 65535.0 : value);
        float rounded = floorf((float)(value + 0.5));
        out[i] = (roi[i] && isfinite(rounded)) ? (uint16_t)rounded : 0;
    }
}

/* Lanes of the partial sums below: eight running sums, added up at the end, so the
 * loops vectorise without reassociating anything (the sums are independent chains). */
#define NB_PARTS 8

/* Sum of v and of v*v (in double) over the pixels where use[i] (use NULL: all). */
static void nb_sums(const float *image, const uint8_t *use, int64_t n, double *sum,
                    double *squares)
{
    double s[NB_PARTS] = {0}, q[NB_PARTS] = {0};
    int64_t whole = n / NB_PARTS * NB_PARTS;
    for (int64_t i = 0; i < whole; i += NB_PARTS) {
        for (int j = 0; j < NB_PARTS; j++) {
            double v = use && !use[i + j] ? 0.0 : (double)image[i + j];
            s[j] += v;
            q[j] += v * v;
        }
    }
    for (int64_t i = whole; i < n; i++) {
        if (use && !use[i])
            continue;
        double v = (double)image[i];
        s[0] += v;
        q[0] += v * v;
    }
    *sum = 0.0;
    *squares = 0.0;
    for (int j = 0; j < NB_PARTS; j++) {
        *sum += s[j];
        *squares += q[j];
    }
}

/* The C program's image statistics over the pixels where use[i] (use NULL: all): the
 * largest value (its loop starts max_I at 0 and takes a pixel only when greater, so
 * NaN never wins and the first of equal maxima does) and its index, the count, and the
 * double sums of v and v*v. out = {max, sum, sum of squares},
 * where = {index of the max (0 if none above 0), count}. */
void nb_image_sums(const float *image, const uint8_t *use, int64_t n, double *out,
                   int64_t *where)
{
    float max = 0.0f;
    int64_t count = n;
    if (use) {
        count = 0;
        for (int64_t i = 0; i < n; i++) {
            float v = use[i] ? image[i] : 0.0f;
            max = v > max ? v : max;
            count += use[i] != 0;
        }
    } else {
        for (int64_t i = 0; i < n; i++)
            max = image[i] > max ? image[i] : max;
    }
    int64_t at = 0;
    if (max > 0.0f) {
        while (!((use == NULL || use[at]) && image[at] == max))
            at++;
    }
    out[0] = (double)max;
    nb_sums(image, use, n, &out[1], &out[2]);
    where[0] = at;
    where[1] = count;
}

/* The double sum of (v - mean)^2 over the pixels where use[i] (use NULL: all). */
double nb_image_deviations(const float *image, const uint8_t *use, int64_t n, double mean)
{
    double t[NB_PARTS] = {0};
    int64_t whole = n / NB_PARTS * NB_PARTS;
    for (int64_t i = 0; i < whole; i += NB_PARTS) {
        for (int j = 0; j < NB_PARTS; j++) {
            double d = (double)image[i + j] - mean;
            d = (use && !use[i + j]) ? 0.0 : d;
            t[j] += d * d;
        }
    }
    for (int64_t i = whole; i < n; i++) {
        if (use && !use[i])
            continue;
        double d = (double)image[i] - mean;
        t[0] += d * d;
    }
    double total = 0.0;
    for (int j = 0; j < NB_PARTS; j++)
        total += t[j];
    return total;
}
