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
