"""Help text of the nanoBragg command."""

USAGE = """\
usage: nanoBragg -cell a b c alpha beta gamma | -mat A.mat  -hkl F.hkl | -default_F F  [options]

Crystal
  -cell a b c al be ga   unit cell (Angstrom, degrees)        -mat FILE     MOSFLM A matrix
  -hkl FILE              h k l F table (writes the Fdump.bin cache; read back when -hkl is absent)
  -default_F F           F of reflections not in the table     -misset rx ry rz | random (deg)
  -N n | -Na -Nb -Nc     unit cells per axis                   -xtalsize / -samplesize (mm)
  -square_xtal -round_xtal -gauss_xtal -tophat_spots -fudge   spot shape
  -mosaic deg -mosaic_domains n -mosaic_seed s               mosaic spread
  -phi deg -osc deg -phistep deg -phisteps n                 spindle rotation
  -interpolate | -nointerpolate                              tricubic F interpolation
Beam
  -lambda A | -energy eV   -dispersion % -dispsteps n   -divergence mrad -hdivrange -vdivrange
  -hdivstep -vdivstep -hdivsteps -vdivsteps -round_div -square_div   -sourcefile FILE
  -fluence ph/m^2 | -flux ph/s -exposure s -beamsize mm   -water um   -polar k | -nopolar
Detector
  -distance mm -close_distance mm -pixel mm -detpixels n (-detpixels_f/_s) -detsize mm (_f/_s)
  -Xbeam -Ybeam -Xclose -Yclose mm   -ORGX -ORGY px   -mosflm -denzo -adxv -xds -dials
  -fdet_vector -sdet_vector -odet_vector -beam_vector -polar_vector -spindle_axis
  -twotheta_axis -pix0_vector x y z   -pivot beam|sample
  -detector_rotx/_roty/_rotz deg -twotheta deg -curved_det -point_pixel
  -detector_thick um -detector_abs um|inf -thicksteps n   -img FILE -mask FILE
Sampling
  -oversample n -oversample_thick -oversample_polar -oversample_omega -roi x0 x1 y0 y1 -dmin A
Output
  -floatfile F -intfile F -pgmfile F -noisefile F -nopgm -nonoise -scale s -adc a -pgmscale s
  -seed s   (files default to floatimage.bin intimage.img image.pgm noiseimage.img, as the C)
nanobragg only
  -dtype float32|float64 (default float64)  -device cpu|cuda|auto  -trace_pixel slow fast
  -chunk N (evaluations per kernel call, bounds memory)  -engine eager|fast|triton|auto
  (the tensor kernel, the fused C kernel, the fused Triton kernel on CUDA, or the fused
  one wherever it applies; default auto)
  -expt FILE (geometry from a DIALS experiment list) -expt_image n (its scan's image n)
  -exptout FILE (write the rendered geometry as a DIALS experiment list)
  -nexusfile F.h5 (NeXus NXmx; -nexus_stack: one frame per phi step; -nexus_compression
  gzip|bitshuffle|none)  -cbffile F.cbf (miniCBF)  -pngfile F.png (preview; -pngrings)
  -nocostlimit (render even above 1e13 evaluations or 1e6 sources/domains/phi steps)
Structure factors from crystallographers' files (pip install 'nanobragg[models]')
  -hkl F.mtz             MTZ: amplitudes expanded to P1 (F(+)/F(-) kept apart); cell if no -cell
  -mtz_column LABEL      the amplitude column (or 'PLUS,MINUS'); default FMODEL, FC, F, FP, ...
  -pdb FILE              PDB or mmCIF model: F from the atoms (absolute scale, F000 included),
                         cell and space group from the file unless -cell/-mat (must agree)
  -model_dmin A          resolution of the model's table (default: the detector corners)
  -ksol e/A^3 -bsol A^2  flat bulk solvent (e.g. 0.35 46.5; default none)
  -hklout P1.hkl         write the P1 table of -pdb or the MTZ as 'h k l F' for the C program
"""
