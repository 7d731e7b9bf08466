#!/usr/bin/env bash
# The GPU benchmarks in one go (bench/gpu.py): throughput, cgan/cvae CAS on MNIST, MNIST with 100 labels.
# On a CUDA machine: bash bench/gpu.sh  -> one JSON on stdout and in bench/results/gpu.json (< 10 min on an H100).
# Anywhere else:     bash bench/gpu.sh --reduced  (tiny data; what CI checks).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python bench/gpu.py "$@"
