"""Layers, the loss, optimisers and the two networks of the GAN, with backpropagation by hand.

Every layer keeps only its parameters. Its forward pass returns the output
together with a cache of what the backward pass needs, and the caller hands
that cache back:

    output, cache = layer.forward(x)
    grad_x, param_grads = layer.backward(cache, grad_output)

So a backward pass can only use the activations of its own forward pass.
Running the discriminator on a batch of generated images cannot overwrite the
activations that the backward pass of a real batch needs, a mistake that
several public NumPy GANs make when layers store their last input.

Arrays are float32 by default and every operation is vectorised over the
mini-batch: a batch of images has shape (batch, height * width).
"""

import numpy as np


def sigmoid(x):
    """Return the logistic sigmoid 1 / (1 + exp(-x)), computed without overflow."""
    # 0.5 * (1 + tanh(x / 2)) equals the sigmoid and never evaluates exp of a
    # large number, so float32 logits of any size give no overflow warning.
    y = np.tanh(0.5 * x)
    y += 1.0
    y *= 0.5
    return y


class Dense:
    """Fully connected layer y = x @ weights + bias, with Glorot (Xavier) uniform initialisation."""

    def __init__(self, in_features, out_features, rng, dtype=np.float32):
        # Glorot and Bengio (2010): uniform in +-sqrt(6 / (fan_in + fan_out)) keeps
        # the variance of activations and gradients about equal across layers.
        limit = np.sqrt(6.0 / (in_features + out_features))
        self.weights = rng.uniform(-limit, limit, (in_features, out_features)).astype(dtype)
        self.bias = np.zeros(out_features, dtype=dtype)

    def parameters(self):
        return [self.weights, self.bias]

    def forward(self, x):
        """Return the output for input x of shape (batch, in_features), and the cache for backward."""
        return x @ self.weights + self.bias, x

    def backward(self, cache, grad_output, need_input_grad=True, need_param_grads=True):
        """Return the gradient with respect to the input and [grad_weights, grad_bias].

        Either part is None when the caller says it does not need it, which
        saves a matrix product.
        """
        x = cache
        grad_input = grad_output @ self.weights.T if need_input_grad else None
        if not need_param_grads:
            return grad_input, [None, None]
        grad_weights = x.T @ grad_output
        grad_bias = grad_output.sum(axis=0)
        return grad_input, [grad_weights, grad_bias]


class Sigmoid:
    """Elementwise logistic sigmoid activation; it has no parameters."""

    def parameters(self):
        return []

    def forward(self, x):
        y = sigmoid(x)
        return y, y

    def backward(self, cache, grad_output, need_input_grad=True, need_param_grads=True):
        y = cache
        return grad_output * y * (1.0 - y), []


class MLP:
    """Multilayer perceptron: a sequence of layers run one after another."""

    def __init__(self, layers):
        self.layers = layers

    def parameters(self):
        """Return every parameter array, in the order that backward returns their gradients."""
        return [p for layer in self.layers for p in layer.parameters()]

    def forward(self, x):
        """Return the network's output for x and the list of per-layer caches for backward."""
        caches = []
        for layer in self.layers:
            x, cache = layer.forward(x)
            caches.append(cache)
        return x, caches

    def backward(self, caches, grad_output, need_input_grad=True, need_param_grads=True):
        """Backpropagate grad_output through the layers of the forward pass that made caches.

        Returns the gradient with respect to the network's input (None unless
        need_input_grad) and the gradients of parameters() in the same order
        (all None unless need_param_grads). Training the generator needs only
        the discriminator's input gradient, not its weight gradients.
        """
        grads_per_layer = []
        grad = grad_output
        for index in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[index]
            # The first layer's input gradient is only needed when the caller
            # asks for it, for example to train the generator through D.
            need_grad = need_input_grad or index > 0
            grad, layer_grads = layer.backward(caches[index], grad, need_grad, need_param_grads)
            grads_per_layer.append(layer_grads)
        grads = [g for layer_grads in reversed(grads_per_layer) for g in layer_grads]
        return grad, grads


def build_mlp(sizes, output_activation, rng, dtype=np.float32):
    """Build Dense layers of the given sizes, with a sigmoid after every hidden layer.

    sizes lists the input size, the hidden sizes and the output size.
    output_activation is a layer put after the last Dense layer, or None.
    """
    layers = []
    for index, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(Dense(n_in, n_out, rng, dtype))
        is_hidden = index < len(sizes) - 2
        if is_hidden:
            layers.append(Sigmoid())
    if output_activation is not None:
        layers.append(output_activation)
    return layers


class Generator(MLP):
    """Map noise vectors of shape (batch, noise_size) to images (batch, pixels) with values in [0, 1]."""

    def __init__(self, noise_size, hidden_sizes, image_pixels, rng, dtype=np.float32):
        sizes = [noise_size, *hidden_sizes, image_pixels]
        super().__init__(build_mlp(sizes, Sigmoid(), rng, dtype))


class Discriminator(MLP):
    """Map images of shape (batch, pixels) to one logit per image, shape (batch, 1).

    The probability that an image is real is sigmoid(logit). The network stops
    at the logit so that the loss can be computed from it without log(0).
    """

    def __init__(self, image_pixels, hidden_sizes, rng, dtype=np.float32):
        sizes = [image_pixels, *hidden_sizes, 1]
        super().__init__(build_mlp(sizes, None, rng, dtype))


def bce_with_logits(logits, targets):
    """Return the mean binary cross-entropy of sigmoid(logits) against targets, and its gradient.

    Computed as max(z, 0) - z * t + log(1 + exp(-|z|)), which equals
    -t * log(sigmoid(z)) - (1 - t) * log(1 - sigmoid(z)) and is finite for every
    logit z. The gradient with respect to the logits is (sigmoid(z) - t) / batch.
    """
    batch = logits.shape[0]
    losses = np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
    grad = (sigmoid(logits) - targets) / np.asarray(batch, dtype=logits.dtype)
    return float(losses.mean()), grad


class SGD:
    """Plain stochastic gradient descent: parameter -= learning_rate * gradient."""

    def __init__(self, parameters, learning_rate):
        self.parameters = parameters
        self.learning_rate = learning_rate

    def step(self, grads):
        """Update every parameter in place from its gradient."""
        for param, grad in zip(self.parameters, grads, strict=True):
            param -= self.learning_rate * grad


class Adam:
    """Adam (Kingma and Ba, 2015) with bias-corrected first and second moments."""

    def __init__(self, parameters, learning_rate, beta1=0.9, beta2=0.999, epsilon=1e-8):
        self.parameters = parameters
        self.learning_rate = learning_rate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.first_moments = [np.zeros_like(p) for p in parameters]
        self.second_moments = [np.zeros_like(p) for p in parameters]
        self.step_count = 0

    def step(self, grads):
        """Update every parameter in place from its gradient and the running moments."""
        self.step_count += 1
        # Both bias corrections are folded into the step size and epsilon, so
        # this equals lr * m_hat / (sqrt(v_hat) + eps) with one division per element.
        correction1 = 1.0 - self.beta1**self.step_count
        correction2 = 1.0 - self.beta2**self.step_count
        step_size = self.learning_rate * np.sqrt(correction2) / correction1
        epsilon = self.epsilon * np.sqrt(correction2)
        moments = zip(self.first_moments, self.second_moments, strict=True)
        for param, grad, (m, v) in zip(self.parameters, grads, moments, strict=True):
            m *= self.beta1
            m += (1.0 - self.beta1) * grad
            v *= self.beta2
            v += (1.0 - self.beta2) * np.square(grad)
            param -= step_size * m / (np.sqrt(v) + epsilon)
