#!/usr/bin/env bash
# One-command GPU check (under 8 minutes on one H100/H200): installs what it needs, runs
# the tests that need CUDA, and prints the GPU figures:
#   - forward sub-steps per second, peak GPU memory and the float64 parity against the C
#     program's golden images for heavy_combo_512 and the 4096^2 frame;
#   - forward and forward plus backward sub-steps per second of the refinement-sized
#     case (float32, float64);
#   - 256^2 data-set shots per second, with noise, written to HDF5.
#
#     bash benchmarks/gpu_check.sh            # the golden cases from ../shared/golden
#     NB_GOLDEN=path/to/golden bash benchmarks/gpu_check.sh
# On a machine where ../shared is not beside the checkout, copy the two cases'
# folders (heavy_combo_512, highres_4096_roi) into an ignored folder and point NB_GOLDEN
# at it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 TRITON_INTERPRET=0
python3 -m pip install -q -e ".[gpu,test]" || echo "gpu_check: pip install failed; using what is installed"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, 'cuda', torch.cuda.is_available())"
python3 -m pytest -q -m gpu tests/native/test_triton.py
python3 benchmarks/bench.py --gpu --no-cpu --no-golden --cases heavy_combo_512 highres_4096_roi --repeat 3
python3 benchmarks/dataset_bench.py --device cuda --no-speedup --shots 2000 --pixels 256
