#!/usr/bin/env bash
# The GPU benchmarks in one go (bench/gpu.py): throughput vs a plain loop, cgan/cvae/ddpm CAS curves on
# MNIST, MNIST with 100 labels (FixMatch, semi-supervised GAN), at bf16; one JSON on stdout.
# On a CUDA machine: bash bench/gpu.sh [--data-dir DIR_WITH_MNIST_IDX]  -> also bench/results/gpu.json
# Anywhere else:     bash bench/gpu.sh --reduced  (tiny data; what CI checks).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python bench/gpu.py "$@"
