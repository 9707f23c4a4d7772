"""Physical constants and unit factors, in one place."""

#: Square of the classical electron radius (m^2), the C program's value.
R_E_SQR = 7.94079248018965e-30
#: Avogadro's number (1/mol), the C program's value.
AVOGADRO = 6.02214179e23
#: hc in eV*Angstrom as the C program uses it for -energy.
HC_EV_ANGSTROM = 12398.42
#: Forward structure factor of water (electrons) and its molecular weight (g/mol).
WATER_F = 2.57
WATER_MW = 18.0
#: One Angstrom in metres.
ANGSTROM = 1e-10
