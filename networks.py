"""Layers, the loss, optimisers and the two networks of the GAN, with backpropagation by hand.

Every layer keeps only its parameters, apart from the two vectors with which
SpectralNormDense estimates the spectral norm of its weights. A forward pass
returns the output together with a cache of what the backward pass needs,
and the caller hands that cache back:

    output, cache = layer.forward(x)
    grad_x, param_grads = layer.backward(cache, grad_output)

So a backward pass can only use the activations of its own forward pass.
Running the discriminator on a batch of generated images cannot overwrite the
activations that the backward pass of a real batch needs, a mistake that
several public NumPy GANs make when layers store their last input.

Arrays are float32 by default and every operation is vectorised over the
mini-batch: a batch of images has shape (batch, height * width).

For speed, a pass can write into arrays that it reuses from step to step
instead of new ones: MLP.forward and MLP.backward take a Workspace, and each
layer gets the Buffers of its index in it. The caller owns the workspace, and
two passes whose caches are in use at the same time need two workspaces.
Without one, every pass allocates new arrays, as the gradient checks do.
With one, a pass allocates only arrays of a few values per image or group
(the losses, the minibatch statistic) and NumPy's own ufunc buffers.
"""

import numpy as np


def sigmoid(x):
    """Return the logistic sigmoid 1 / (1 + exp(-x)), computed without overflow."""
    # 0.5 * (1 + tanh(x / 2)) equals the sigmoid and never evaluates exp of a
    # large number, so float32 logits of any size give no overflow warning.
    x = np.asarray(x)
    return sigmoid_into(x, np.empty(x.shape, np.result_type(x.dtype, np.float32)))


def sigmoid_into(x, out):
    """Write sigmoid(x) into out, which may be x itself, and return out."""
    half = out.dtype.type(0.5)
    np.multiply(x, half, out=out)
    np.tanh(out, out=out)
    out += out.dtype.type(1)
    out *= half
    return out


def mean_into(x, axis, out):
    """Write the mean of x along axis into out, which keeps the axis if it has x's number of dimensions.

    Unlike np.mean(out=), which made temporary buffers of up to 128 KiB in
    NumPy 2.4, this allocates nothing.
    """
    np.sum(x, axis=axis, keepdims=out.ndim == x.ndim, out=out)
    out /= out.dtype.type(x.shape[axis])
    return out


class Buffers:
    """Arrays that one owner reuses from one pass to the next, made on first use.

    Arrays are kept by name, shape and dtype, so a smaller last batch gets
    arrays of its own instead of replacing the full-size ones.
    """

    def __init__(self):
        self.arrays = {}

    def array(self, name, shape, dtype):
        """Return the uninitialised array kept for name, shape and dtype."""
        key = (name, shape, dtype)
        array = self.arrays.get(key)
        if array is None:
            array = self.arrays[key] = np.empty(shape, dtype)
        return array


def new_array(buffers, name, shape, dtype):
    """Return buffers' array for name, or a new array when buffers is None."""
    if buffers is None:
        return np.empty(shape, dtype)
    return buffers.array(name, shape, dtype)


class Workspace(Buffers):
    """Arrays reused by the forward and backward passes of one network in one role.

    A forward pass given a workspace writes its outputs and caches into the
    workspace's arrays instead of new ones, and its backward pass writes the
    gradients there too. The next pass in the same direction with the same
    workspace overwrites them, so two passes whose caches are in use at the
    same time need two workspaces. The training step keeps one each for the
    generator, the discriminator on real and fake images, and the
    discriminator in the generator step. MLP.backward raises ValueError when
    given caches that a later forward pass with the same workspace has
    overwritten.
    """

    def __init__(self):
        super().__init__()
        self.layers = {}  # Buffers of each layer, by the layer's index
        self.caches = None  # the caches of the latest forward pass

    def layer(self, index):
        """Return the Buffers of the layer at index."""
        buffers = self.layers.get(index)
        if buffers is None:
            buffers = self.layers[index] = Buffers()
        return buffers


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

    def forward(self, x, buffers=None):
        """Return the output for input x of shape (batch, in_features), and the cache for backward.

        With buffers, the output goes into an array of buffers.
        """
        output = new_array(buffers, "output", (len(x), self.weights.shape[1]), self.weights.dtype)
        np.matmul(x, self.weights, out=output)
        output += self.bias
        return output, x

    def backward(self, cache, grad_output, need_input_grad=True, need_param_grads=True, buffers=None):
        """Return the gradient with respect to the input and [grad_weights, grad_bias].

        Either part is None when the caller says it does not need it, which
        saves a matrix product. With buffers, the gradients go into arrays of
        buffers.
        """
        x = cache
        dtype = self.weights.dtype
        grad_input = None
        if need_input_grad:
            grad_input = new_array(buffers, "grad_input", x.shape, dtype)
            # weights.T is a view, which BLAS reads as transposed without a copy.
            np.matmul(grad_output, self.weights.T, out=grad_input)
        if not need_param_grads:
            return grad_input, [None, None]
        grad_weights = new_array(buffers, "grad_weights", self.weights.shape, dtype)
        np.matmul(x.T, grad_output, out=grad_weights)
        grad_bias = new_array(buffers, "grad_bias", self.bias.shape, dtype)
        np.sum(grad_output, axis=0, out=grad_bias)
        return grad_input, [grad_weights, grad_bias]


class SpectralNormDense(Dense):
    """Dense layer with spectral normalisation: y = x @ (weights / sigma) + bias.

    Miyato et al. (2018, "Spectral Normalization for Generative Adversarial
    Networks") divide each weight matrix of the discriminator by its largest
    singular value sigma. Then no layer stretches a change of its input by
    more than a factor of about 1 (its Lipschitz constant), which bounds how
    sharply the discriminator can separate real from generated images. The
    bias is not normalised.

    sigma is estimated as v @ weights @ u from two unit vectors that persist
    from step to step: u of length out_features and v of length in_features.
    (The paper's W is the transpose of weights, so its formulas have u and v
    on the other sides.) update_estimate runs one step of power iteration,
    which moves u and v towards the top singular vectors. train_step calls
    it once per training step, before the discriminator's first forward
    pass. forward only reads u and v, and computes sigma for the current
    weights. So repeated forward passes, as in the gradient checks, compute
    one function of the weights, and the second forward pass of a step
    computes sigma for the weights that the discriminator's update just
    changed. backward treats u and v as constants, which is exact once they
    have converged.
    """

    EPSILON = 1e-12  # smallest norm that power iteration divides by

    def __init__(self, in_features, out_features, rng, dtype=np.float32):
        super().__init__(in_features, out_features, rng, dtype)
        self.u = rng.standard_normal(out_features).astype(dtype)  # a random start
        self.v = np.empty(in_features, dtype)
        self.update_estimate()

    def update_estimate(self):
        """Run one step of power iteration on weights, updating v and then u in place."""
        np.matmul(self.weights, self.u, out=self.v)
        self.v /= max(np.linalg.norm(self.v), self.EPSILON)
        np.matmul(self.weights.T, self.v, out=self.u)
        self.u /= max(np.linalg.norm(self.u), self.EPSILON)

    def forward(self, x, buffers=None):
        """Return the output for input x of shape (batch, in_features), and the cache for backward."""
        dtype = self.weights.dtype
        # The cache keeps copies of u and v, so that an update_estimate
        # between this pass and its backward pass cannot change the gradient.
        u = new_array(buffers, "u", self.u.shape, dtype)
        np.copyto(u, self.u)
        v = new_array(buffers, "v", self.v.shape, dtype)
        np.copyto(v, self.v)
        weights_u = new_array(buffers, "weights_u", v.shape, dtype)
        np.matmul(self.weights, u, out=weights_u)
        sigma = np.dot(v, weights_u)  # v @ weights @ u, a scalar of dtype

        output = new_array(buffers, "output", (len(x), self.weights.shape[1]), dtype)
        np.matmul(x, self.weights, out=output)
        output /= sigma
        output += self.bias
        return output, (x, sigma, u, v)

    def backward(self, cache, grad_output, need_input_grad=True, need_param_grads=True, buffers=None):
        """Return the gradient with respect to the input and [grad_weights, grad_bias], as Dense does."""
        x, sigma, u, v = cache
        # Dense's gradients are those for the unnormalised weights: grad_input
        # is sigma times too large, and grad_weights is G, the gradient with
        # respect to weights / sigma.
        grad_input, (grad_weights, grad_bias) = super().backward(
            x, grad_output, need_input_grad, need_param_grads, buffers)
        if grad_input is not None:
            grad_input /= sigma
        if grad_weights is not None:
            # With u and v constant, sigma = v @ weights @ u has the gradient
            # outer(v, u), so d loss / d weights =
            # (G - <G, weights / sigma> * outer(v, u)) / sigma.
            rank_one = new_array(buffers, "rank_one", self.weights.shape, self.weights.dtype)
            np.multiply.outer(v, u, out=rank_one)
            rank_one *= np.vdot(grad_weights, self.weights) / sigma
            grad_weights -= rank_one
            grad_weights /= sigma
        return grad_input, [grad_weights, grad_bias]


class Sigmoid:
    """Elementwise logistic sigmoid activation; it has no parameters."""

    def parameters(self):
        return []

    def forward(self, x, buffers=None):
        y = sigmoid_into(x, new_array(buffers, "output", x.shape, x.dtype))
        return y, y

    def backward(self, cache, grad_output, need_input_grad=True, need_param_grads=True, buffers=None):
        if not need_input_grad:
            return None, []
        y = cache
        # The derivative of the sigmoid is y * (1 - y), from its own output.
        grad_input = new_array(buffers, "grad_input", y.shape, y.dtype)
        np.subtract(y.dtype.type(1), y, out=grad_input)
        grad_input *= y
        grad_input *= grad_output
        return grad_input, []


class LeakyReLU:
    """Elementwise leaky rectifier max(x, slope * x), with 0 < slope < 1; it has no parameters.

    The hidden activation of the common framework recipe for MLP GANs, offered
    by HIDDEN_ACTIVATION to compare against the sigmoid.
    """

    def __init__(self, slope=0.2):
        self.slope = slope

    def parameters(self):
        return []

    def forward(self, x, buffers=None):
        y = new_array(buffers, "output", x.shape, x.dtype)
        np.multiply(x, x.dtype.type(self.slope), out=y)
        np.maximum(x, y, out=y)
        return y, y

    def backward(self, cache, grad_output, need_input_grad=True, need_param_grads=True, buffers=None):
        if not need_input_grad:
            return None, []
        y = cache
        # The output has the sign of the input, so it shows which slope applies.
        positive = new_array(buffers, "positive", y.shape, np.bool_)
        np.greater(y, 0, out=positive)
        grad_input = new_array(buffers, "grad_input", y.shape, y.dtype)
        np.multiply(grad_output, y.dtype.type(self.slope), out=grad_input)
        np.copyto(grad_input, grad_output, where=positive)
        return grad_input, []


# The hidden activations that HIDDEN_ACTIVATION names.
ACTIVATIONS = {"sigmoid": Sigmoid, "leaky_relu": LeakyReLU}


class MLP:
    """Multilayer perceptron: a sequence of layers run one after another."""

    def __init__(self, layers):
        self.layers = layers

    def parameters(self):
        """Return every parameter array, in the order that backward returns their gradients."""
        return [p for layer in self.layers for p in layer.parameters()]

    def state_arrays(self):
        """Return the arrays besides parameters() that training changes: each SpectralNormDense's u and v.

        A checkpoint keeps them, so that a resumed run continues the same estimates.
        """
        return [array for layer in self.layers if isinstance(layer, SpectralNormDense)
                for array in (layer.u, layer.v)]

    def update_spectral_norms(self):
        """Run one step of power iteration in every SpectralNormDense layer."""
        for layer in self.layers:
            if isinstance(layer, SpectralNormDense):
                layer.update_estimate()

    def forward(self, x, workspace=None):
        """Return the network's output for x and the list of per-layer caches for backward.

        With a workspace, the outputs and caches go into its arrays, which
        the next forward pass with the same workspace overwrites.
        """
        caches = []
        for index, layer in enumerate(self.layers):
            buffers = None if workspace is None else workspace.layer(index)
            x, cache = layer.forward(x, buffers=buffers)
            caches.append(cache)
        if workspace is not None:
            workspace.caches = caches
        return x, caches

    def backward(self, caches, grad_output, need_input_grad=True, need_param_grads=True, workspace=None,
                 hidden_grads=None):
        """Backpropagate grad_output through the layers of the forward pass that made caches.

        Returns the gradient with respect to the network's input (None unless
        need_input_grad) and the gradients of parameters() in the same order
        (all None unless need_param_grads). Training the generator needs only
        the discriminator's input gradient, not its weight gradients. With a
        workspace, which must be the one of the forward pass that made
        caches, the gradients go into its arrays and stay valid until the
        next backward pass with it. hidden_grads maps a layer's index to the
        gradient of a second loss with respect to that layer's output, which
        is added on the way back.
        """
        if workspace is not None and caches is not workspace.caches:
            raise ValueError("These caches are not from the latest forward pass with this workspace, "
                             "so their arrays may have been overwritten. Give each pass its own Workspace.")
        grads_per_layer = []
        grad = grad_output
        for index in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[index]
            if hidden_grads and index in hidden_grads:
                grad = grad + hidden_grads[index]
            # The first layer's input gradient is only needed when the caller
            # asks for it, for example to train the generator through D.
            need_grad = need_input_grad or index > 0
            buffers = None if workspace is None else workspace.layer(index)
            grad, layer_grads = layer.backward(caches[index], grad, need_grad, need_param_grads,
                                               buffers=buffers)
            grads_per_layer.append(layer_grads)
        grads = [g for layer_grads in reversed(grads_per_layer) for g in layer_grads]
        return grad, grads


def build_mlp(sizes, output_activation, rng, dtype=np.float32, normalization="none",
              minibatch_std_group=0, activation="sigmoid", spectral_norm=False):
    """Build Dense layers of the given sizes, with an activation after every hidden layer.

    sizes lists the input size, the hidden sizes and the output size.
    output_activation is a layer put after the last Dense layer, or None.
    activation names the hidden layers' activation in ACTIVATIONS.
    normalization "batch" or "layer" puts a BatchNorm or LayerNorm between
    each hidden Dense layer and its activation. minibatch_std_group > 0 puts
    a MinibatchStd with that group size before the last Dense layer.
    spectral_norm makes every Dense layer a SpectralNormDense.
    """
    norm_layers = {"none": None, "batch": BatchNorm, "layer": LayerNorm}
    layers = []
    for index, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        is_hidden = index < len(sizes) - 2
        if not is_hidden and minibatch_std_group > 0:
            layers.append(MinibatchStd(minibatch_std_group))
            n_in += 1
        layers.append((SpectralNormDense if spectral_norm else Dense)(n_in, n_out, rng, dtype))
        if is_hidden:
            if norm_layers[normalization] is not None:
                layers.append(norm_layers[normalization](n_out, dtype))
            layers.append(ACTIVATIONS[activation]())
    if output_activation is not None:
        layers.append(output_activation)
    return layers


class Generator(MLP):
    """Map noise vectors of shape (batch, noise_size) to images (batch, pixels) with values in [0, 1]."""

    STATISTICS_SAMPLES = 256  # noise vectors that freeze_batch_statistics averages over

    def __init__(self, noise_size, hidden_sizes, image_pixels, rng, dtype=np.float32,
                 normalization="none", activation="sigmoid"):
        sizes = [noise_size, *hidden_sizes, image_pixels]
        super().__init__(build_mlp(sizes, Sigmoid(), rng, dtype, normalization, activation=activation))
        self.noise_size = noise_size

    def freeze_batch_statistics(self):
        """Fix the statistics of every BatchNorm layer to those of a large fixed batch of noise.

        Call it after the weights change and before drawing samples with a
        generator that is not trained. The batch is the same every time
        (seed 0), so equal weights give equal samples.
        """
        if not any(isinstance(layer, BatchNorm) for layer in self.layers):
            return
        noise = np.random.default_rng(0).standard_normal((self.STATISTICS_SAMPLES, self.noise_size))
        x = noise.astype(self.layers[0].weights.dtype)
        # The layers after the last BatchNorm do not change any statistics, so
        # the pass stops there. That skips the largest layer, the one that
        # makes the image.
        last = max(index for index, layer in enumerate(self.layers) if isinstance(layer, BatchNorm))
        for layer in self.layers[:last + 1]:
            if isinstance(layer, BatchNorm):
                layer.frozen_statistics = layer.batch_statistics(x)
            x, _ = layer.forward(x)


class Discriminator(MLP):
    """Map images of shape (batch, pixels) to one logit per image, shape (batch, 1).

    The probability that an image is real is sigmoid(logit). The network stops
    at the logit so that the loss can be computed from it without log(0).
    With packing > 1 it judges packs of that many consecutive images instead,
    and returns one logit per pack, shape (batch / packing, 1). With
    spectral_norm, every Dense layer is a SpectralNormDense, and the training
    step calls update_spectral_norms once per step.
    """

    def __init__(self, image_pixels, hidden_sizes, rng, dtype=np.float32, normalization="none",
                 minibatch_std_group=0, input_offset=None, packing=1, activation="sigmoid",
                 spectral_norm=False):
        sizes = [packing * image_pixels, *hidden_sizes, 1]
        layers = build_mlp(sizes, None, rng, dtype, normalization, minibatch_std_group, activation,
                           spectral_norm)
        if packing > 1:
            layers.insert(0, Pack(packing))
        if input_offset is not None:
            layers.insert(0, Shift(np.asarray(input_offset, dtype=dtype)))
        super().__init__(layers)
        self.packing = packing
        # Real batches of a multiple of this size keep real and generated
        # images apart in every pack and every minibatch standard-deviation group.
        self.batch_multiple = packing * max(minibatch_std_group, 1)

    def features(self, caches):
        """Return the input of the last Dense layer, (batch, features), from the caches of a forward pass.

        Feature matching compares these features of real and generated images.
        """
        cache = caches[-1]
        return cache[0] if isinstance(self.layers[-1], SpectralNormDense) else cache


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


# Elements per block of the optimisers' updates. One update touches six
# blocks of 512 KiB each in float32: parameter, gradient, both Adam moments
# and two scratch blocks. They stay in the CPU caches while about a dozen
# elementwise operations run over them, so each array crosses main memory
# once per step.
# On a 2-core AMD EPYC busy with other jobs, Adam over 9.7 million parameters
# took 48 ms unblocked and 33-38 ms with blocks of 64Ki to 256Ki elements,
# timed alternately in one process.
BLOCK_ELEMENTS = 131072


def blocks(size):
    """Yield the slices that cut a flat array of size elements into blocks of BLOCK_ELEMENTS."""
    for start in range(0, size, BLOCK_ELEMENTS):
        yield slice(start, min(start + BLOCK_ELEMENTS, size))


def flat_view(array):
    """Return array as a 1-D view. Raise ValueError if it is not C-contiguous, as reshape would copy it."""
    if not array.flags.c_contiguous:
        raise ValueError(f"Parameter of shape {array.shape} is not C-contiguous, but the optimiser updates "
                         f"parameters in place through flat views. Train np.ascontiguousarray copies.")
    return array.reshape(-1)


class SGD:
    """Plain stochastic gradient descent: parameter -= learning_rate * gradient."""

    def __init__(self, parameters, learning_rate):
        self.parameters = parameters
        self.learning_rate = learning_rate
        largest = max((p.size for p in parameters), default=0)
        dtype = parameters[0].dtype if parameters else np.float32
        self.scratch = np.empty(min(largest, BLOCK_ELEMENTS), dtype)

    def step(self, grads):
        """Update every parameter in place from its gradient."""
        for param, grad in zip(self.parameters, grads, strict=True):
            learning_rate = param.dtype.type(self.learning_rate)
            param_flat, grad_flat = flat_view(param), grad.reshape(-1)
            for block in blocks(param.size):
                scaled = self.scratch[:block.stop - block.start]
                np.multiply(grad_flat[block], learning_rate, out=scaled)
                param_flat[block] -= scaled


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
        largest = max((p.size for p in parameters), default=0)
        dtype = parameters[0].dtype if parameters else np.float32
        self.scratch = [np.empty(min(largest, BLOCK_ELEMENTS), dtype) for _ in range(2)]

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
            # Constants of the parameter's dtype, so no operation upcasts to float64.
            to_dtype = param.dtype.type
            constants = (to_dtype(1.0 - self.beta1), to_dtype(1.0 - self.beta2),
                         to_dtype(step_size), to_dtype(epsilon))
            flat = [flat_view(param), grad.reshape(-1), flat_view(m), flat_view(v)]
            for block in blocks(param.size):
                self.update_block(*(array[block] for array in flat), *constants)

    def update_block(self, param, grad, m, v, one_minus_beta1, one_minus_beta2, step_size, epsilon):
        """Apply one Adam update to a block of a parameter, in place, through the two scratch blocks."""
        first, second = (scratch[:len(param)] for scratch in self.scratch)
        # m += (1 - beta1) * (grad - m) equals beta1 * m + (1 - beta1) * grad.
        np.subtract(grad, m, out=first)
        first *= one_minus_beta1
        m += first
        # v += (1 - beta2) * (grad ** 2 - v) in the same way.
        np.multiply(grad, grad, out=second)
        second -= v
        second *= one_minus_beta2
        v += second
        # param -= step_size * m / (sqrt(v) + epsilon)
        np.sqrt(v, out=second)
        second += epsilon
        np.divide(m, second, out=second)
        second *= step_size
        param -= second


class Normalization:
    """Normalise each row or column of x to mean 0 and variance 1, then scale by gamma and shift by beta.

    The subclasses choose the axis of the statistics: the batch for batch
    normalisation, each sample's features for layer normalisation. gamma
    and beta have one value per feature either way.
    """

    axis = None

    def __init__(self, features, dtype=np.float32, epsilon=1e-5):
        self.gamma = np.ones(features, dtype=dtype)
        self.beta = np.zeros(features, dtype=dtype)
        self.epsilon = epsilon

    def parameters(self):
        return [self.gamma, self.beta]

    def statistics_shape(self, x):
        """Return the shape of the mean along the axis, with the axis kept: (1, features) or (batch, 1)."""
        shape = list(x.shape)
        shape[self.axis] = 1
        return tuple(shape)

    def statistics(self, x, buffers=None):
        """Return the mean of x along the axis and the inverse std 1 / sqrt(variance + epsilon)."""
        shape = self.statistics_shape(x)
        mean = mean_into(x, self.axis, new_array(buffers, "mean", shape, x.dtype))
        squares = new_array(buffers, "squares", x.shape, x.dtype)
        np.subtract(x, mean, out=squares)
        squares *= squares  # (x - mean) ** 2
        # The variance, which the next three lines turn into the inverse standard deviation.
        inverse_std = mean_into(squares, self.axis, new_array(buffers, "inverse_std", shape, x.dtype))
        inverse_std += x.dtype.type(self.epsilon)
        np.sqrt(inverse_std, out=inverse_std)
        np.reciprocal(inverse_std, out=inverse_std)
        return mean, inverse_std

    def forward(self, x, buffers=None):
        """Return the normalised, scaled and shifted x (batch, features), and the cache for backward."""
        mean, inverse_std = self.statistics(x, buffers)
        normalised = new_array(buffers, "normalised", x.shape, x.dtype)
        np.subtract(x, mean, out=normalised)
        normalised *= inverse_std
        output = new_array(buffers, "output", x.shape, x.dtype)
        np.multiply(normalised, self.gamma, out=output)
        output += self.beta
        return output, (normalised, inverse_std)

    def backward(self, cache, grad_output, need_input_grad=True, need_param_grads=True, buffers=None):
        normalised, inverse_std = cache
        dtype = normalised.dtype
        # Scratch for the elementwise products below, one at a time.
        product = new_array(buffers, "product", normalised.shape, dtype)
        grads = [None, None]
        if need_param_grads:
            grad_gamma = new_array(buffers, "grad_gamma", self.gamma.shape, dtype)
            np.multiply(grad_output, normalised, out=product)
            np.sum(product, axis=0, out=grad_gamma)
            grad_beta = new_array(buffers, "grad_beta", self.beta.shape, dtype)
            np.sum(grad_output, axis=0, out=grad_beta)
            grads = [grad_gamma, grad_beta]
        if not need_input_grad:
            return None, grads

        # Every input moves the mean and the variance of its row or column, so
        # the gradient loses its mean and its projection on the normalised
        # values along that axis before the scaling is undone:
        # grad_input = (g - mean(g) - normalised * mean(g * normalised)) * inverse_std,
        # where g = grad_output * gamma is the gradient of the normalised values.
        shape = inverse_std.shape
        grad_input = new_array(buffers, "grad_input", normalised.shape, dtype)
        np.multiply(grad_output, self.gamma, out=grad_input)  # g
        grad_mean = mean_into(grad_input, self.axis, new_array(buffers, "grad_mean", shape, dtype))
        np.multiply(grad_input, normalised, out=product)
        projection = mean_into(product, self.axis, new_array(buffers, "projection", shape, dtype))
        grad_input -= grad_mean
        np.multiply(normalised, projection, out=product)
        grad_input -= product
        grad_input *= inverse_std
        return grad_input, grads


class BatchNorm(Normalization):
    """Batch normalisation (Ioffe and Szegedy, 2015): each feature over the mini-batch.

    Put before a sigmoid, it keeps the pre-activations in the range where the
    sigmoid is not saturated, and it keeps the generator's images different
    for different noise vectors. Training uses the statistics of each batch.
    A network that only draws samples can fix them instead (frozen_statistics),
    so that its output for a noise vector does not depend on the rest of the
    batch, and a batch of one image works.
    """

    axis = 0

    def __init__(self, features, dtype=np.float32, epsilon=1e-5):
        super().__init__(features, dtype, epsilon)
        self.frozen_statistics = None  # (mean, inverse_std) of shape (1, features), or None

    def batch_statistics(self, x):
        """Return the mean and the inverse standard deviation of each feature of x over the batch."""
        return super().statistics(x)

    def statistics(self, x, buffers=None):
        # NOTE: backward assumes batch statistics, so it is wrong for an output
        # made with frozen ones. Only networks that are never trained freeze them.
        if self.frozen_statistics is not None:
            return self.frozen_statistics
        return super().statistics(x, buffers)


class LayerNorm(Normalization):
    """Layer normalisation (Ba et al., 2016): each sample over its own features.

    Unlike batch normalisation it never mixes the images of a batch. So a
    discriminator that gets real and generated images in one batch cannot
    tell them apart by batch statistics.
    """

    axis = 1


class MinibatchStd:
    """Append one feature: the mean standard deviation of the features within a group of images.

    Karras et al. (2018) added this to the discriminator so that it can see
    how varied a batch is, which penalises a generator that draws one face for
    every noise vector. Groups are consecutive rows of group_size images, so a
    batch of real images followed by an equally large batch of generated ones
    keeps real and generated images in separate groups whenever group_size
    divides the real batch size.
    """

    def __init__(self, group_size=4, epsilon=1e-8):
        self.group_size = group_size
        self.epsilon = epsilon

    def parameters(self):
        return []

    def forward(self, x, buffers=None):
        """Return x (batch, features) with one more column, and the cache for backward."""
        batch, features = x.shape
        # NOTE: the group size drops to the largest divisor of the batch that is
        # at most group_size. So with an odd real batch, one group of two can
        # hold the last real and the first generated image.
        group = next(g for g in range(min(self.group_size, batch), 0, -1) if batch % g == 0)
        groups = batch // group
        grouped = x.reshape(groups, group, features)
        group_mean = mean_into(grouped, 1, new_array(buffers, "group_mean", (groups, 1, features), x.dtype))
        centred = new_array(buffers, "centred", grouped.shape, x.dtype)
        np.subtract(grouped, group_mean, out=centred)
        squares = new_array(buffers, "squares", grouped.shape, x.dtype)
        np.multiply(centred, centred, out=squares)
        # The variance, which the next two lines turn into the standard deviation.
        std = mean_into(squares, 1, new_array(buffers, "std", (groups, features), x.dtype))
        std += x.dtype.type(self.epsilon)
        np.sqrt(std, out=std)
        statistic = std.mean(axis=1)  # (groups,)

        output = new_array(buffers, "output", (batch, features + 1), x.dtype)
        output[:, :-1] = x
        output[:, -1] = np.repeat(statistic, group)
        return output, (centred, std, group)

    def backward(self, cache, grad_output, need_input_grad=True, need_param_grads=True, buffers=None):
        if not need_input_grad:
            return None, []
        centred, std, group = cache
        groups, _, features = centred.shape
        # Every image of a group gets the group's statistic, so the
        # statistic's gradient is the sum over the group's rows.
        grad_statistic = grad_output[:, -1].reshape(groups, group).sum(axis=1)  # (groups,)
        # The statistic is the mean of the features' std, and
        # d std / d x_i = (x_i - mean) / (group * std), as the mean term cancels.
        # So x_i gets centred_i * grad_statistic / (features * group * std).
        scale = new_array(buffers, "scale", std.shape, std.dtype)  # (groups, features)
        np.multiply(std, std.dtype.type(features * group), out=scale)
        np.divide(grad_statistic[:, None], scale, out=scale)
        grad_input = new_array(buffers, "grad_input", (groups * group, features), centred.dtype)
        np.multiply(centred, scale[:, None, :], out=grad_input.reshape(centred.shape))
        grad_input += grad_output[:, :-1]
        return grad_input, []


class WeightAverage:
    """Exponential moving average of a network's parameters, for drawing samples.

    Yazici et al. (2019) showed that sampling from an average of the
    generator's recent weights gives cleaner and more stable images than the
    last weights. average_network is a second network of the same shape; its
    parameters become the running average of network's parameters, or with
    decay 0 a copy of them.
    """

    def __init__(self, network, average_network, decay):
        self.parameters = network.parameters()
        self.averages = average_network.parameters()
        self.decay = decay
        self.update_count = 0
        for average, param in zip(self.averages, self.parameters, strict=True):
            average[...] = param
        largest = max((p.size for p in self.parameters), default=0)
        dtype = self.parameters[0].dtype if self.parameters else np.float32
        self.scratch = np.empty(min(largest, BLOCK_ELEMENTS), dtype)

    def update(self):
        """Move every average a step of (1 - decay) towards the current parameter, in place.

        During the first updates the decay is lowered to (1 + n) / (10 + n)
        after n earlier updates, as TensorFlow's ExponentialMovingAverage does
        with num_updates, so that the average is not held back by the
        random initial weights.
        """
        decay = min(self.decay, (1.0 + self.update_count) / (10.0 + self.update_count))
        self.update_count += 1
        for average, param in zip(self.averages, self.parameters, strict=True):
            to_dtype = average.dtype.type
            average_flat, param_flat = flat_view(average), param.reshape(-1)
            # Block by block, so each block of both arrays is read from memory once.
            for block in blocks(average.size):
                scaled = self.scratch[:block.stop - block.start]
                np.multiply(param_flat[block], to_dtype(1.0 - decay), out=scaled)
                average_flat[block] *= to_dtype(decay)
                average_flat[block] += scaled


class Shift:
    """Subtract a fixed vector from every input row, such as the mean training image; no parameters.

    Centred inputs let a sigmoid layer learn faster, because the gradients of
    its weights no longer all share the sign of the mean input (LeCun et al.,
    1998, "Efficient BackProp").
    """

    def __init__(self, offset):
        self.offset = offset

    def parameters(self):
        return []

    def forward(self, x, buffers=None):
        output = new_array(buffers, "output", x.shape, x.dtype)
        np.subtract(x, self.offset, out=output)
        return output, None

    def backward(self, cache, grad_output, need_input_grad=True, need_param_grads=True, buffers=None):
        return (grad_output if need_input_grad else None), []


class Pack:
    """Join each run of `size` consecutive rows into one row, so the next layer judges them together.

    Lin et al. (2018, "PacGAN") showed that a discriminator that judges several
    images at once, all real or all generated, notices when the generated
    ones look alike, so the generator loses by drawing the same face again.
    A batch of real images followed by an equally large batch of generated
    ones keeps the two apart whenever size divides the real batch size.
    """

    def __init__(self, size):
        self.size = size

    def parameters(self):
        return []

    def forward(self, x, buffers=None):
        """Return x (batch, features) as (batch / size, size * features); batch must be a multiple of size."""
        if len(x) % self.size:
            raise ValueError(f"A batch of {len(x)} rows does not split into packs of {self.size}.")
        return x.reshape(len(x) // self.size, -1), x.shape

    def backward(self, cache, grad_output, need_input_grad=True, need_param_grads=True, buffers=None):
        return (grad_output.reshape(cache) if need_input_grad else None), []


def init_for_sigmoid(network, gain=4.0):
    """Rescale a network's initial weights and biases for sigmoid hidden layers, in place.

    The Glorot range suits units with slope 1 at 0, such as tanh. The
    sigmoid's slope at 0 is 1/4, so weights in 4 times that range keep the
    differences between inputs about the same size from layer to layer.
    With the plain range they shrink at every sigmoid layer: a generator of
    three sigmoid layers then draws nearly the same image for every noise
    vector (pixel standard deviation across noise vectors 0.002, against
    0.155 with this initialisation, for the default sizes at 32x32).
    The bias of each Dense layer that follows a sigmoid cancels the
    sigmoid's mean output of 0.5, because otherwise the scaled weights would
    add a large fixed pattern to every output.
    """
    previous = None
    for layer in network.layers:
        if isinstance(layer, Dense):
            layer.weights *= gain
            if isinstance(previous, Sigmoid):
                layer.bias[...] = -0.5 * layer.weights.sum(axis=0)
        if not isinstance(layer, Normalization):
            previous = layer
