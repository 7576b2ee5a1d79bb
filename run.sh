#!/usr/bin/env bash
# ./run.sh train NAME [--config.FIELD=VALUE ...]   train experiments/NAME.py in runs/NAME
# ./run.sh test [PYTEST_ARGS ...]                   run the test suite
# Creates .venv (the package with its test extra, and the jax build for the machine's accelerator)
# on first use, or when pyproject.toml or the accelerator changes.
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
STAMP=$VENV/.installed-pyproject.sha256

# The jax build: GAN_JAX_ACCELERATOR=cpu|cuda12|tpu, or by default cuda12 where nvidia-smi sees a
# GPU and the CPU build elsewhere (set tpu on TPU VMs).
accelerator() {
  local choice=${GAN_JAX_ACCELERATOR:-auto}
  if [[ $choice == auto ]]; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
      choice=cuda12
    else
      choice=cpu
    fi
  fi
  case $choice in
    cpu|cuda12|tpu) echo "$choice" ;;
    *) echo "run.sh: GAN_JAX_ACCELERATOR=$choice; use cpu, cuda12 or tpu" >&2; exit 2 ;;
  esac
}

ensure_env() {
  local want extras accel
  accel=$(accelerator)
  extras=test
  [[ $accel == cpu ]] || extras="test,$accel"
  want="$(sha256sum pyproject.toml | cut -d' ' -f1) $extras"
  if [[ ! -x $VENV/bin/python || ! -f $STAMP || $(cat "$STAMP") != "$want" ]]; then
    echo "run.sh: installing the environment ($extras) in $VENV ..." >&2
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[$extras]"
    echo "$want" > "$STAMP"
  fi
}

# Raw datasets (MNIST IDX files, PTB text) live outside the repo; see README "Data".
if [[ -z ${GAN_JAX_DATA:-} && -d ../shared/datasets ]]; then
  GAN_JAX_DATA=$(cd ../shared/datasets && pwd)
  export GAN_JAX_DATA
fi

usage() { sed -n '2,4p' "$0" | sed 's/^# //' >&2; exit 2; }

case ${1:-} in
  train)
    [[ $# -ge 2 ]] || usage
    name=$2
    shift 2
    ensure_env
    exec "$VENV/bin/python" -m gan_jax.main --config="$name" --workdir="runs/$name" "$@"
    ;;
  test)
    shift
    ensure_env
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  *) usage ;;
esac
