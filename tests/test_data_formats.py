"""Image formats, colour handling, orientation and sizes in the data loader."""


import cv2
import numpy as np
import pytest
from conftest import ORL_FACES, YALE_FACES
from image_files import colour_pattern, jpeg_with_orientation, palette_png, record_calls, write_image

import data

SIZE = 16


def expected_pixels(gray, size=SIZE):
    """Crop the centred square and resize it the way the loader documents, computed here independently."""
    height, width = gray.shape
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = gray[top:top + side, left:left + side]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(square, (size, size), interpolation=interpolation).reshape(-1)


def load_one(folder, size=SIZE):
    images, summary = data.read_dataset(str(folder), size)
    assert summary.skipped == {}, summary.describe_skips()
    assert images.shape == (1, size * size)
    assert images.dtype == np.uint8
    return images[0]


@pytest.mark.parametrize("extension", [".png", ".bmp", ".ppm", ".tif", ".webp"])
def test_lossless_colour_matches_bt601_gray(tmp_path, extension):
    source = colour_pattern(40, 56)
    params = [cv2.IMWRITE_WEBP_QUALITY, 101] if extension == ".webp" else []
    write_image(tmp_path / f"face{extension}", source, params=params)

    pixels = load_one(tmp_path)

    expected = expected_pixels(cv2.cvtColor(source, cv2.COLOR_BGR2GRAY))
    assert np.array_equal(pixels, expected)


@pytest.mark.parametrize("extension", [".pgm", ".png", ".bmp", ".tif"])
def test_grayscale_files_read_exactly(tmp_path, extension):
    source = cv2.cvtColor(colour_pattern(30, 20, seed=1), cv2.COLOR_BGR2GRAY)
    write_image(tmp_path / f"face{extension}", source)

    assert np.array_equal(load_one(tmp_path), expected_pixels(source))


def test_pbm_bilevel(tmp_path):
    source = np.zeros((20, 20), np.uint8)
    source[:, 10:] = 255
    write_image(tmp_path / "face.pbm", source)

    pixels = load_one(tmp_path).reshape(SIZE, SIZE)

    assert pixels[:, 0].max() == 0
    assert pixels[:, -1].min() == 255


def test_png_16_bit_scaled_to_8_bit(tmp_path):
    source = cv2.cvtColor(colour_pattern(32, 32, seed=2), cv2.COLOR_BGR2GRAY)
    write_image(tmp_path / "deep.png", source.astype(np.uint16) * 257)

    assert np.array_equal(load_one(tmp_path), expected_pixels(source))


@pytest.mark.parametrize("extension", [".png", ".webp", ".tif"])
def test_alpha_composited_on_white(tmp_path, extension):
    source = np.full((SIZE, SIZE, 4), 60, np.uint8)
    source[:, :, 3] = 255
    source[:, SIZE // 2:, 3] = 0  # right half fully transparent
    source[0, 0, 3] = 128  # one half-transparent pixel
    write_image(tmp_path / f"alpha{extension}", source, params=[cv2.IMWRITE_WEBP_QUALITY, 101])

    pixels = load_one(tmp_path).reshape(SIZE, SIZE)

    assert pixels[1:, :SIZE // 2].min() == 60
    assert pixels[1:, :SIZE // 2].max() == 60
    assert pixels[:, SIZE // 2:].min() == 255
    assert pixels[0, 0] == round(60 * 128 / 255 + 255 * (1 - 128 / 255))


def test_gif_transparency_composited_on_white(tmp_path):
    if not (cv2.haveImageWriter("x.gif") and data.gif_decoder_available()):
        pytest.skip(f"OpenCV {cv2.__version__} cannot write and read GIF; "
                    "test_gif_first_frame_or_unsupported checks the skip reason")
    source = np.zeros((SIZE, SIZE, 4), np.uint8)  # black: a colour every GIF palette has
    source[:, :, 3] = 255
    source[:, SIZE // 2:, 3] = 0
    write_image(tmp_path / "alpha.gif", source)

    pixels = load_one(tmp_path).reshape(SIZE, SIZE)

    assert pixels[:, :SIZE // 2].max() == 0
    assert pixels[:, SIZE // 2:].min() == 255


def test_palette_png_with_transparency(tmp_path):
    indices = np.zeros((SIZE, SIZE), np.uint8)
    indices[:, 4:8] = 1
    indices[:, 8:] = 2
    palette = [(0, 0, 0), (255, 0, 0), (0, 0, 255)]  # RGB: black, red, blue
    (tmp_path / "palette.png").write_bytes(palette_png(indices, palette, transparency=[0, 255, 255]))

    pixels = load_one(tmp_path).reshape(SIZE, SIZE)

    red = cv2.cvtColor(np.array([[[0, 0, 255]]], np.uint8), cv2.COLOR_BGR2GRAY)[0, 0]
    blue = cv2.cvtColor(np.array([[[255, 0, 0]]], np.uint8), cv2.COLOR_BGR2GRAY)[0, 0]
    assert set(pixels[:, :4].ravel()) == {255}  # palette entry 0 is transparent
    assert set(pixels[:, 4:8].ravel()) == {red}
    assert set(pixels[:, 8:].ravel()) == {blue}


@pytest.mark.parametrize("params", [[], [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]], ids=["baseline", "progressive"])
def test_jpeg_close_to_source(tmp_path, params):
    source = colour_pattern(48, 64, seed=3)
    write_image(tmp_path / "face.jpg", source, params=[cv2.IMWRITE_JPEG_QUALITY, 95, *params])

    pixels = load_one(tmp_path).astype(int)

    expected = expected_pixels(cv2.cvtColor(source, cv2.COLOR_BGR2GRAY)).astype(int)
    assert np.abs(pixels - expected).mean() < 2


def test_jpeg_cmyk(tmp_path):
    image_module = pytest.importorskip("PIL.Image", reason="Pillow (requirements-dev.txt) writes CMYK JPEG")
    picture = image_module.new("CMYK", (32, 16), (0, 0, 0, 0))  # no ink: white
    picture.paste((0, 0, 0, 255), (0, 0, 16, 16))  # full black ink on the left half
    picture.save(tmp_path / "cmyk.jpg", quality=95)

    pixels = load_one(tmp_path).reshape(SIZE, SIZE)  # centre crop: columns 8 to 23

    assert pixels[:, :6].max() < 20
    assert pixels[:, -6:].min() > 235


def test_bmp_fourth_byte_ignored(tmp_path):
    source = np.full((SIZE, SIZE, 4), 90, np.uint8)
    source[:, :, 3] = 0  # unused padding in most 32-bit BMP files, not transparency
    write_image(tmp_path / "padded.bmp", source)

    pixels = load_one(tmp_path)

    assert pixels.min() == 90
    assert pixels.max() == 90


@pytest.mark.parametrize("orientation, bright_side", [(1, "left"), (3, "right"), (6, "top"), (8, "bottom")])
def test_jpeg_exif_orientation_applied(tmp_path, orientation, bright_side):
    source = np.zeros((SIZE, SIZE, 3), np.uint8)
    source[:, :4] = 255  # bright strip on the left as stored
    (tmp_path / "rotated.jpg").write_bytes(jpeg_with_orientation(source, orientation))

    pixels = load_one(tmp_path).reshape(SIZE, SIZE)

    # Each side's edge without the corners, which belong to two sides.
    sides = {"left": pixels[5:-5, :3], "right": pixels[5:-5, -3:],
             "top": pixels[:3, 5:-5], "bottom": pixels[-3:, 5:-5]}
    for side, strip in sides.items():
        if side == bright_side:
            assert strip.mean() > 200, side
        else:
            assert strip.mean() < 60, side


def test_gif_first_frame_or_unsupported(tmp_path):
    if not hasattr(cv2, "imencodeanimation"):
        pytest.skip(f"OpenCV {cv2.__version__} cannot write an animated GIF; the Yale test reads real GIFs")
    animation = cv2.Animation()
    animation.frames = [np.full((24, 24, 3), 255, np.uint8), np.zeros((24, 24, 3), np.uint8)]
    animation.durations = [100, 100]
    ok, encoded = cv2.imencodeanimation(".gif", animation)
    assert ok
    (tmp_path / "animated.gif").write_bytes(encoded.tobytes())

    if not data.gif_decoder_available():
        with pytest.raises(data.NoImagesError, match="1 format not supported"):
            data.read_dataset(str(tmp_path), SIZE)
        return

    pixels = load_one(tmp_path)
    assert pixels.min() > 200  # the white first frame (palette-quantised), not the black second one


def test_files_without_extension_read_by_content(tmp_path):
    source = cv2.cvtColor(colour_pattern(20, 20, seed=4), cv2.COLOR_BGR2GRAY)
    for extension in (".png", ".bmp", ".pgm", ".tif", ".jpg"):
        ok, encoded = cv2.imencode(extension, source)
        (tmp_path / f"subject01{extension.replace('.', '_')}.happy").write_bytes(encoded.tobytes())

    images, summary = data.read_dataset(str(tmp_path), SIZE)

    assert len(images) == 5
    assert summary.skipped == {}


def test_wrong_extension_read_by_content(tmp_path):
    source = cv2.cvtColor(colour_pattern(20, 20, seed=5), cv2.COLOR_BGR2GRAY)
    write_image(tmp_path / "really_a_png.jpg", source, extension=".png")

    assert np.array_equal(load_one(tmp_path), expected_pixels(source))


def test_large_jpeg_decoded_reduced(tmp_path, monkeypatch):
    source = colour_pattern(3000, 4000, seed=6)
    write_image(tmp_path / "large.jpg", source, params=[cv2.IMWRITE_JPEG_QUALITY, 90])
    calls = record_calls(monkeypatch, cv2, "imdecode")

    pixels = load_one(tmp_path, size=64)

    # 3000 // 8 = 375 >= 2 * 64, so the JPEG decoder scales by 1/8 itself.
    assert [flags for _, flags in calls] == [cv2.IMREAD_REDUCED_COLOR_8]
    expected = expected_pixels(cv2.cvtColor(source, cv2.COLOR_BGR2GRAY), size=64)
    assert np.abs(pixels.astype(int) - expected).mean() < 2


def test_large_rotated_jpeg_reduced_and_oriented(tmp_path, monkeypatch):
    source = np.zeros((1200, 1600, 3), np.uint8)
    source[:, :300] = 255  # bright strip on the left as stored
    (tmp_path / "rotated.jpg").write_bytes(jpeg_with_orientation(source, 6))  # 6: turn 90 degrees clockwise
    calls = record_calls(monkeypatch, cv2, "imdecode")

    pixels = load_one(tmp_path).reshape(SIZE, SIZE)

    assert [flags for _, flags in calls] == [cv2.IMREAD_REDUCED_COLOR_8]
    assert pixels[0].min() > 200  # the strip is now on top (100 of the 1200 cropped rows)
    assert pixels[-2:].mean() < 60


def test_reduction_factor_keeps_twice_the_size():
    assert data.reduction_factor(9000, 64) == 8
    assert data.reduction_factor(300, 64) == 2
    assert data.reduction_factor(255, 64) == 1
    assert data.reduction_factor(1024, 64) == 8
    assert data.reduction_factor(1023, 64) == 4


def test_small_images_enlarged_or_skipped(tmp_path):
    write_image(tmp_path / "enlarged.png", np.full((12, 20), 90, np.uint8))  # shorter side 12: used
    write_image(tmp_path / "tiny.png", np.full((7, 30), 90, np.uint8))  # 7 < 16 / 2: skipped
    write_image(tmp_path / "fits.png", np.full((16, 16), 90, np.uint8))

    images, summary = data.read_dataset(str(tmp_path), SIZE)

    assert len(images) == 2
    assert summary.enlarged["count"] == 1
    assert summary.enlarged["names"] == ["enlarged.png"]
    assert summary.enlarged["smallest_side"] == 12
    assert summary.skipped == {data.TOO_SMALL: {"count": 1, "names": ["tiny.png"]}}


def test_non_ascii_and_space_paths(tmp_path):
    folder = tmp_path / "visages données" / "sous dossier ü"
    folder.mkdir(parents=True)
    source = cv2.cvtColor(colour_pattern(20, 20, seed=7), cv2.COLOR_BGR2GRAY)
    write_image(folder / "photo é 1.png", source)
    write_image(folder / "照片 2.jpg", source)

    images, summary = data.read_dataset(str(tmp_path / "visages données"), SIZE)

    assert len(images) == 2
    assert summary.skipped == {}
    assert np.array_equal(images[0], expected_pixels(source))


def test_orl_faces_all_read():
    images, summary = data.read_dataset(ORL_FACES, 32)

    assert images.shape == (400, 32 * 32)
    assert summary.enlarged["count"] == 0
    assert set(summary.skipped) <= {data.NOT_AN_IMAGE}  # the set's README
    assert 20 < images.mean() < 235


def test_yale_gifs_without_extension():
    if not data.gif_decoder_available():
        with pytest.raises(data.NoImagesError, match="164 format not supported"):
            data.read_dataset(YALE_FACES, 32)
        return

    images, summary = data.read_dataset(YALE_FACES, 32)

    assert images.shape == (164, 32 * 32)
    assert summary.skipped == {}
    assert 20 < images.mean() < 235
