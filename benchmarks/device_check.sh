#!/usr/bin/env bash
# The accelerator check, one command: on a machine with a GPU (or TPU) whose Python already has
# jax for it, flax, optax, orbax and torch, run from the repository root
#
#   bash benchmarks/device_check.sh [OUT_DIR]
#
# It installs what that machine lacks (tensorflow-datasets, ml-collections, pytest-xdist if
# present) from local wheels into .site/, then writes into OUT_DIR (default runs/device_check):
#   tests.log        the test suite (the 8-device tests on virtual CPU devices)
#   bench.jsonl      gan_jax.bench of dcgan_mnist at batches 256 and 1024
#   compare.jsonl    benchmarks/compare.py against PyTorch eager and torch.compile, same batches
#   train.log        a 2,000-step dcgan_mnist run (its FID at the end) and its wall time
# Each part runs even when an earlier one fails; the exit status is the first failure's.
#
# Environment: GAN_JAX_WHEELS (default ../shared/wheels/gpu-py312), GAN_JAX_DATA (default
# ../shared/datasets), DEVICE_CHECK_TRAIN_STEPS (default 2000), DEVICE_CHECK_PARTS (default
# "tests bench compare train").
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/device_check}
mkdir -p "$OUT"
WHEELS=${GAN_JAX_WHEELS:-../shared/wheels/gpu-py312}
export GAN_JAX_DATA=${GAN_JAX_DATA:-$(cd ../shared/datasets 2>/dev/null && pwd)}
PARTS=${DEVICE_CHECK_PARTS:-tests bench compare train}
STEPS=${DEVICE_CHECK_TRAIN_STEPS:-2000}
PY=${PYTHON:-python3}
status=0

if ! $PY -c 'import tensorflow_datasets, ml_collections' 2>/dev/null; then
  $PY -m pip install -q --no-index --no-deps --target .site "$WHEELS"/*.whl || status=1
fi
export PYTHONPATH=$PWD/.site:$PWD/benchmarks:$PWD${PYTHONPATH:+:$PYTHONPATH}

# dcgan_mnist with the switches the PyTorch twin does not implement turned off, as in
# benchmarks/README.md.
PLAIN_STEP="--config.r1_weight=0 --config.ema_decay=0 --config.code_classes=0 --config.optimizer.schedule=constant"

run() {  # run NAME COMMAND...: logs to $OUT/NAME.log, keeps the first failure's status
  local name=$1; shift
  echo "== $name: $*" | tee -a "$OUT/summary.txt"
  local start=$SECONDS
  "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  echo "   rc=$rc wall=$((SECONDS - start))s" | tee -a "$OUT/summary.txt"
  [[ $rc == 0 || $status != 0 ]] || status=$rc
}

{ nvidia-smi -L 2>/dev/null || true; $PY -c 'import jax; print(jax.__version__, jax.devices())'; } \
  | tee "$OUT/summary.txt"

for part in $PARTS; do
  case $part in
    tests)
      # pytest-xdist where installed (the addopts ask for it); serially otherwise.
      if $PY -c 'import xdist' 2>/dev/null; then xdist=(); else xdist=(-o addopts=); fi
      run tests $PY -m pytest -q "${xdist[@]}" tests ;;
    bench)
      for batch in 256 1024; do
        run "bench_$batch" $PY -m gan_jax.bench --config=dcgan_mnist --config.batch_size=$batch
        tail -n 1 "$OUT/bench_$batch.log" >> "$OUT/bench.jsonl"
      done ;;
    compare)
      # shellcheck disable=SC2086
      run compare $PY benchmarks/compare.py --config=dcgan_mnist --torch_compile \
        --batch_sizes=256,1024 $PLAIN_STEP
      grep '^{' "$OUT/compare.log" > "$OUT/compare.jsonl" ;;
    train)
      rm -rf "$OUT/dcgan_mnist"
      run train $PY -m gan_jax.main --config=dcgan_mnist --workdir="$OUT/dcgan_mnist" \
        --config.num_train_steps="$STEPS" --config.eval_every_steps="$STEPS"
      grep -o 'fid [0-9.]*' "$OUT/train.log" | tail -n 1 | tee -a "$OUT/summary.txt" ;;
    *) echo "unknown part $part (use tests, bench, compare, train)" >&2; status=2 ;;
  esac
done
exit $status
