"""Small data-set descriptions shared by the data-set tests."""

import math

import pytest

from nanobragg.dataset.description import parse_description

RIGHT = math.pi / 2


def small_document(pixels: int = 24, shots: int = 6, **variation) -> dict:
    """A description of a few tiny shots (one sub-pixel, seconds in all)."""
    return {
        "seed": 20261201, "shots": shots, "shots_per_file": 2, "batch": 3,
        "dtype": "float32",
        "experiment": {"config": {
            "detector": {"fpixels": pixels, "spixels": pixels, "pixel_size": 4e-4,
                         "distance": 0.08, "oversample": 1},
            "crystal": {"cell": [79e-10, 79e-10, 38e-10, RIGHT, RIGHT, RIGHT],
                        "N": [6, 6, 6], "default_F": 100},
            "beam": {"wavelength": 1e-10},
        }},
        "variation": variation or {
            "orientation": "random", "cell_length_sigma": 0.004,
            "mosaic_spread_deg": {"uniform": [0.05, 0.3]}, "mosaic_domains": 2,
            "wavelength_A": {"normal": [1.0, 0.002]}, "fluence": {"log_uniform": [1e29, 1e30]},
            "noise": "poisson",
        },
    }


@pytest.fixture
def small_desc():
    """The default small description."""
    return parse_description(small_document())
