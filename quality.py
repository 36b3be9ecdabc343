"""Measure how good generated faces are, without any pretrained network.

This is a module of its own, apart from the training code, because the same
figures are computed while training (every QUALITY_EVERY epochs) and by the
benchmark scripts that compare training recipes.

Every figure is computed in a fixed feature space that is fitted once per run
on the training images: their top principal components ("eigenfaces"). An
image's features are the coordinates of its centred pixels along those
components, so distances there are pixel distances restricted to the ways in
which the training faces differ from each other.

- Frechet distance: the distance between two Gaussians fitted to the feature
  vectors of two sets of images, as in the FID of Heusel et al. (2017), with
  eigenfaces in place of Inception features. Lower is better, and 0 means the
  same mean and covariance.
- Precision and recall: k-nearest-neighbour manifold estimates of Kynkaanniemi
  et al. (2019), "Improved Precision and Recall Metric for Assessing Generative
  Models". Precision is the fraction of generated images that fall inside the
  manifold of the training images (realism). Recall is the fraction of
  training images that fall inside the manifold of the generated images
  (variety). Both are in [0, 1], and a collapsed generator has recall near 0.
- Floor: the Frechet distance between two random halves of the training set,
  averaged over several random splits because one split is noisy. No
  generator can be expected to beat it, because two samples of the real
  distribution already differ by that much.
"""

import numpy as np

DEFAULT_COMPONENTS = 64  # eigenfaces that span the feature space
DEFAULT_NEIGHBOURS = 3  # k of the k-nearest-neighbour manifolds
FLOOR_SPLITS = 10  # random splits into halves whose distances the floor averages
# Training images kept as the reference set at most (a random subset of a
# larger set), so that the k-NN distance matrices stay near 32 MB or less.
MAX_REFERENCE_IMAGES = 1000


class FeatureSpace:
    """Top principal components of a set of training images, fitted once.

    images has shape (count, pixels) with values in [0, 1]. The number of
    components is at most count - 1, because centred data of count images
    span no more dimensions than that.
    """

    def __init__(self, images, components=DEFAULT_COMPONENTS):
        data = np.asarray(images, dtype=np.float64)
        self.mean = data.mean(axis=0)
        components = max(1, min(components, len(data) - 1, data.shape[1]))
        # The right singular vectors of the centred data are the principal axes.
        _, _, axes = np.linalg.svd(data - self.mean, full_matrices=False)
        self.axes = axes[:components]  # (components, pixels)

    def features(self, images):
        """Return the feature vectors (count, components) of images (count, pixels)."""
        return (np.asarray(images, dtype=np.float64) - self.mean) @ self.axes.T


def trace_sqrt_product(covariance_a, covariance_b):
    """Return trace(sqrtm(covariance_a @ covariance_b)) for two symmetric PSD matrices.

    The product of two PSD matrices is not symmetric, but it is similar to
    sqrt(A) @ B @ sqrt(A), which is symmetric PSD and has the same eigenvalues.
    So the trace is the sum of the square roots of that matrix's eigenvalues,
    found with two symmetric eigendecompositions (no scipy.linalg.sqrtm).
    """
    values, vectors = np.linalg.eigh(covariance_a)
    sqrt_a = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    middle = sqrt_a @ covariance_b @ sqrt_a
    middle = 0.5 * (middle + middle.T)  # remove rounding asymmetry before eigvalsh
    eigenvalues = np.linalg.eigvalsh(middle)
    return float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())


def frechet_distance(features_a, features_b):
    """Return the Frechet distance between Gaussians fitted to two sets of feature vectors.

    ||mean_a - mean_b||^2 + trace(cov_a + cov_b - 2 sqrtm(cov_a @ cov_b)).
    Each set has shape (count, dimensions) with count at least 2.
    """
    mean_a = features_a.mean(axis=0)
    mean_b = features_b.mean(axis=0)
    covariance_a = np.atleast_2d(np.cov(features_a, rowvar=False))
    covariance_b = np.atleast_2d(np.cov(features_b, rowvar=False))
    distance = (np.sum(np.square(mean_a - mean_b)) + np.trace(covariance_a) + np.trace(covariance_b)
                - 2.0 * trace_sqrt_product(covariance_a, covariance_b))
    return max(float(distance), 0.0)


def squared_distances(a, b):
    """Return the matrix of squared Euclidean distances between the rows of a and of b."""
    result = np.sum(a * a, axis=1)[:, None] + np.sum(b * b, axis=1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(result, 0.0)


def manifold_radii(features, neighbours):
    """Return each point's squared distance to its k-th nearest other point in the same set."""
    distances = squared_distances(features, features)
    # Column 0 of each sorted row is the point itself, at distance 0.
    k = min(neighbours, len(features) - 1)
    return np.partition(distances, k, axis=1)[:, k]


def coverage(points, manifold, neighbours):
    """Return the fraction of points inside the union of k-NN balls around the manifold's points."""
    radii = manifold_radii(manifold, neighbours)
    inside = squared_distances(points, manifold) <= radii[None, :]
    return float(inside.any(axis=1).mean())


def precision_recall(real_features, fake_features, neighbours=DEFAULT_NEIGHBOURS):
    """Return (precision, recall) of generated features against real features, both in [0, 1]."""
    precision = coverage(fake_features, real_features, neighbours)
    recall = coverage(real_features, fake_features, neighbours)
    return precision, recall


class QualityMeter:
    """Scores generated images against one training set in its eigenface feature space.

    training_images has shape (count, size * size) with values in [0, 1]. Of
    more than MAX_REFERENCE_IMAGES, a random subset of that many is used.
    With mirrored=True the reference set is the training images together with
    their left-right mirror images, because that is what a generator trained
    with horizontal flips learns to draw. Many faces are not symmetric: scored
    against the ORL images alone, their mirror images reach a precision of
    only about 0.6. The feature space, the reference features and the floor
    are computed once here, so each call to score only projects the new
    samples and compares them.
    """

    def __init__(self, training_images, rng, size=None, mirrored=False, components=DEFAULT_COMPONENTS,
                 neighbours=DEFAULT_NEIGHBOURS, floor_splits=FLOOR_SPLITS):
        images = np.asarray(training_images, dtype=np.float64)
        if len(images) > MAX_REFERENCE_IMAGES:
            images = images[np.sort(rng.choice(len(images), MAX_REFERENCE_IMAGES, replace=False))]
        count = len(images)
        if mirrored:
            mirrors = images.reshape(count, size, size)[:, :, ::-1].reshape(count, -1)
            images = np.concatenate([images, mirrors])
        self.space = FeatureSpace(images, components)
        self.neighbours = neighbours
        self.real_features = self.space.features(images)
        self.sample_count = len(images)

        # An image and its mirror image always go to the same half, so that
        # the two halves are no more alike than two samples of faces are.
        distances = []
        for _ in range(floor_splits):
            first_half = np.zeros(count, dtype=bool)
            first_half[rng.permutation(count)[:count // 2]] = True
            if mirrored:
                first_half = np.concatenate([first_half, first_half])
            distances.append(frechet_distance(self.real_features[first_half],
                                              self.real_features[~first_half]))
        self.floor = float(np.mean(distances))

    def score(self, generated_images):
        """Return a dict of frechet_distance, precision and recall for images (count, pixels)."""
        fake_features = self.space.features(generated_images)
        precision, recall = precision_recall(self.real_features, fake_features, self.neighbours)
        return {
            "frechet_distance": frechet_distance(self.real_features, fake_features),
            "precision": precision,
            "recall": recall,
        }
