"""Settings for training the face GAN.

Edit a value here to change it for every run, or override it for one run on
the command line as --lower-case-name VALUE, for example --num-epochs 3.
`python gan.py --help` lists every setting with its default. Relative paths
written here are relative to this file's folder; relative paths given on the
command line are relative to the current directory.
"""

# --- Data ---

# Folder of training images, searched with all its subfolders. The default is
# the 100 built-in faces (25x25 PNG) that come with this repository.
DATA_DIR = "faces"

# Side of the square training images, in pixels (8 to 256). Every image is
# centre-cropped to a square and resized to this. Larger images show more
# detail but make both networks larger and every step slower.
IMAGE_SIZE = 25

# Mirror each training image left-right with probability 0.5 each time it is
# used (true or false). Doubles the variety of a small face set for free.
HORIZONTAL_FLIP = True

# Keep the prepared images in OUTPUT_DIR/cache (true or false), so that the
# next start on an unchanged folder with the same IMAGE_SIZE skips decoding.
# Costs IMAGE_SIZE squared bytes of disk per image; any change to the folder
# or the settings rebuilds it.
DATA_CACHE = True

# --- Networks ---

# Length of the noise (latent) vector that the generator turns into a face
# (1 to 4096). Too small limits variety; larger mainly costs memory.
NOISE_SIZE = 100

# Widths of the generator's hidden layers, from the noise vector
# towards the image (each 1 to 16384). The design has three; any other count
# of layers also works, for experiments. Wider layers can draw finer faces
# but train more slowly: on ORL at 32x32, twice these widths did 35% fewer
# steps in 4 minutes and scored no better.
GENERATOR_HIDDEN_SIZES = (128, 256, 512)

# Widths of the discriminator's hidden layers, from the image towards
# its single output (each 1 to 16384). The design has three, as above.
# Half the earlier default of (1024, 512, 256) trained faster and gave
# better faces in the same time.
DISCRIMINATOR_HIDDEN_SIZES = (512, 256, 128)

# Activation of the hidden layers of both networks: "sigmoid", as the design
# fixes, or "leaky_relu" (slope 0.2), the activation of the common framework
# recipe, to compare against. SIGMOID_INIT applies only to "sigmoid". With
# every other default, leaky ReLU kept more variety on ORL (recall 0.36 to
# 0.41 against 0.01 to 0.02 after 10 minutes, at the same precision) but drew
# grainier and less varied built-in faces (recall 0.36 against 0.70).
HIDDEN_ACTIVATION = "sigmoid"

# Normalisation between each of the generator's hidden Dense layers and its
# activation: "none", "batch" or "layer". It keeps pre-activations where the
# sigmoid is not saturated. Batch normalisation is the usual GAN choice.
GENERATOR_NORMALIZATION = "batch"

# Normalisation between each of the discriminator's hidden Dense layers and
# its activation: "none" or "layer". Batch normalisation is not offered, because
# its batch statistics would mix the real and the generated images.
DISCRIMINATOR_NORMALIZATION = "layer"

# Group size of the discriminator's minibatch standard-deviation feature
# (0 = off, 1 to 64). The feature shows the discriminator how varied a group
# of images is, which penalises a generator that draws the same face for
# every noise vector. Together with DISCRIMINATOR_PACKING and
# FEATURE_MATCHING it raised the variety (recall) of the faces in
# measurements; alone it helped in one run and not in another.
MINIBATCH_STD_GROUP = 4

# Images that the discriminator judges together, as one long input (1 = off,
# 2 to 16). Lin et al. (2018, "PacGAN") showed that a discriminator whose
# input is several real or several generated images at once catches a generator
# that draws similar faces for different noise vectors. Its first layer grows
# by this factor. On ORL, 2 halved the Frechet distance; 4 broke training.
DISCRIMINATOR_PACKING = 2

# Spectral normalisation of every Dense layer of the discriminator (true or
# false): each weight matrix is divided by its largest singular value, as
# Miyato et al. (2018) proposed. That bounds how fast the discriminator's
# output can change with its input, so its gradients for the generator stay
# smooth. Layer normalisation after a layer undoes that layer's scaling, so
# with DISCRIMINATOR_NORMALIZATION "layer" only the last layer is bounded.
# Measured on ORL and the built-in faces, it changed little with layer
# normalisation and broke training without it, so it is off.
SPECTRAL_NORM = False

# Subtract the mean training image from every discriminator input (true or
# false). Centred inputs make its first sigmoid layer learn faster.
CENTRE_INPUTS = True

# Initialise the generator for sigmoid layers (true or false): weights in 4
# times the Glorot range, because the sigmoid's slope at 0 is 1/4, and biases
# that cancel the sigmoid's mean output of 0.5. With plain Glorot
# weights the differences between noise vectors fade through each sigmoid
# layer, so the generator starts out drawing one image for every noise vector.
# The discriminator keeps plain Glorot weights: the larger random weights
# there made the faces worse in measurements.
SIGMOID_INIT = True

# --- Training ---

# Number of passes over the training images (1 to 1000000). The first
# default was 200. The 100 built-in faces make epochs of only 2 steps, and
# after 200 epochs (400 steps) every sample was still mostly pixel noise, with
# these or the earlier settings. 2000 epochs take about a minute there and
# give 64 different faces; on ORL (400 images) they take about 5 minutes.
# With a large data set, lower it: each epoch is a pass over every image.
NUM_EPOCHS = 2000

# Images per mini-batch (1 to 65536). Larger batches give smoother gradients
# and faster epochs, but fewer updates per epoch.
BATCH_SIZE = 64

# Optimiser of both networks: "adam" or "sgd".
OPTIMIZER = "adam"

# Step size of the optimiser (greater than 0, at most 1). Too high makes the
# two networks oscillate or diverge; too low makes faces appear slowly. This
# program's first default was 0.001. In a 3-minute run on ORL with the
# normalisation options above, 0.001 reached a Frechet distance of 38.1 and
# 2e-4 one of 10.4. Later, 4e-4 also raised the distance
# (benchmarks/README-quality.md).
LEARNING_RATE = 0.0002

# Step size of the discriminator's optimiser (0 = the same as LEARNING_RATE,
# otherwise greater than 0 and at most 1). A slower discriminator leaves the
# generator more room; a faster one gives it sharper gradients. Both a
# slower discriminator (1e-4) and a faster generator (5e-4) made faces worse.
DISCRIMINATOR_LEARNING_RATE = 0.0

# Adam's decay rate for its first moment (momentum) estimate (0 to below 1).
# A lower value, such as 0.5, damps the oscillation between the two networks
# that momentum causes; 0.9 is Adam's usual default.
ADAM_BETA1 = 0.5

# Adam's decay rate for its second moment estimate (0 to below 1). Values
# near 1 average the squared gradients over more steps.
ADAM_BETA2 = 0.999

# Small constant added to Adam's denominator for numerical safety (greater
# than 0, at most 1).
ADAM_EPSILON = 1e-8

# Target label of real images in the discriminator's loss (0.5 to 1).
# One-sided label smoothing (Salimans et al., 2016) sets it to 0.9, which
# keeps the discriminator from becoming overconfident; 1 turns it off.
REAL_LABEL = 0.9

# Standard deviation of Gaussian noise added to every discriminator input,
# real and generated, in pixel units of 0 to 1 (0 = off, at most 1).
# Instance noise makes the two distributions overlap, so the discriminator
# cannot separate them perfectly and its gradients stay useful. Off by
# default: 0.05 raised recall but lowered precision more, in measurements.
INSTANCE_NOISE = 0.0

# Weight of feature matching in the generator's loss (0 = off, at most 1000).
# Salimans et al. (2016) made the generator match the mean of the
# discriminator's last hidden features over real images, as well as fooling
# it, which keeps the generator from settling on a few faces. 10 lowered the
# Frechet distance on ORL by a third.
FEATURE_MATCHING = 10.0

# Decay of the exponential moving average of the generator's weights that
# draws the samples and is scored (0 = off and samples come from the trained
# weights; otherwise at least 0.5 and below 1). 0.999 averages over about the
# last 1000 steps, which removes much of the step-to-step jitter and pixel
# noise. Early in training the average is shorter, so the first grids change.
GENERATOR_AVERAGE_DECAY = 0.999

# Seed of every random choice: initial weights, shuffling, flips and noise
# (0 to 4294967295). The same seed and data give the same samples, with the
# same number of BLAS threads (see the README's "Performance"). With
# --generate it chooses the new faces: the same seed gives the same faces.
SEED = 0

# --- Output ---

# Folder for sample grids, the checkpoint and everything else a run writes.
# It is created if missing.
OUTPUT_DIR = "output"

# Write a grid of 64 samples every this many epochs (1 to 1000000). The grid
# uses the same noise vectors every time, so the same faces can be watched
# as they form. A final grid is also written when training ends or is stopped
# by Ctrl+C. A grid costs about one training step at 25x25. The 100
# built-in faces make epochs of 2 steps, so a grid every epoch would take
# about a third of the training time, and one every 50 epochs takes about 1%
# (benchmarks/report_costs.py). That is a new grid every second or two on
# the built-in faces. Lower it for more frames in the timelapse, or when
# epochs are long, as with a large data set.
SAMPLE_EVERY = 50

# Save a checkpoint every this many epochs (1 to 1000000). A checkpoint is
# also saved after the last epoch and when Ctrl+C or SIGTERM stops training,
# so this only bounds the epochs that a crash or power cut can lose. Lower
# values cost more disk writes. Each checkpoint replaces the previous one.
# A save of the default networks at 25x25 (synced to disk) costs about
# three training steps. With the 2-step epochs of the built-in faces, a save
# every 5 epochs would take about 30% of the training time, and one every 100
# takes about 1% (benchmarks/report_costs.py). CHECKPOINT_MINUTES bounds the
# time between saves when epochs are long.
CHECKPOINT_EVERY = 100

# Also save a checkpoint after any epoch that ends this many minutes after
# the last save (greater than 0, at most 1440). With a large data set, 100
# epochs can take hours; this bounds what a crash loses to about this long.
CHECKPOINT_MINUTES = 10.0

# Continue from the checkpoint in OUTPUT_DIR when there is one (true or
# false). With false, training starts fresh, and the earlier run's checkpoint
# and sample grids are moved into a previous-run-DATE-TIME subfolder.
RESUME = True

# Score the samples every this many epochs (0 = never, up to 1000000): the
# Frechet distance to the training images, precision and recall, all in the
# space of the training set's top 64 principal components. The README section
# "How good are the faces?" explains each figure. Training also scores its
# last samples when it stops, unless this is 0 or the last epoch was just scored.
QUALITY_EVERY = 50

# Side, in pixels, of each face in the sample grid (8 to 512). Samples are
# enlarged with nearest-neighbour interpolation so each pixel stays visible.
SAMPLE_CELL_SIZE = 100

# Redraw the chart of the per-epoch figures, history.png, every this many
# epochs (1 to 1000000). It is also drawn whenever training stops.
# history.csv gets a new row after every epoch regardless. A chart costs
# about two training steps at 25x25, so one every 100 epochs of 2 steps
# takes about 1% of the training time.
CHART_EVERY = 100

# Seconds between progress lines inside an epoch (greater than 0, at most
# 86400). An epoch shorter than this shows no progress line. On a terminal
# the line rewrites itself in place every half second, or faster if this is
# shorter. Otherwise each update is a new line, so a log file gets one line
# per interval.
PROGRESS_INTERVAL = 30.0
