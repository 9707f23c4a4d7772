/* Noiseless SMV pixels from the float image, the same values as the numpy version in
 * nanobragg.outputs.int_image: floorf((float)(clip(v*scale + adc, 0, 65535) + 0.5)), 0
 * outside the ROI and where that is not finite. */
#include <math.h>
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

/* The C program's image statistics over the pixels where use[i] (use NULL: all): the
 * largest value (its loop starts max_I at 0 and takes a pixel only when greater, so
 * NaN never wins and the first of equal maxima does) and its index, the count, and the
 * double sums of v and v*v in pixel order. out = {max, sum, sum of squares},
 * where = {index of the max (0 if none above 0), count}. */
void nb_image_sums(const float *image, const uint8_t *use, int64_t n, double *out,
                   int64_t *where)
{
    double max = 0.0, sum = 0.0, squares = 0.0;
    int64_t at = 0, count = 0;
    for (int64_t i = 0; i < n; i++) {
        if (use && !use[i])
            continue;
        double v = (double)image[i];
        if (v > max) {
            max = v;
            at = i;
        }
        sum += v;
        squares += v * v;
        count++;
    }
    out[0] = max;
    out[1] = sum;
    out[2] = squares;
    where[0] = at;
    where[1] = count;
}

/* The double sum of (v - mean)^2 over the pixels where use[i] (use NULL: all). */
double nb_image_deviations(const float *image, const uint8_t *use, int64_t n, double mean)
{
    double total = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (use && !use[i])
            continue;
        double d = (double)image[i] - mean;
        total += d * d;
    }
    return total;
}
