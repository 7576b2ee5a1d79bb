"""Run outputs: scalars to TensorBoard and metrics.jsonl, and PNG grids of images.

Paths go through etils.epath, so a workdir may be local or on cloud storage (gs://...)."""
import json
import time

from etils import epath
import numpy as np
from PIL import Image
import tensorboardX


class MetricWriter:
  """Writes scalars to TensorBoard event files and one JSON line per step in WORKDIR.

  Each JSON line also carries `wall_time` (Unix seconds) and `start_time` (when this writer, i.e.
  this training session, started), so time-to-quality plots can add up the sessions of a resumed
  run exactly (gan_jax.plot).

  metrics.jsonl is rewritten whole (to a temporary file, then renamed) at every write: cloud
  storage cannot append, and a run killed mid-write leaves the previous complete file."""

  def __init__(self, workdir: str, enabled: bool = True):
    self._enabled = enabled
    self._start_time = time.time()
    if enabled:
      workdir = epath.Path(workdir)
      workdir.mkdir(parents=True, exist_ok=True)
      self._tb = tensorboardX.SummaryWriter(str(workdir))
      self._jsonl = workdir / 'metrics.jsonl'
      self._rows = self._jsonl.read_text().splitlines(True) if self._jsonl.exists() else []

  def write_scalars(self, step: int, scalars: dict[str, float]) -> None:
    if not self._enabled:
      return
    for name, value in scalars.items():
      self._tb.add_scalar(name, value, step)
    row = {'step': step, **scalars, 'wall_time': time.time(), 'start_time': self._start_time}
    self._rows.append(json.dumps(row) + '\n')
    partial = self._jsonl.with_name(self._jsonl.name + '.tmp')
    partial.write_text(''.join(self._rows))
    partial.replace(self._jsonl)
    self._tb.flush()

  def close(self) -> None:
    if self._enabled:
      self._tb.close()


GRID_SCALE = 3  # pixels per image pixel in saved grids: 84 px per 28x28 digit
GRID_COLUMNS = 8  # images per row of a run's sample grids and of generate's


def image_grid(images: np.ndarray, columns: int | None = None, padding: int = 2,
               scale: int = 1) -> np.ndarray:
  """[N, H, W, C] images in [0, 1] -> one uint8 [rows*(H+p)+p, cols*(W+p)+p, C] grid, every
  pixel then repeated `scale` x `scale` times (nearest neighbour: no blur)."""
  n, h, w, c = images.shape
  columns = columns or int(np.ceil(np.sqrt(n)))
  rows = int(np.ceil(n / columns))
  grid = np.ones((rows * (h + padding) + padding, columns * (w + padding) + padding, c), np.float32)
  for i, image in enumerate(images):
    r, col = divmod(i, columns)
    top, left = padding + r * (h + padding), padding + col * (w + padding)
    grid[top:top + h, left:left + w] = image
  grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
  return (np.clip(grid, 0.0, 1.0) * 255).round().astype(np.uint8)


def save_image_grid(path: str, images: np.ndarray, columns: int | None = None,
                    scale: int = GRID_SCALE) -> None:
  grid = image_grid(np.asarray(images, np.float32), columns, scale=scale)
  path = epath.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  with path.open('wb') as f:
    Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(
        f, format=Image.registered_extensions().get(path.suffix.lower(), 'PNG'))


def save_text(path: str, lines) -> None:
  path = epath.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(''.join(line + '\n' for line in lines), encoding='utf-8')
