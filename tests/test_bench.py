from gan_jax import bench
from conftest import requires_mnist, tiny_config


@requires_mnist
def test_bench_reports_consistent_rates():
  result = bench.benchmark(tiny_config('gan_mnist'), warmup_steps=1, min_steps=5, min_seconds=0)
  assert result['timed_steps'] == 5 and result['compile_seconds'] > 0
  assert abs(result['images_per_sec'] - 16 * result['steps_per_sec']) < 0.01 * result['images_per_sec']
  assert result['devices'].startswith('8 x ')
