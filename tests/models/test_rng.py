"""Bit-exactness of nanobragg.models.rng against the reference C implementation.

The literal sequences below were printed by a small C harness that compiled
the reference program's own ran1/poidev/gaussdev/gammln/mosaic_rotation_umat/
umat2misset functions (gcc 12, -O3, x86-64) and called them with the stated
idum seeds and inputs.
"""

import math

import numpy as np
import pytest

from nanobragg.models.orientations import (
    mosaic_rotation_umat,
    mosaic_umats,
    random_misset,
    umat2misset,
)
from nanobragg.models.rng import PoissonSampler, Ran1, ShuffleTable, f32, gammln

RTD = 180.0 * (1.0 / math.pi)

# fmt: off

# ran1 from idum -12345 (i.e. "-seed 12345"), first 20 deviates.
RAN1_M12345 = [
    0.9231205582618713, 0.3331466019153595, 0.19788841903209686, 0.9494217038154602,
    0.7838003635406494, 0.9838846325874329, 0.9141300320625305, 0.5832833051681519,
    0.2091340869665146, 0.17778287827968597, 0.9308652281761169, 0.7095022797584534,
    0.03410877659916878, 0.35652440786361694, 0.5120603442192078, 0.23852741718292236,
    0.9822067618370056, 0.5305949449539185, 0.5313891172409058, 0.9166560769081116,
]
# ran1 from the default mosaic seed idum -12345678.
RAN1_MOSAIC_DEFAULT = [
    0.7659893035888672, 0.023453664034605026, 0.5897266268730164, 0.535101592540741,
    0.9822314381599426, 0.6930161118507385, 0.32814687490463257, 0.29564169049263,
    0.8499178886413574, 0.592261791229248, 0.5581326484680176, 0.5349262952804565,
    0.5411194562911987, 0.5948313474655151, 0.41017231345176697, 0.9285979866981506,
    0.16102086007595062, 0.9287239909172058, 0.9520716667175293, 0.5221729874610901,
]
# idum 0 is seeded as 1.
RAN1_ZERO = [
    0.4159993529319763, 0.09196489304304123, 0.7564104795455933, 0.5297002196311951,
    0.9304364919662476,
]
# idum -2147483647 (= -IM): the state collapses to 0, one 0.0 comes out, then
# ran1 re-seeds itself with 1.
RAN1_DEGENERATE = [
    0.0, 0.4159993529319763, 0.09196489304304123, 0.7564104795455933, 0.5297002196311951,
]
# Three deviates from idum -7, then three from a *second* seed variable with
# idum +5, which continues with the shuffle table the first one left.
SHARE = [
    0.12283650040626526, 0.4284699857234955, 0.643754243850708, 0.46789565682411194,
    0.6885014176368713, 0.05388730391860008,
]

# poidev, each mean with a fresh process (fresh statics), idum -12345, 20 draws.
POIDEV = {
    0.5: [
        1.0, 0.0, 4.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0,
        1.0, 0.0,
    ],
    5.0: [
        8.0, 3.0, 7.0, 4.0, 4.0, 2.0, 9.0, 4.0, 6.0, 5.0, 4.0, 1.0, 5.0, 5.0, 1.0, 6.0, 4.0, 9.0,
        9.0, 3.0,
    ],
    11.9: [
        14.0, 13.0, 14.0, 13.0, 10.0, 12.0, 12.0, 19.0, 9.0, 5.0, 12.0, 14.0, 17.0, 15.0, 9.0, 15.0,
        10.0, 6.0, 8.0, 10.0,
    ],
    50.0: [
        47.0, 47.0, 57.0, 47.0, 51.0, 47.0, 45.0, 51.0, 68.0, 55.0, 54.0, 57.0, 57.0, 38.0, 47.0,
        54.0, 58.0, 56.0, 50.0, 38.0,
    ],
    2e6: [
        1999680.75, 2000809.625, 2000229.0, 2001138.625, 1999210.625, 1999287.375, 2000255.625,
        2000525.625, 1999867.5, 1999569.625, 1997727.0, 2000104.875, 2000033.125, 2000522.25,
        2001195.0, 2000090.0, 2001447.5, 2000391.875, 1998774.5, 1998273.125,
    ],
}
# poidev cycling through these means in one process, idum -99, 33 draws
# (exercises the spare Gaussian deviate across regimes and the 12 / 1e6 edges).
MIXED_MEANS = [0.5, 2e6, 5.0, 1e6, 1000000.0625, 13.7, 2e6, 11.9, 0.0, -3.0, 1e9]
POIDEV_MIXED = [
    1.0, 1998235.75, 6.0, 1000481.0, 999841.75, 11.0, 2002209.875, 15.0, 0.0, 0.0, 999997120.0, 0.0,
    1999477.375, 5.0, 1000760.0, 998876.375, 11.0, 2000632.125, 15.0, 0.0, 0.0, 999997696.0, 0.0,
    1998557.875, 8.0, 999334.0, 999813.1875, 12.0, 2000249.25, 14.0, 0.0, 0.0, 1000036480.0,
]
# gaussdev from idum -3, 10 draws.
GAUSS = [
    0.13518232107162476, 0.9234675765037537, 0.4801017642021179, 1.4383015632629395,
    -0.4530172049999237, 0.4056147038936615, 0.5650966763496399, -0.5182455778121948,
    0.284696489572525, -0.46790871024131775,
]
GAMMLN = [
    (1, 0.0),
    (1.5, -0.12078224122524261),
    (13, 19.987215042114258),
    (100.25, 360.2845458984375),
    (1000001, 12815518.0),
    (0.1, 2.2527127265930176),
]

# mosaic domain matrices (row-major umat[0..8]) for "-mosaic 0.5 -mosaic_dom 10
# -mosaic_seed 7" (idum -7) and "-mosaic 1 -mosaic_dom 10 -mosaic_seed 42".
MOSAIC_M7 = [
    [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
    [
        0.9999872619042195, -0.001938731958791816, 0.00466018751702002, 0.001934288999221976,
        0.9999976706613232, 0.000957704544879703, -0.004662033394273235, -0.0009486781960989935,
        0.9999886826631144,
    ],
    [
        0.9999698434721915, -0.0030786164509177317, -0.007129815351666461, 0.0030574436025441105,
        0.9999908898921311, -0.0029786190358638003, 0.007138920423844359, 0.0029567302027217186,
        0.9999701463352245,
    ],
    [
        0.9999712538730022, 0.005139884526784714, -0.0055743174207402435, -0.005159821580338397,
        0.9999803221631693, -0.0035681266377680337, 0.005555867971336545, 0.00359678655126972,
        0.9999780974889348,
    ],
    [
        0.9999870595496495, 0.00160024449272585, -0.004829073493875845, -0.001615372813904939,
        0.9999937952950437, -0.0031304859185653272, 0.004824033988048852, 0.003138246162706098,
        0.999983439916434,
    ],
    [
        0.9999783058278813, 0.004679933719321365, -0.004635309480850323, -0.0046909660705897905,
        0.9999861839835378, -0.002372062260316151, 0.00462414434518186, 0.0023937548798905204,
        0.999986443521436,
    ],
    [
        0.9999944226866171, 0.002219024033082537, 0.0024961025619827967, -0.0022390689950920616,
        0.9999650384182649, 0.008056581855435301, -0.002478137545527366, -0.008062125867208598,
        0.9999644298477856,
    ],
    [
        0.9999676850420829, -0.0005081113343220937, 0.008023134951476772, 0.0005134033870999973,
        0.9999996520202397, -0.0006575533146854646, -0.00802279804929608, 0.0006616511705370231,
        0.9999675979396476,
    ],
    [
        0.999996211321925, -0.0001397387993141498, 0.0027491480251291707, 0.00016205329896356864,
        0.9999670326801977, -0.008118330585089527, -0.0027479229473186474, 0.008118745335855245,
        0.9999632667721586,
    ],
    [
        0.999970463904405, 0.001618962783450996, -0.00751334002390529, -0.0016488708980084011,
        0.9999907355552892, -0.003976182635834122, 0.007506833125274433, 0.003988453722635932,
        0.9999638691939483,
    ],
]
MOSAIC_M42 = [
    [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
    [
        0.9998514301815467, -0.0172031685615575, -0.0010809973905488977, 0.01720591241509578,
        0.9998486324174105, 0.00258240798441753, 0.0010364081627364631, -0.0026006238629548415,
        0.9999960812991437,
    ],
    [
        0.9998946991876245, -0.008481709361591303, -0.011775021987044238, 0.008555719027537503,
        0.999943871831501, 0.0062492286362870846, 0.011721356935598944, -0.0063493143670991965,
        0.9999111440516383,
    ],
    [
        0.9998567827992206, 0.005341610316421637, -0.016058676459150868, -0.005304006980963378,
        0.9999830935512448, 0.002383300574444576, 0.016071135626895817, -0.0022977839127633457,
        0.9998682107101676,
    ],
    [
        0.9998856052140954, 0.011276579144887382, 0.01008043890073145, -0.011299506309712333,
        0.9999336933658504, 0.0022203668360145923, -0.0100547323584002, -0.00233401682058919,
        0.9999467259422785,
    ],
    [
        0.9999822502853785, 0.005942929816422881, -0.00042508750604203883, -0.005935189418355964,
        0.9998488241512935, 0.016343266804532654, 0.0005221501306679216, -0.016340453741343155,
        0.9998663495341605,
    ],
    [
        0.9999452254960021, 0.0032406000782405206, 0.009952111277633813, -0.0032110605239732554,
        0.9999903962031969, -0.0029827154884013093, -0.009961681487624425, 0.0029505952799860555,
        0.9999460279882274,
    ],
    [
        0.9999371355241906, -0.01051482045808455, -0.003894040370969306, 0.01053760129713623,
        0.9999272095268293, 0.005876615249525413, 0.0038319653676781914, -0.0059172796640524225,
        0.9999751506126532,
    ],
    [
        0.9999306514609991, -0.00852367741869022, 0.008126450150219651, 0.008555042981293262,
        0.9999560595903428, -0.0038327702961317395, -0.008093423773046822, 0.003902026629431858,
        0.9999596345252207,
    ],
    [
        0.9999816797380962, 0.0013784522771378468, -0.00589406968871582, -0.001457807970656853,
        0.9999080696282984, -0.013480618981737592, 0.005874945454765895, 0.013488964435039037,
        0.9998917605692997,
    ],
]

# (umat, (rotx, roty, rotz)) for "-misset random" with misset idum -12345,
# -54321, -99.
MISSET = {
    -12345: (
        [
            -0.11157185802898434, -0.19336190353327237, -0.9747629941467566, -0.8120098270687623,
            0.5832003869746176, -0.02274531548287212, 0.5728802328931581, 0.7889793932002571,
            -0.22208051662771988,
        ],
        (1.8451752577429177, -0.6100155833503615, -1.7073434076993237),
    ),
    -54321: (
        [
            -0.019563299502185605, -0.8741304829295604, -0.4852969978538104, 0.5962716474552074,
            -0.3998221422042495, 0.6961338786787048, -0.8025443288402458, -0.2757501648531482,
            0.5290410634627724,
        ],
        (-0.48048416646628367, 0.9315478353714266, 1.6035939358130402),
    ),
    -99: (
        [
            0.2577925783213927, -0.03120363034466772, -0.9656962876679819, -0.9401415391089085,
            0.22245876105123194, -0.2581588388443893, 0.22288309268390238, 0.9744426268820879,
            0.02801238852355828,
        ],
        (1.5420571530957339, -0.2247709633282127, -1.3031683150299234),
    ),
}

# umat2misset of hand-made (partly degenerate) matrices, from the C function.
UMAT2MISSET = [
    ([0, 0, 0, 0, 0, 0, 0, 0, 0], (0.0, -0.0, 0.0)),
    ([2, 0, 0, 0, 0, 0, 0, 0, 0], (0.0, -0.0, 0.0)),
    ([1, 0, 0, 0, 0, 0, 0, 0, 1], (0.0, -0.0, 0.0)),
    ([0, 0, 1, 0, 1, 0, -1, 0, 0], (math.pi, math.pi / 2, math.pi)),
    ([1, 2, 3, 4, 5, 6, 7, 8, 10], (0.6747409422235526, -0.5002353870367602, 1.0405097987661243)),
    ([0.3, 0.1, 0, 0, 0, 0, 0.2, 0.5, 0.7],
     (0.6202494859828216, -0.22843700176633056, -0.27988637785913234)),
    ([0, 1, 0, -1, 0, 0, 0, 0, 1], (0.0, -0.0, -1.5707963267948966)),
]
# fmt: on


def _draw(rng, n):
    return [rng.next() for _ in range(n)]


@pytest.mark.parametrize(
    ("seed", "expected"),
    [
        (-12345, RAN1_M12345),
        (-12345678, RAN1_MOSAIC_DEFAULT),
        (0, RAN1_ZERO),
        (-2147483647, RAN1_DEGENERATE),
    ],
)
def test_ran1_matches_c(seed, expected):
    assert _draw(Ran1(seed), len(expected)) == expected


def test_ran1_positive_seed_on_fresh_table_is_seeded_as_one():
    assert _draw(Ran1(5), 5) == RAN1_ZERO


def test_ran1_positive_seed_continues_shared_table():
    table = ShuffleTable()
    first = _draw(Ran1(-7, table), 3)
    second = _draw(Ran1(5, table), 3)
    assert first + second == SHARE


def test_ran1_values_are_float32():
    values = np.array(_draw(Ran1(-1), 1000))
    assert np.array_equal(values.astype(np.float32).astype(np.float64), values)
    assert values.min() > 0.0
    assert values.max() < 1.0


@pytest.mark.parametrize("seed", [-12345, -1, -2147483647])
def test_fill_equals_repeated_next(seed):
    one_by_one = Ran1(seed)
    batched = Ran1(seed)
    expected = _draw(one_by_one, 40000)
    assert batched.fill(3) + batched.fill(39997) == expected
    assert batched.idum == one_by_one.idum
    assert batched.table == one_by_one.table


def test_f32_rounds_like_numpy():
    values = np.random.default_rng(1).standard_normal(5000) * 1e3
    ties = [1.0 + 2.0**-24, 1.0 + 3 * 2.0**-24, -(1.0 + 2.0**-24)]
    for x in [*values.tolist(), *ties]:
        assert f32(x) == float(np.float32(x))
    assert f32(1e39) == math.inf
    assert f32(-1e39) == -math.inf


@pytest.mark.parametrize("mean", sorted(POIDEV))
def test_poidev_matches_c(mean):
    sampler = PoissonSampler(Ran1(-12345))
    assert [sampler.poidev(mean) for _ in range(20)] == POIDEV[mean]


def test_poidev_mixed_regimes_match_c():
    sampler = PoissonSampler(Ran1(-99))
    got = [sampler.poidev(MIXED_MEANS[i % len(MIXED_MEANS)]) for i in range(len(POIDEV_MIXED))]
    assert got == POIDEV_MIXED


def test_poidev_nan_mean_gives_nan():
    sampler = PoissonSampler(Ran1(-5))
    assert math.isnan(sampler.poidev(math.nan))


@pytest.mark.parametrize("mean", [0.5, 5.0, 11.9, 12.0, 50.0, 1000.0, 2e6])
def test_poidev_moments(mean):
    n = 20000
    sampler = PoissonSampler(Ran1(-2024))
    samples = np.array([sampler.poidev(mean) for _ in range(n)])
    # 5 standard errors of the sample mean and of the sample variance
    # (Var[s^2] ~ (mu4 - sigma^4) / n = (m + 2 m^2) / n for a Poisson law).
    assert abs(samples.mean() - mean) < 5.0 * math.sqrt(mean / n)
    assert abs(samples.var(ddof=1) - mean) < 5.0 * math.sqrt((mean + 2.0 * mean * mean) / n)
    if mean <= 1e6:
        assert np.all(samples == np.floor(samples))
        assert samples.min() >= 0.0


def test_gaussdev_matches_c():
    sampler = PoissonSampler(Ran1(-3))
    assert [sampler.gaussdev() for _ in range(len(GAUSS))] == GAUSS


@pytest.mark.parametrize(("x", "expected"), GAMMLN)
def test_gammln_matches_c(x, expected):
    assert gammln(x) == expected


@pytest.mark.parametrize(
    ("spread_deg", "seed", "expected"), [(0.5, -7, MOSAIC_M7), (1.0, -42, MOSAIC_M42)]
)
def test_mosaic_umats_match_c(spread_deg, seed, expected):
    umats = mosaic_umats(spread_deg / RTD, 10, seed)
    expected = np.array(expected).reshape(10, 3, 3)
    assert umats.shape == (10, 3, 3)
    assert umats.dtype == np.float64
    np.testing.assert_allclose(umats, expected, rtol=1e-15, atol=0)
    np.testing.assert_array_equal(umats[0], np.eye(3))


def test_mosaic_umats_are_rotations():
    umats = mosaic_umats(5.0 / RTD, 50, -3)
    for umat in umats:
        np.testing.assert_allclose(umat @ umat.T, np.eye(3), atol=1e-14)
        assert np.linalg.det(umat) == pytest.approx(1.0, abs=1e-14)


@pytest.mark.parametrize("seed", sorted(MISSET))
def test_random_misset_matches_c(seed):
    umat, angles = MISSET[seed]
    np.testing.assert_allclose(
        mosaic_rotation_umat(90.0, Ran1(seed)), np.reshape(umat, (3, 3)), rtol=1e-15, atol=0
    )
    np.testing.assert_allclose(random_misset(seed), angles, rtol=1e-15, atol=0)


def test_random_misset_reported_angles_of_c_program():
    # "-misset random -misset_seed 99" printed these angles (degrees, %f).
    angles = [a * RTD for a in random_misset(-99)]
    np.testing.assert_allclose(angles, [88.353367, -12.878428, -74.666044], atol=5e-7)


@pytest.mark.parametrize(("umat", "expected"), UMAT2MISSET)
def test_umat2misset_matches_c(umat, expected):
    assert umat2misset(umat) == pytest.approx(expected, rel=1e-15, abs=0)
    assert umat2misset(np.reshape(umat, (3, 3))) == umat2misset(umat)


def test_powf_is_a_float32_power_within_one_ulp():
    from nanobragg.models.rng import f32, powf

    rng = np.random.default_rng(3)
    third = f32(1.0 / 3.0)
    for x in rng.random(2000).astype(np.float32).tolist():
        value = powf(x, third)
        assert value == f32(value)
        exact = np.float32(math.pow(x, third))
        assert abs(np.float32(value) - exact) <= np.spacing(exact)
