"""Tests of the fast paths: reused arrays, blocked optimiser updates and no per-step allocation.

Timing is measured by benchmarks/bench_speed.py, never here. These tests check
that the faster code computes exactly what the plain code does and that no
pass can read arrays that another pass has overwritten.
"""

import tracemalloc
from collections import defaultdict

import numpy as np
import pytest
from test_networks import textbook_adam

import networks
from gan import train_step
from networks import SGD, Adam, Dense, Discriminator, Generator, Sigmoid, WeightAverage, Workspace

NOISE = 6
PIXELS = 9
BATCH = 5


# Keyword arguments of the networks: plain sigmoid MLPs, and with every
# optional layer (normalisation, minibatch standard deviation, centring).
PLAIN = ({}, {})
WITH_LAYERS = ({"normalization": "batch"},
               {"normalization": "layer", "minibatch_std_group": 2, "input_offset": np.full(PIXELS, 0.5)})


def make_networks(dtype=np.float32, seed=0, options=PLAIN):
    rng = np.random.default_rng(seed)
    generator_options, discriminator_options = options
    generator = Generator(NOISE, (7, 8), PIXELS, rng, dtype, **generator_options)
    discriminator = Discriminator(PIXELS, (8, 7), rng, dtype, **discriminator_options)
    return generator, discriminator


def make_batches(dtype=np.float32, steps=3, seed=1):
    rng = np.random.default_rng(seed)
    return [(rng.random((BATCH, PIXELS)).astype(dtype), rng.standard_normal((BATCH, NOISE)).astype(dtype))
            for _ in range(steps)]


def run_steps(dtype, workspaces_per_step, seed=0, options=PLAIN):
    """Train fresh networks for a few steps; return their parameters and every step's results."""
    generator, discriminator = make_networks(dtype, seed, options)
    g_optimizer = Adam(generator.parameters(), 0.01, 0.5, 0.999, 1e-8)
    d_optimizer = Adam(discriminator.parameters(), 0.01, 0.5, 0.999, 1e-8)
    results = []
    for real, noise in make_batches(dtype):
        workspaces = workspaces_per_step()
        results.append(train_step(real, generator, discriminator, g_optimizer, d_optimizer, noise,
                                  workspaces=workspaces))
    return generator.parameters() + discriminator.parameters(), results


LEAKY_RELU = ({"activation": "leaky_relu", "normalization": "batch"},
              {"activation": "leaky_relu", "normalization": "layer"})
SPECTRAL_NORM = ({}, {"spectral_norm": True, "normalization": "layer", "minibatch_std_group": 2})


@pytest.mark.parametrize("options", [PLAIN, WITH_LAYERS, LEAKY_RELU, SPECTRAL_NORM],
                         ids=["plain", "with_layers", "leaky_relu", "spectral_norm"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reused_workspaces_match_fresh_arrays(dtype, options):
    kept = defaultdict(Workspace)
    reused, reused_results = run_steps(dtype, lambda: kept, options=options)
    fresh, fresh_results = run_steps(dtype, lambda: None, options=options)
    assert reused_results == fresh_results
    for a, b in zip(reused, fresh, strict=True):
        assert a.dtype == dtype
        np.testing.assert_array_equal(a, b)


def test_reused_workspaces_with_instance_noise():
    results = {}
    for name, workspaces_per_step in (("reused", lambda kept=defaultdict(Workspace): kept),
                                      ("fresh", lambda: None)):
        generator, discriminator = make_networks()
        optimizers = [Adam(network.parameters(), 0.01, 0.5) for network in (generator, discriminator)]
        rng = np.random.default_rng(10)
        for real, noise in make_batches():
            instance_noise = rng.standard_normal((3 * BATCH, PIXELS), dtype=np.float32)
            train_step(real, generator, discriminator, *optimizers, noise, 0.9, instance_noise,
                       workspaces=workspaces_per_step())
        results[name] = generator.parameters() + discriminator.parameters()
    for a, b in zip(results["reused"], results["fresh"], strict=True):
        np.testing.assert_array_equal(a, b)


def test_train_step_is_deterministic():
    first, _ = run_steps(np.float32, lambda: defaultdict(Workspace))
    second, _ = run_steps(np.float32, lambda: defaultdict(Workspace))
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("options", [PLAIN, WITH_LAYERS, SPECTRAL_NORM],
                         ids=["plain", "with_layers", "spectral_norm"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_later_forward_keeps_earlier_caches(dtype, options):
    # Forward A, forward B, backward A must equal backward A computed alone.
    _, discriminator = make_networks(dtype, options=options)
    rng = np.random.default_rng(2)
    batch_a = rng.random((BATCH, PIXELS)).astype(dtype)
    batch_b = rng.random((BATCH, PIXELS)).astype(dtype)
    grad = rng.standard_normal((BATCH, 1)).astype(dtype)

    logits_alone, caches_alone = discriminator.forward(batch_a)
    expected_input_grad, expected_grads = discriminator.backward(caches_alone, grad)

    workspace_a, workspace_b = Workspace(), Workspace()
    logits_a, caches_a = discriminator.forward(batch_a, workspace_a)
    discriminator.forward(batch_b, workspace_b)
    input_grad, grads = discriminator.backward(caches_a, grad, workspace=workspace_a)

    np.testing.assert_array_equal(logits_a, logits_alone)
    np.testing.assert_array_equal(input_grad, expected_input_grad)
    for actual, expected in zip(grads, expected_grads, strict=True):
        np.testing.assert_array_equal(actual, expected)


def test_spectral_norm_cache_keeps_its_estimate():
    """An update of the power-iteration vectors between forward and backward leaves the gradients alone."""
    _, discriminator = make_networks(np.float64, options=SPECTRAL_NORM)
    rng = np.random.default_rng(3)
    batch = rng.random((BATCH, PIXELS))
    grad = rng.standard_normal((BATCH, 1))
    _, caches = discriminator.forward(batch)
    expected_input_grad, expected_grads = discriminator.backward(caches, grad)

    workspace = Workspace()
    _, caches = discriminator.forward(batch, workspace)
    before = [array.copy() for array in discriminator.state_arrays()]
    discriminator.update_spectral_norms()
    input_grad, grads = discriminator.backward(caches, grad, workspace=workspace)

    assert any(not np.array_equal(a, b) for a, b in zip(before, discriminator.state_arrays(), strict=True))
    np.testing.assert_array_equal(input_grad, expected_input_grad)
    for actual, expected in zip(grads, expected_grads, strict=True):
        np.testing.assert_array_equal(actual, expected)


def test_overwritten_caches_are_rejected():
    _, discriminator = make_networks()
    rng = np.random.default_rng(4)
    workspace = Workspace()
    _, caches_a = discriminator.forward(rng.random((BATCH, PIXELS), dtype=np.float32), workspace)
    discriminator.forward(rng.random((BATCH, PIXELS), dtype=np.float32), workspace)
    with pytest.raises(ValueError, match="latest forward pass"):
        discriminator.backward(caches_a, np.ones((BATCH, 1), np.float32), workspace=workspace)


def test_workspace_keeps_arrays_per_batch_size():
    # A smaller last batch must not replace the arrays of the full batch.
    layer = Dense(4, 3, np.random.default_rng(5))
    buffers = networks.Buffers()
    full, _ = layer.forward(np.ones((6, 4), np.float32), buffers=buffers)
    full_copy = full.copy()
    small, _ = layer.forward(np.zeros((2, 4), np.float32), buffers=buffers)
    assert small.shape == (2, 3)
    assert not np.shares_memory(full, small)
    np.testing.assert_array_equal(full, full_copy)


def test_sigmoid_backward_leaves_its_inputs_unchanged():
    layer = Sigmoid()
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    y, cache = layer.forward(x)
    y_before = y.copy()
    grad_output = np.full_like(y, 2.0)
    grad_input, _ = layer.backward(cache, grad_output)
    np.testing.assert_array_equal(y, y_before)
    np.testing.assert_array_equal(grad_output, np.full_like(y, 2.0))
    np.testing.assert_allclose(grad_input, 2.0 * y * (1.0 - y), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blocked_adam_matches_textbook_adam(monkeypatch, dtype):
    # Small blocks, so that each parameter spans several blocks and a partial last one.
    monkeypatch.setattr(networks, "BLOCK_ELEMENTS", 7)
    rng = np.random.default_rng(6)
    starts = [rng.standard_normal((5, 6)), rng.standard_normal(4)]
    grads_per_step = [[rng.standard_normal(start.shape) for start in starts] for _ in range(4)]
    params = [start.astype(dtype) for start in starts]
    optimizer = Adam(params, 0.01, 0.5, 0.999, 1e-8)
    for grads in grads_per_step:
        optimizer.step([grad.astype(dtype) for grad in grads])

    tolerance = 1e-5 if dtype == np.float32 else 1e-10
    for index, (param, start) in enumerate(zip(params, starts, strict=True)):
        grads = [step_grads[index] for step_grads in grads_per_step]
        expected = textbook_adam(start, grads, 0.01, 0.5, 0.999, 1e-8)
        assert param.dtype == dtype
        np.testing.assert_allclose(param, expected, rtol=tolerance, atol=tolerance)


def test_blocked_sgd_matches_reference(monkeypatch):
    monkeypatch.setattr(networks, "BLOCK_ELEMENTS", 7)
    rng = np.random.default_rng(7)
    param = rng.standard_normal((5, 6), dtype=np.float32)
    grad = rng.standard_normal((5, 6), dtype=np.float32)
    expected = param - np.float32(0.1) * grad
    optimizer = SGD([param], 0.1)
    optimizer.step([grad])
    np.testing.assert_array_equal(param, expected)


def test_optimizer_rejects_non_contiguous_parameter():
    weights = np.zeros((4, 6), np.float32)[:, ::2]
    optimizer = Adam([weights], 0.01)
    with pytest.raises(ValueError, match="C-contiguous"):
        optimizer.step([np.ones_like(weights)])


def peak_allocation(function):
    """Return the peak bytes that Python and NumPy allocated while function ran."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start, _ = tracemalloc.get_traced_memory()
        function()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - start


def test_adam_step_allocates_no_parameter_sized_arrays():
    rng = np.random.default_rng(8)
    params = [rng.standard_normal((512, 1024), dtype=np.float32), np.zeros(1024, np.float32)]
    grads = [rng.standard_normal(p.shape, dtype=np.float32) for p in params]
    optimizer = Adam(params, 0.001)
    optimizer.step(grads)
    parameter_bytes = sum(p.nbytes for p in params)
    assert peak_allocation(lambda: optimizer.step(grads)) < parameter_bytes / 100


@pytest.mark.parametrize("layers", ["plain", "with_layers", "spectral_norm"])
def test_train_step_reuses_its_arrays(layers):
    # After a first step has made the workspaces, a step allocates only small
    # arrays (losses, label gradients, per-group statistics), far less than
    # one copy of the weights or one layer's activations.
    rng = np.random.default_rng(9)
    pixels = 256
    generator_options, discriminator_options = {}, {}
    if layers == "with_layers":
        generator_options = {"normalization": "batch"}
        discriminator_options = {"normalization": "layer", "minibatch_std_group": 4,
                                 "input_offset": np.full(pixels, 0.5, np.float32)}
    elif layers == "spectral_norm":
        discriminator_options = {"spectral_norm": True}
    generator = Generator(32, (256, 512), pixels, rng, **generator_options)
    discriminator = Discriminator(pixels, (512, 256), rng, **discriminator_options)
    optimizers = [Adam(network.parameters(), 0.001) for network in (generator, discriminator)]
    sampler = Generator(32, (256, 512), pixels, rng, **generator_options)
    weight_average = WeightAverage(generator, sampler, 0.99)
    real = rng.random((64, pixels), dtype=np.float32)
    noise = rng.standard_normal((64, 32), dtype=np.float32)
    workspaces = defaultdict(Workspace)

    def step():
        train_step(real, generator, discriminator, *optimizers, noise, workspaces=workspaces)
        weight_average.update()

    step()
    weight_bytes = sum(p.nbytes for p in generator.parameters() + discriminator.parameters())
    step_bytes = peak_allocation(step)
    assert step_bytes < weight_bytes / 20
    # One activation of the discriminator's first layer on real and fake images.
    # NumPy's ufunc buffers for broadcast operands (32 KiB) stay below it.
    activation_bytes = 2 * len(real) * 512 * 4
    assert step_bytes < activation_bytes
