#!/usr/bin/env bash
# Cross-date weights on one GPU: train (config/train_T_crossdate_gpu.yaml), export the backbone,
# then compare untrained / demo / new on the held-out dates at 384 px in one bench run.
# Run from the repository root with ../shared/data present:  scripts/train_crossdate_gpu.sh
# Resumes from runs/crossdate_T_gpu/last.pt if a previous run was cut short.
set -euo pipefail
out=${OUT:-runs/crossdate_T_gpu}
python -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "no CUDA device")'
spikevim train --config config/train_T_crossdate_gpu.yaml --device cuda --output-dir "$out" \
    --export "$out/spikevimformer_t_crossdate.safetensors"
python bench/bench_crossdate_retrieval.py --threads 8 --frames 200 \
    --weights none demo "$out/spikevimformer_t_crossdate.safetensors" --out "$out/bench" \
    | tee "$out/bench/table.txt"
