#!/usr/bin/env bash
# The GPU checks, prepared as one run for a CUDA machine (it needs a GPU; nothing here runs without one):
# the CUDA tests, env against pipeline throughput for a DiT-XL/2-sized random model in bf16 at batch 64
# to 1,024, a short training run on the GPU, and AdaGen-Bench's lite suite for our PPO on the GPU.
#
#   bash benchmarks/gpu_check.sh [OUT]     # default OUT: benchmarks/results/gpu
#
# Each step is timed and capped, and writes under OUT; a step that fails does not stop the others.
set -uo pipefail
out=${1:-benchmarks/results/gpu}
mkdir -p "$out"
python - <<'PY' || { echo "no CUDA device: these checks need a GPU"; exit 1; }
import torch
assert torch.cuda.is_available()
print(torch.cuda.get_device_name(0))
PY
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
step() {  # step NAME SECONDS COMMAND...: run it with a time limit, keep its output and wall time
    local name=$1 limit=$2; shift 2
    local start=$SECONDS
    timeout "$limit" "$@" > "$out/$name.log" 2>&1
    local rc=$?
    echo "$name: exit $rc in $((SECONDS - start)) s" | tee -a "$out/steps.txt"
    tail -5 "$out/$name.log"
}
step cuda-tests 300 python -m pytest -q tests/test_gpu.py
step throughput 300 python -m benchmarks.diffusers_overhead --device cuda --dtype bf16 --models xl \
    --batch 64 256 1024 --steps 20 --repeats 3 --schedulers DDIMScheduler --out "$out/diffusers_overhead_gpu.json"
step train 200 adagen train --env AdaGen/Diffusion-Digits-v0 --device cuda --updates 20 \
    --out "$out/diffusion-gpu.pt" --logdir "$out/logs" --overwrite
step bench-lite 600 adagen bench run --suite lite --algo ppo --device cuda --results "$out/bench-lite"
