"""Gradient checks of the optional layers and checks of the quality figures."""

import numpy as np
import pytest
from test_networks import TOLERANCE, numeric_gradient

import quality
from gan import fill_batch, train_step
from networks import (
    SGD,
    Adam,
    BatchNorm,
    Dense,
    Discriminator,
    Generator,
    LayerNorm,
    MinibatchStd,
    Pack,
    Shift,
    SpectralNormDense,
    WeightAverage,
    bce_with_logits,
    init_for_sigmoid,
)
from quality import FeatureSpace, QualityMeter, frechet_distance, precision_recall, trace_sqrt_product


def relative_error(a, b):
    """Return the largest difference relative to the larger gradient, or to 1e-3 if both are smaller.

    The floor keeps gradients that are exactly 0 in theory, such as the bias
    of a Dense layer before batch normalisation, from failing on rounding.
    """
    return np.abs(a - b).max() / max(np.abs(a).max(), np.abs(b).max(), 1e-3)


def check_gradients(module, x, rng, check_input=True):
    """Compare module's backward pass with central differences for the loss sum(output * weights)."""
    output, cache = module.forward(x)
    output_weights = rng.standard_normal(output.shape)
    grad_x, param_grads = module.backward(cache, output_weights)

    def loss():
        return float((module.forward(x)[0] * output_weights).sum())

    if check_input:
        assert relative_error(grad_x, numeric_gradient(loss, x)) < TOLERANCE
    for param, grad in zip(module.parameters(), param_grads, strict=True):
        assert grad.shape == param.shape
        assert relative_error(grad, numeric_gradient(loss, param)) < TOLERANCE


def make_layer(name, rng):
    features = 5
    if name == "batch":
        layer = BatchNorm(features, dtype=np.float64)
    elif name == "layer":
        layer = LayerNorm(features, dtype=np.float64)
    elif name == "minibatch_std":
        return MinibatchStd(group_size=4)
    elif name == "pack":
        return Pack(2)
    else:
        return Shift(rng.standard_normal(features))
    # Scale and shift away from 1 and 0, so that their gradients are tested.
    layer.gamma[...] = rng.uniform(0.5, 1.5, features)
    layer.beta[...] = rng.standard_normal(features)
    return layer


@pytest.mark.parametrize("name", ["batch", "layer", "minibatch_std", "pack", "shift"])
def test_layer_gradients_match_finite_differences(name):
    rng = np.random.default_rng(1)
    check_gradients(make_layer(name, rng), rng.standard_normal((8, 5)) * 2.0 + 0.5, rng)


def test_layer_backward_skips_unrequested_parts():
    rng = np.random.default_rng(2)
    layer = make_layer("batch", rng)
    output, cache = layer.forward(rng.standard_normal((6, 5)))
    grad_x, param_grads = layer.backward(cache, np.ones_like(output), need_input_grad=False)
    assert grad_x is None
    assert all(grad is not None for grad in param_grads)
    grad_x, param_grads = layer.backward(cache, np.ones_like(output), need_param_grads=False)
    assert grad_x is not None
    assert all(grad is None for grad in param_grads)


def test_minibatch_std_keeps_groups_apart():
    """The statistic of a group of identical images is 0, whatever the other group contains."""
    rng = np.random.default_rng(3)
    same = np.repeat(rng.standard_normal((1, 6)), 4, axis=0)
    varied = rng.standard_normal((4, 6)) * 3.0
    output, _ = MinibatchStd(group_size=4).forward(np.concatenate([same, varied]))
    assert output.shape == (8, 7)
    assert np.allclose(output[:4, -1], 0.0, atol=1e-3)
    assert np.all(output[4:, -1] > 1.0)


@pytest.mark.parametrize("activation", ["sigmoid", "leaky_relu"])
@pytest.mark.parametrize("normalization", ["batch", "layer"])
def test_generator_options_gradient(normalization, activation):
    rng = np.random.default_rng(4)
    generator = Generator(3, (6, 5, 4), 7, rng, dtype=np.float64, normalization=normalization,
                          activation=activation)
    init_for_sigmoid(generator)
    check_gradients(generator, rng.standard_normal((5, 3)), rng, check_input=False)


@pytest.mark.parametrize("spectral_norm", [False, True])
@pytest.mark.parametrize("activation", ["sigmoid", "leaky_relu"])
@pytest.mark.parametrize("packing", [1, 2])
def test_discriminator_options_gradient(packing, activation, spectral_norm):
    rng = np.random.default_rng(5)
    discriminator = Discriminator(7, (6, 5, 4), rng, dtype=np.float64, normalization="layer",
                                  minibatch_std_group=2, input_offset=rng.random(7), packing=packing,
                                  activation=activation, spectral_norm=spectral_norm)
    check_gradients(discriminator, rng.random((12, 7)), rng)


def test_spectral_norm_dense_gradients():
    """The gradient through sigma = v @ weights @ u, with u and v constant, matches finite differences."""
    rng = np.random.default_rng(19)
    layer = SpectralNormDense(5, 4, rng, dtype=np.float64)
    layer.bias[...] = rng.standard_normal(4)
    u, v = layer.u.copy(), layer.v.copy()
    check_gradients(layer, rng.standard_normal((6, 5)), rng)
    # The repeated forward passes of the check left the estimate alone.
    np.testing.assert_array_equal(layer.u, u)
    np.testing.assert_array_equal(layer.v, v)


def test_spectral_norm_estimate_converges():
    """Power iteration reaches the largest singular value, so the normalised weights have spectral norm 1."""
    rng = np.random.default_rng(21)
    layer = SpectralNormDense(40, 30, rng, dtype=np.float64)
    largest = np.linalg.svd(layer.weights, compute_uv=False)[0]
    for _ in range(300):
        layer.update_estimate()
    assert layer.v @ layer.weights @ layer.u == pytest.approx(largest, rel=1e-6)
    assert np.linalg.norm(layer.u) == pytest.approx(1.0)
    assert np.linalg.norm(layer.v) == pytest.approx(1.0)
    x = rng.standard_normal((3, 40))
    output, _ = layer.forward(x)
    np.testing.assert_allclose(output, x @ (layer.weights / largest) + layer.bias, rtol=1e-6)


def test_training_steps_update_spectral_norm_estimates():
    """train_step runs power iteration, so the estimates move towards each layer's largest singular value."""
    rng = np.random.default_rng(23)
    generator = Generator(3, (6, 5), 8, rng, normalization="layer")
    discriminator = Discriminator(8, (12, 10), rng, spectral_norm=True)
    optimizers = [SGD(network.parameters(), 1e-4) for network in (generator, discriminator)]
    dense_layers = [layer for layer in discriminator.layers if isinstance(layer, SpectralNormDense)]
    start_error = [abs(layer.v @ layer.weights @ layer.u / np.linalg.norm(layer.weights, 2) - 1)
                   for layer in dense_layers]
    for _ in range(30):
        train_step(rng.random((4, 8), dtype=np.float32), generator, discriminator, *optimizers,
                   rng.standard_normal((4, 3), dtype=np.float32))
    for layer, error in zip(dense_layers, start_error, strict=True):
        end_error = abs(layer.v @ layer.weights @ layer.u / np.linalg.norm(layer.weights, 2) - 1)
        assert end_error < max(error / 10, 1e-5)


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_discriminator_features_are_last_layer_input(spectral_norm):
    rng = np.random.default_rng(22)
    discriminator = Discriminator(7, (6, 5), rng, dtype=np.float64, normalization="layer",
                                  minibatch_std_group=2, spectral_norm=spectral_norm)
    x = rng.random((4, 7))
    _, caches = discriminator.forward(x)
    expected = x
    for layer in discriminator.layers[:-1]:
        expected, _ = layer.forward(expected)
    np.testing.assert_array_equal(discriminator.features(caches), expected)


def test_packs_keep_real_and_generated_images_apart():
    """Each pack's row contains consecutive images whole, so real and generated halves never share a pack."""
    images = np.arange(8 * 3, dtype=np.float32).reshape(8, 3)  # 4 "real" rows, then 4 "generated"
    packed, _ = Pack(2).forward(images)
    assert packed.shape == (4, 6)
    assert np.array_equal(packed[1], np.concatenate([images[2], images[3]]))
    assert np.array_equal(packed[2], np.concatenate([images[4], images[5]]))
    with pytest.raises(ValueError, match="packs of 3"):
        Pack(3).forward(images)


def test_weight_average_moves_towards_weights():
    rng = np.random.default_rng(6)
    network = Generator(3, (4, 4, 4), 5, rng)
    average_network = Generator(3, (4, 4, 4), 5, rng)
    average = WeightAverage(network, average_network, decay=0.75)
    start = [p.copy() for p in network.parameters()]
    assert all(np.array_equal(a, p) for a, p in zip(average_network.parameters(), start, strict=True))
    for param in network.parameters():
        param += 1.0
    # First update: the decay is min(0.75, 1 / 10), so the average moves 0.9 of the way.
    average.update()
    for averaged, before in zip(average_network.parameters(), start, strict=True):
        assert np.allclose(averaged, before + 0.9)
    # After many updates the decay is 0.75: a quarter of the way to the weights.
    average.update_count = 1000
    average.update()
    for averaged, before in zip(average_network.parameters(), start, strict=True):
        assert np.allclose(averaged, before + 0.9 + 0.25 * 0.1)


# --- Quality figures ---


def test_trace_sqrt_product_matches_eigenvalues_of_product():
    rng = np.random.default_rng(7)
    a = rng.standard_normal((40, 6))
    b = rng.standard_normal((40, 6)) @ rng.standard_normal((6, 6))
    covariance_a, covariance_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # Independent route: the product's eigenvalues are real and non-negative.
    direct = np.sqrt(np.linalg.eigvals(covariance_a @ covariance_b).real.clip(0)).sum()
    assert trace_sqrt_product(covariance_a, covariance_b) == pytest.approx(direct, rel=1e-8)


def test_frechet_distance_of_diagonal_gaussians():
    """With diagonal covariances the distance is sum((m1 - m2)^2 + (s1 - s2)^2)."""
    rng = np.random.default_rng(8)
    a = rng.standard_normal((4000, 3)) * [1.0, 2.0, 3.0] + [0.0, 1.0, 0.0]
    b = rng.standard_normal((4000, 3)) * [2.0, 2.0, 1.0]
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    std_a, std_b = a.std(axis=0, ddof=1), b.std(axis=0, ddof=1)
    expected = np.sum((mean_a - mean_b) ** 2) + np.sum((std_a - std_b) ** 2)
    # The sample cross-correlations are not exactly 0, hence the tolerance.
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.02)
    assert expected == pytest.approx(1.0 + 1.0 + 4.0, rel=0.1)


def test_identical_sets_score_perfectly():
    rng = np.random.default_rng(9)
    features = rng.standard_normal((200, 8))
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-8)
    assert precision_recall(features, features) == (1.0, 1.0)


def test_collapsed_set_has_no_recall():
    rng = np.random.default_rng(10)
    real = rng.standard_normal((200, 8))
    collapsed = np.repeat(real[:1], 200, axis=0) + 1e-3 * rng.standard_normal((200, 8))
    precision, recall = precision_recall(real, collapsed)
    assert precision == 1.0  # every fake sits on one real image
    assert recall < 0.05


def test_far_away_set_has_no_precision():
    rng = np.random.default_rng(11)
    real = rng.standard_normal((200, 8))
    precision, recall = precision_recall(real, real + 10.0)
    assert precision == 0.0
    assert recall == 0.0


def test_feature_space_keeps_top_components():
    rng = np.random.default_rng(12)
    # Images that vary along two pixel directions only, one much more than the other.
    directions = np.linalg.qr(rng.standard_normal((30, 2)))[0].T
    weights = rng.standard_normal((100, 2)) * [3.0, 1.0]
    images = 0.5 + weights @ directions
    space = FeatureSpace(images, components=64)
    assert space.axes.shape == (30, 30)  # at most min(count - 1, pixels) components
    # The top two axes span the plane of the two directions.
    assert np.allclose(np.linalg.norm(directions @ space.axes[:2].T, axis=1), 1.0)
    # The first axis is the direction of larger variance, up to the small
    # rotation that the sample correlation of the two weights causes.
    assert abs(space.axes[0] @ directions[0]) > 0.99


def test_meter_floor_is_small_next_to_collapse():
    rng = np.random.default_rng(13)
    # Images of 50 pixels that vary along 4 directions, so that 200 of them
    # fill their manifold well enough for k = 3.
    directions = rng.standard_normal((4, 50))
    images = rng.random((200, 4)) @ directions
    meter = QualityMeter(images, rng, components=4)
    assert meter.floor > 0.0
    collapsed = meter.score(np.repeat(images[:1], 200, axis=0))
    fresh = meter.score(rng.random((200, 4)) @ directions)
    assert collapsed["frechet_distance"] > 5 * fresh["frechet_distance"]
    assert collapsed["recall"] < 0.05
    assert fresh["recall"] > 0.5
    assert fresh["frechet_distance"] < 3 * meter.floor


def test_meter_mirrored_reference():
    rng = np.random.default_rng(14)
    images = rng.random((30, 16))
    meter = QualityMeter(images, rng, size=4, mirrored=True, components=8)
    mirrors = images.reshape(30, 4, 4)[:, :, ::-1].reshape(30, 16)
    assert meter.sample_count == 60
    scores = meter.score(np.concatenate([mirrors, images]))
    assert scores["frechet_distance"] == pytest.approx(0.0, abs=1e-8)
    assert scores["recall"] == 1.0


def test_sigmoid_init_scales_weights_and_centres_biases():
    rng = np.random.default_rng(15)
    generator = Generator(8, (32, 32, 32), 20, rng, dtype=np.float64)
    before = [layer.weights.copy() for layer in generator.layers if isinstance(layer, Dense)]
    init_for_sigmoid(generator)
    dense_layers = [layer for layer in generator.layers if isinstance(layer, Dense)]
    for layer, weights in zip(dense_layers, before, strict=True):
        assert np.allclose(layer.weights, 4.0 * weights)
    # With every hidden unit at exactly 0.5, each Dense layer after a sigmoid outputs 0.
    for layer in dense_layers[1:]:
        assert np.allclose(layer.forward(np.full((1, 32), 0.5))[0], 0.0)


def test_meter_caps_reference_set(monkeypatch):
    monkeypatch.setattr(quality, "MAX_REFERENCE_IMAGES", 50)
    rng = np.random.default_rng(17)
    meter = QualityMeter(rng.random((120, 16)), rng, size=4, mirrored=True, components=8)
    assert meter.sample_count == 100
    assert meter.real_features.shape == (100, 8)


def test_frozen_statistics_make_samples_independent():
    rng = np.random.default_rng(18)
    generator = Generator(6, (16, 16, 16), 10, rng, dtype=np.float64, normalization="batch")
    noise = rng.standard_normal((5, 6))
    in_batch, _ = generator.forward(noise)
    alone, _ = generator.forward(noise[:1])
    assert not np.allclose(alone[0], in_batch[0])  # batch statistics of one image differ

    generator.freeze_batch_statistics()
    in_batch, _ = generator.forward(noise)
    alone, _ = generator.forward(noise[:1])
    assert np.allclose(alone[0], in_batch[0])
    assert in_batch.std(axis=0).mean() > 1e-3  # different noise still gives different images


def test_train_step_judges_packs():
    """With packing, the discriminator's loss is over packs of real and packs of generated images."""
    rng = np.random.default_rng(12)
    generator = Generator(3, (6, 5), 8, rng)
    discriminator = Discriminator(8, (6, 5), rng, packing=2)
    optimizers = [Adam(network.parameters(), 1e-3) for network in (generator, discriminator)]
    real = fill_batch(rng.random((5, 8), dtype=np.float32), discriminator.batch_multiple)
    assert real.shape == (6, 8)
    np.testing.assert_array_equal(real[5], real[0])  # the last pack is filled with the first image
    noise = rng.standard_normal((6, 3), dtype=np.float32)

    fake, _ = generator.forward(noise)
    logits, _ = discriminator.forward(np.concatenate([real, fake]))
    assert logits.shape == (6, 1)  # 3 packs of real images, then 3 of generated ones
    expected_loss = bce_with_logits(logits[:3], 0.9)[0] + bce_with_logits(logits[3:], 0.0)[0]
    results = train_step(real, generator, discriminator, *optimizers, noise, real_label=0.9)
    assert results["discriminator_loss"] == pytest.approx(expected_loss, rel=1e-5)


def test_batch_multiple_keeps_groups_within_the_real_images():
    discriminator = Discriminator(8, (6, 5), np.random.default_rng(15), packing=2, minibatch_std_group=4)
    assert discriminator.batch_multiple == 8
    real = fill_batch(np.arange(36 * 8, dtype=np.float32).reshape(36, 8), discriminator.batch_multiple)
    assert real.shape == (40, 8)
    np.testing.assert_array_equal(real[36:], real[:4])


def test_hidden_gradients_match_finite_differences():
    """A second loss on a hidden layer's output, as feature matching uses, backpropagates exactly."""
    rng = np.random.default_rng(13)
    discriminator = Discriminator(7, (6, 5), rng, dtype=np.float64, normalization="layer")
    x = rng.random((4, 7))
    hidden = len(discriminator.layers) - 2  # the last sigmoid, whose output the last Dense layer reads
    output_weights = rng.standard_normal((4, 1))
    hidden_weights = rng.standard_normal((4, 5))

    def loss():
        output, caches = discriminator.forward(x)
        return float((output * output_weights).sum() + (caches[-1] * hidden_weights).sum())

    _, caches = discriminator.forward(x)
    grad_x, _ = discriminator.backward(caches, output_weights, hidden_grads={hidden: hidden_weights})
    assert relative_error(grad_x, numeric_gradient(loss, x)) < TOLERANCE


def test_feature_matching_adds_its_loss():
    """Feature matching's loss is weight * ||mean real features - mean generated features||^2.

    With a learning rate of 0 the discriminator's step leaves it unchanged, so
    the features can be recomputed from the same networks.
    """
    rng = np.random.default_rng(14)
    generator = Generator(3, (6, 5), 8, rng)
    discriminator = Discriminator(8, (6, 5), rng, normalization="layer")
    real = rng.random((6, 8), dtype=np.float32)
    noise = rng.standard_normal((6, 3), dtype=np.float32)
    fake, _ = generator.forward(noise)
    _, caches = discriminator.forward(np.concatenate([real, fake]))
    distance = np.square(caches[-1][:6].mean(axis=0) - caches[-1][6:].mean(axis=0)).sum()
    assert distance > 0

    losses = {}
    for weight in (0.0, 5.0):
        optimizers = [SGD(network.parameters(), 0.0) for network in (generator, discriminator)]
        losses[weight] = train_step(real, generator, discriminator, *optimizers, noise,
                                    feature_matching=weight)
    assert "feature_matching_loss" not in losses[0.0]
    assert losses[5.0]["feature_matching_loss"] == pytest.approx(5.0 * distance, rel=1e-4)
    assert losses[5.0]["generator_loss"] == pytest.approx(losses[0.0]["generator_loss"], rel=1e-6)
