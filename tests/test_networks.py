"""Finite-difference gradient checks and behaviour tests for networks.py.

Every analytic gradient is compared with central differences in float64. The
relative error is max|analytic - numeric| / max(max|analytic|, max|numeric|),
which must stay below 1e-4.
"""

import numpy as np
import pytest

from networks import (
    SGD,
    Adam,
    Dense,
    Discriminator,
    Generator,
    LeakyReLU,
    Sigmoid,
    bce_with_logits,
    sigmoid,
)

TOLERANCE = 1e-4
STEP = 1e-6


def relative_error(analytic, numeric):
    scale = max(np.abs(analytic).max(), np.abs(numeric).max(), 1e-12)
    return np.abs(analytic - numeric).max() / scale


def numeric_gradient(loss_of, array):
    """Central-difference gradient of the scalar loss_of() with respect to array, changed in place."""
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + STEP
        plus = loss_of()
        array[index] = saved - STEP
        minus = loss_of()
        array[index] = saved
        grad[index] = (plus - minus) / (2 * STEP)
    return grad


def check_module_gradients(module, x, rng):
    """Check input and parameter gradients of module for the loss sum(output * weights)."""
    output, _ = module.forward(x)
    output_weights = rng.standard_normal(output.shape)

    def loss():
        return float((module.forward(x)[0] * output_weights).sum())

    _, cache = module.forward(x)
    grad_x, param_grads = module.backward(cache, output_weights)

    assert relative_error(grad_x, numeric_gradient(loss, x)) < TOLERANCE
    for param, grad in zip(module.parameters(), param_grads, strict=True):
        assert grad.shape == param.shape
        assert relative_error(grad, numeric_gradient(loss, param)) < TOLERANCE


def test_dense_gradients():
    rng = np.random.default_rng(1)
    layer = Dense(5, 4, rng, dtype=np.float64)
    layer.bias[:] = rng.standard_normal(4)
    check_module_gradients(layer, rng.standard_normal((3, 5)), rng)


def test_sigmoid_gradients():
    rng = np.random.default_rng(2)
    check_module_gradients(Sigmoid(), rng.standard_normal((4, 6)) * 3, rng)


def test_leaky_relu_gradients():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((4, 6)) * 3
    x += np.where(x >= 0, 0.1, -0.1)  # no input within a finite-difference step of the kink at 0
    check_module_gradients(LeakyReLU(0.2), x, rng)


def test_leaky_relu_values():
    output, _ = LeakyReLU(0.2).forward(np.array([[-2.0, -0.5, 0.0, 0.5, 3.0]], dtype=np.float32))
    np.testing.assert_allclose(output, [[-0.4, -0.1, 0.0, 0.5, 3.0]], rtol=1e-6)
    assert output.dtype == np.float32


@pytest.mark.parametrize("activation", ["sigmoid", "leaky_relu"])
def test_generator_gradients(activation):
    rng = np.random.default_rng(3)
    generator = Generator(4, (6, 5, 7), 9, rng, dtype=np.float64, activation=activation)
    check_module_gradients(generator, rng.standard_normal((3, 4)), rng)


@pytest.mark.parametrize("activation", ["sigmoid", "leaky_relu"])
def test_discriminator_gradients(activation):
    rng = np.random.default_rng(4)
    discriminator = Discriminator(9, (7, 6, 5), rng, dtype=np.float64, activation=activation)
    check_module_gradients(discriminator, rng.random((3, 9)), rng)


def test_discriminator_input_gradient_only():
    rng = np.random.default_rng(5)
    discriminator = Discriminator(9, (7, 6, 5), rng, dtype=np.float64)
    x = rng.random((3, 9))
    _, cache = discriminator.forward(x)
    grad_out = rng.standard_normal((3, 1))

    full_grad_x, _ = discriminator.backward(cache, grad_out)
    grad_x, param_grads = discriminator.backward(cache, grad_out, need_param_grads=False)

    assert all(grad is None for grad in param_grads)
    np.testing.assert_array_equal(grad_x, full_grad_x)


@pytest.mark.parametrize("target", [0.0, 1.0, 0.3])
def test_bce_gradient(target):
    rng = np.random.default_rng(6)
    logits = rng.standard_normal((5, 1)) * 4
    targets = np.full_like(logits, target)

    _, grad = bce_with_logits(logits, targets)
    numeric = numeric_gradient(lambda: bce_with_logits(logits, targets)[0], logits)

    assert relative_error(grad, numeric) < TOLERANCE


def test_bce_matches_textbook_formula():
    rng = np.random.default_rng(7)
    logits = rng.standard_normal((8, 1))
    targets = rng.integers(0, 2, (8, 1)).astype(np.float64)
    probabilities = 1 / (1 + np.exp(-logits))
    expected = -(targets * np.log(probabilities) + (1 - targets) * np.log(1 - probabilities)).mean()

    loss, _ = bce_with_logits(logits, targets)

    assert loss == pytest.approx(expected, rel=1e-12)


def test_bce_finite_for_extreme_logits():
    logits = np.array([[-1e4], [-100.0], [0.0], [100.0], [1e4]], dtype=np.float32)
    # Underflow of exp(-|z|) to 0 is exact enough and allowed; overflow is not.
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        loss_real, grad_real = bce_with_logits(logits, 1.0)
        loss_fake, grad_fake = bce_with_logits(logits, 0.0)

    assert np.isfinite(loss_real)
    assert np.isfinite(loss_fake)
    assert np.isfinite(grad_real).all()
    assert np.isfinite(grad_fake).all()
    # log(1 + exp(1e4)) is 1e4 to float precision, averaged over 5 logits.
    assert loss_real == pytest.approx((1e4 + 100 + np.log(2)) / 5, rel=1e-5)


def test_sigmoid_no_overflow_warning():
    x = np.array([-1e30, -1000, -88.8, 0, 88.8, 1000, 1e30], dtype=np.float32)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        y = sigmoid(x)

    assert y.dtype == np.float32
    assert y[0] == 0.0
    assert y[3] == 0.5
    assert y[-1] == 1.0


def test_backward_uses_its_own_forward():
    # Running the network on a second batch must not change the gradients of
    # the first: this is the bug of layers that cache their last input.
    rng = np.random.default_rng(8)
    discriminator = Discriminator(9, (7, 6, 5), rng, dtype=np.float64)
    real, fake = rng.random((4, 9)), rng.random((4, 9))
    grad_out = rng.standard_normal((4, 1))

    _, real_cache = discriminator.forward(real)
    expected_grad_x, expected_grads = discriminator.backward(real_cache, grad_out)
    _, real_cache = discriminator.forward(real)
    discriminator.forward(fake)
    grad_x, grads = discriminator.backward(real_cache, grad_out)

    np.testing.assert_array_equal(grad_x, expected_grad_x)
    for grad, expected in zip(grads, expected_grads, strict=True):
        np.testing.assert_array_equal(grad, expected)


def test_networks_shapes_and_ranges():
    rng = np.random.default_rng(9)
    generator = Generator(10, (16, 32, 64), 25 * 25, rng)
    discriminator = Discriminator(25 * 25, (64, 32, 16), rng)
    noise = rng.standard_normal((7, 10), dtype=np.float32)

    images, _ = generator.forward(noise)
    logits, _ = discriminator.forward(images)

    assert images.shape == (7, 625)
    assert images.dtype == np.float32
    assert images.min() >= 0.0
    assert images.max() <= 1.0
    assert logits.shape == (7, 1)
    assert logits.dtype == np.float32


def test_glorot_initialisation_range():
    rng = np.random.default_rng(10)
    layer = Dense(300, 100, rng)
    limit = np.sqrt(6 / 400)

    assert np.abs(layer.weights).max() <= limit
    assert np.abs(layer.weights).max() > 0.9 * limit
    assert abs(layer.weights.std() - limit / np.sqrt(3)) < 0.01 * limit
    assert not layer.bias.any()


def textbook_adam(param, grads, learning_rate, beta1, beta2, epsilon):
    m = np.zeros_like(param)
    v = np.zeros_like(param)
    for t, grad in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad**2
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        param = param - learning_rate * m_hat / (np.sqrt(v_hat) + epsilon)
    return param


def test_adam_matches_textbook_adam():
    rng = np.random.default_rng(11)
    start = rng.standard_normal((4, 3))
    grads = [rng.standard_normal((4, 3)) for _ in range(5)]
    param = start.copy()
    optimizer = Adam([param], 0.01, 0.5, 0.999, 1e-8)

    for grad in grads:
        optimizer.step([grad])

    expected = textbook_adam(start, grads, 0.01, 0.5, 0.999, 1e-8)
    np.testing.assert_allclose(param, expected, rtol=1e-10, atol=1e-12)
    assert optimizer.step_count == 5


def test_sgd_step():
    param = np.array([1.0, -2.0])
    SGD([param], 0.1).step([np.array([0.5, -1.0])])

    np.testing.assert_allclose(param, [0.95, -1.9])


def test_adam_reduces_a_quadratic():
    rng = np.random.default_rng(12)
    param = rng.standard_normal(10).astype(np.float32)
    optimizer = Adam([param], 0.05)
    for _ in range(300):
        optimizer.step([2 * param])

    assert param.dtype == np.float32
    assert np.abs(param).max() < 0.05
