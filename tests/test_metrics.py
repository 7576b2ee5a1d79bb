import numpy as np
import pytest
import scipy.linalg

from gan_jax import metrics


def test_identical_sets_have_zero_distance():
  x = np.random.default_rng(0).normal(size=(2000, 16))
  assert abs(metrics.frechet_distance_of(x, x)) < 1e-3


def test_frechet_distance_matches_the_gaussian_closed_form():
  # N(0, I) vs N(mu, s^2 I) in d dims: |mu|^2 + d (1 - s)^2.
  rng = np.random.default_rng(1)
  d, mu, s = 8, np.full(8, 0.5), 2.0
  a = rng.normal(size=(200_000, d))
  b = mu + s * rng.normal(size=(200_000, d))
  expected = np.sum(mu ** 2) + d * (1 - s) ** 2
  assert metrics.frechet_distance_of(a, b) == pytest.approx(expected, rel=0.02)


def test_frechet_distance_with_non_commuting_covariances_against_float64_scipy():
  rng = np.random.default_rng(3)
  d = 12
  a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
  cov1, cov2 = a @ a.T + 0.1 * np.eye(d), b @ b.T + 0.1 * np.eye(d)
  assert not np.allclose(cov1 @ cov2, cov2 @ cov1)  # a shared eigenbasis would hide errors
  mean1, mean2 = rng.normal(size=d), rng.normal(size=d)
  expected = (np.sum((mean1 - mean2) ** 2) + np.trace(cov1 + cov2)
              - 2 * np.trace(scipy.linalg.sqrtm(cov1 @ cov2).real))
  assert metrics.frechet_distance(mean1, cov1, mean2, cov2) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_of_features_far_from_zero_is_float64_exact():
  # Features with a large shared offset and a small spread: covariances taken in float32 (or
  # TF32/bf16 matmul passes on an accelerator) lose the spread to rounding.
  rng = np.random.default_rng(4)
  a = 1000.0 + rng.normal(size=(2000, 8)) * 0.05
  b = 1000.0 + rng.normal(size=(2000, 8)) * 0.1 + 0.01
  expected = (np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(np.cov(a.T) + np.cov(b.T))
              - 2 * np.trace(scipy.linalg.sqrtm(np.cov(a.T) @ np.cov(b.T)).real))
  assert metrics.frechet_distance_of(a, b) == pytest.approx(expected, rel=1e-6)


def test_class_score_extremes():
  confident = np.eye(10)[np.arange(1000) % 10] * 50.0
  assert float(metrics.class_score(confident)) == pytest.approx(10.0, rel=1e-3)
  one_class = np.eye(10)[np.zeros(1000, int)] * 50.0
  assert float(metrics.class_score(one_class)) == pytest.approx(1.0, rel=1e-3)


def test_precision_recall_of_a_mode_collapsed_generator():
  rng = np.random.default_rng(2)
  centres = rng.normal(size=(10, 16)) * 10
  real = centres[np.arange(2000) % 10] + rng.normal(size=(2000, 16))
  same = centres[np.arange(2000) % 10] + rng.normal(size=(2000, 16))
  collapsed = centres[np.zeros(2000, int)] + rng.normal(size=(2000, 16))
  # Same distribution: k=3 balls in 16 dims cover most (not all) of a fresh sample.
  precision, recall = metrics.precision_recall(real, same)
  assert precision > 0.7 and recall > 0.7
  # One mode of ten: samples are realistic, but cover about a tenth of the real data.
  precision, recall = metrics.precision_recall(real, collapsed)
  assert precision > 0.7 and recall < 0.15


def test_knn_radii_against_brute_force_with_ties_across_chunks():
  rng = np.random.default_rng(3)
  points = rng.integers(0, 4, size=(300, 2)).astype(np.float32)  # many exact duplicates
  squared = ((points[:, None] - points[None]) ** 2).sum(-1)
  for k in (1, 3, 7):
    expected = np.sort(squared, axis=1)[:, k]  # column 0 is the point itself
    np.testing.assert_allclose(metrics.knn_radii(points, k, chunk=128), expected, atol=1e-5)
  # Cached radii give what computing them does.
  real, fake = rng.normal(size=(500, 8)), rng.normal(size=(400, 8)) + 0.5
  assert metrics.precision_recall(real, fake, 3, metrics.knn_radii(real, 3)) == (
      metrics.precision_recall(real, fake, 3))


def test_cluster_error_matches_clusters_to_classes():
  labels = np.array([0, 0, 1, 1, 2, 2, 2, 0])
  # A relabelling of the classes is a perfect classifier; one item in another cluster costs 1/8.
  assert metrics.cluster_error(np.array([2, 2, 0, 0, 1, 1, 1, 2]), labels) == 0.0
  assert metrics.cluster_error(np.array([2, 2, 0, 0, 1, 1, 0, 2]), labels) == pytest.approx(1 / 8)
  # One-to-one: two clusters cannot both stand for class 0 (the majority rule lets them).
  split = np.array([0, 3, 1, 1, 2, 2, 2, 3])
  assert metrics.cluster_error(split, labels) == pytest.approx(1 / 8)
  assert metrics.cluster_error(split, labels, one_to_one=False) == 0.0


def test_nearest_neighbour_and_linear_probe_accuracy():
  rng = np.random.default_rng(0)
  centres = np.eye(4) * 5.0
  train_labels = np.repeat(np.arange(4), 50)
  test_labels = np.array([0, 1, 2, 3, 3])
  train = centres[train_labels] + rng.normal(size=(200, 4))
  test = centres[test_labels] + rng.normal(size=(5, 4)) * 0.1
  assert metrics.nearest_neighbour_accuracy(train, train_labels, test, test_labels) == 1.0
  assert metrics.linear_probe_accuracy(train, train_labels, test, test_labels) == 1.0
  # Cosine distance: a test point scaled by 100 keeps its neighbour; labels shuffled, chance.
  assert metrics.nearest_neighbour_accuracy(train, train_labels, test * 100, test_labels) == 1.0
  wrong = (test_labels + 1) % 4
  assert metrics.nearest_neighbour_accuracy(train, train_labels, test, wrong) == 0.0
  assert metrics.linear_probe_accuracy(train, train_labels, test, wrong) == 0.0


def test_most_confident_label_error_labels_each_cluster_by_its_most_confident_item():
  # Three clusters over reference items labelled 7, 7, 2, 5; cluster 0 is surest of item 2
  # (label 2), cluster 1 of item 0 (7), cluster 2 of item 3 (5).
  probs = np.array([[0.2, 0.7, 0.1], [0.3, 0.3, 0.4], [0.9, 0.05, 0.05], [0.1, 0.1, 0.8]])
  labels = np.array([7, 7, 2, 5])
  error = metrics.most_confident_label_error(probs, labels, np.array([0, 1, 2, 0, 1]),
                                             np.array([2, 7, 5, 7, 1]))
  assert error == pytest.approx(2 / 5)  # the 4th (cluster 0 -> 2, not 7) and 5th are wrong


def test_majority_label_error_labels_each_cluster_by_its_commonest_reference_label():
  # Cluster 0 holds reference labels 3, 3, 8 -> 3; cluster 1 holds 8 -> 8; cluster 2 none.
  error = metrics.majority_label_error(np.array([0, 0, 1, 0]), np.array([3, 3, 8, 8]),
                                       np.array([0, 0, 1, 2, 1]), np.array([3, 8, 8, 0, 3]))
  assert error == pytest.approx(3 / 5)  # the 2nd (3, not 8), 4th (empty cluster 2) and 5th
