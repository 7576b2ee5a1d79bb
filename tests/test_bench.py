import importlib.metadata
import os
import subprocess
import sys

import pytest

from gan_jax import bench
from conftest import TINY_TEXT, requires_mnist, requires_ptb, tiny_config


@requires_mnist
def test_bench_reports_consistent_rates():
  result = bench.benchmark(tiny_config('gan_mnist'), warmup_steps=1, min_steps=5, min_seconds=0)
  assert result['timed_steps'] == 5 and result['compile_seconds'] > 0
  assert abs(result['examples_per_sec'] - 16 * result['steps_per_sec']) < 0.01 * result['examples_per_sec']
  assert result['devices'].startswith('8 x ')
  # FLOPs from XLA's cost analysis: at least the generator's output layer, forward, per image.
  assert result['flops_per_step'] > 16 * 2 * 100 * 784
  assert result['achieved_gflops_per_sec'] == pytest.approx(
      result['flops_per_step'] / 1e9 * result['steps_per_sec'], rel=0.01, abs=0.01)
  assert 0 < result['fraction_of_matmul_rate'] and result['matmul_gflops_per_sec'] > 0
  assert result['input_examples_per_sec'] > 0
  assert result['input_over_step_rate'] == pytest.approx(
      result['input_examples_per_sec'] / result['examples_per_sec'], rel=0.01, abs=0.01)


@requires_ptb
def test_bench_over_the_real_bucketed_order():
  config = tiny_config('text_vae_ptb', **TINY_TEXT)
  result = bench.benchmark(config, 0, 0, 0, data_batches=6)
  assert result['data_batches'] == 6 and all(s[0] == 16 for s in result['shapes'])
  assert {s[1] for s in result['shapes']} <= set(config.bucket_lengths)
  assert 0 <= result['padding_share'] < 1 and result['tokens_per_sec'] > 0


def test_cpu_convolution_flag_is_added_but_the_users_value_wins():
  if importlib.metadata.version('jaxlib').split('.')[:2] != ['0', '10']:
    pytest.skip('the flag is set on jaxlib 0.10 only')
  show = [sys.executable, '-c', 'import os, gan_jax; print(os.environ["XLA_FLAGS"])']
  for given, expected in [
      ('--xla_force_host_platform_device_count=2', '--xla_force_host_platform_device_count=2 '
       '--xla_cpu_experimental_ynn_fusion_type=-individual_convolution'),
      ('--xla_cpu_experimental_ynn_fusion_type=+individual_convolution',
       '--xla_cpu_experimental_ynn_fusion_type=+individual_convolution')]:
    out = subprocess.run(show, env={**os.environ, 'XLA_FLAGS': given}, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == expected


def test_bench_times_the_phase_the_trainer_runs_at_a_step():
  from test_seqgan import TINY_SEQGAN  # pylint: disable=g-import-not-at-top
  config = tiny_config('seqgan_oracle', **TINY_SEQGAN)
  mle, adversarial = (bench.benchmark(config, 0, 1, 0, at_step=step) for step in (0, 3))
  assert (mle['phase'], adversarial['phase']) == (0, 2)
  # The adversarial step samples, rolls out and updates D as well: many times the MLE step's work.
  assert adversarial['flops_per_step'] > 5 * mle['flops_per_step']
