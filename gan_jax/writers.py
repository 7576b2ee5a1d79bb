"""Run outputs: scalars to TensorBoard and metrics.jsonl, and PNG grids of images."""
import json
import os
import time

import numpy as np
from PIL import Image
import tensorboardX


class MetricWriter:
  """Writes scalars to TensorBoard event files and one JSON line per step in WORKDIR.

  Each JSON line also carries `wall_time` (Unix seconds) and `start_time` (when this writer, i.e.
  this training session, started), so time-to-quality plots can add up the sessions of a resumed
  run exactly (gan_jax.plot)."""

  def __init__(self, workdir: str, enabled: bool = True):
    self._enabled = enabled
    self._start_time = time.time()
    if enabled:
      os.makedirs(workdir, exist_ok=True)
      self._tb = tensorboardX.SummaryWriter(workdir)
      self._jsonl = open(os.path.join(workdir, 'metrics.jsonl'), 'a')

  def write_scalars(self, step: int, scalars: dict[str, float]) -> None:
    if not self._enabled:
      return
    for name, value in scalars.items():
      self._tb.add_scalar(name, value, step)
    row = {'step': step, **scalars, 'wall_time': time.time(), 'start_time': self._start_time}
    self._jsonl.write(json.dumps(row) + '\n')
    self._jsonl.flush()
    self._tb.flush()

  def close(self) -> None:
    if self._enabled:
      self._tb.close()
      self._jsonl.close()


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
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path)


def save_text(path: str, lines) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'w', encoding='utf-8') as f:
    f.writelines(line + '\n' for line in lines)
