"""Turning image bytes or pixels into the model's input: decode, resize, normalise to [-1, 1].

One place for it, so the bottleneck cache, fine-tuning, evaluation and `label_image` all feed the model
exactly what an exported model expects: float32 RGB [size, size, 3], (pixel - 127.5) / 127.5
(retrain/families/architectures.py). The resize is TensorFlow's bilinear one (retrain.py's choice), without
antialiasing, which is also what a phone's bilinear bitmap scaling does.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

# Every model's input contract: pixel in [0, 255] -> (pixel - INPUT_MEAN) / INPUT_STD in [-1, 1].
INPUT_MEAN = 127.5
INPUT_STD = 127.5

# Part of the bottleneck cache key: bump when decoding/resizing/normalisation below changes, so
# features computed the old way are never reused.
PREPROCESSING_VERSION = 2  # 2: transparent PNG/GIF pixels composited on white


def pixels_to_input(pixels, size: int):
    """uint8 (or float in [0, 255]) RGB [h, w, 3] or [b, h, w, 3] tensor -> float32 model input.

    Args:
      pixels: tf tensor or numpy array of RGB pixels.
      size: the module's input side.

    Returns:
      float32 tensor [..., size, size, 3] in [-1, 1].
    """
    from common.tfcompat import tf
    pixels = tf.cast(pixels, tf.float32)
    resized = tf.image.resize(pixels, [size, size], method="bilinear")
    # Bilinear resizing of [0, 255] values stays in [0, 255]; clip anyway so rounding can't leave [-1, 1].
    resized = tf.clip_by_value(resized, 0.0, 255.0)
    return (resized - INPUT_MEAN) / INPUT_STD


def decode_and_resize(image_bytes, size: int):
    """Encoded JPEG/PNG/BMP/GIF bytes (scalar string tensor) -> float32 [size, size, 3] in [-1, 1].

    Grayscale images become RGB; transparent pixels (PNG/GIF alpha) are composited on white, because a
    doodle saved from a drawing canvas is often black strokes on a transparent background, and dropping
    alpha would make it black on black. (BMP alpha is ignored: 32-bit BMPs usually leave it 0.) An
    animated GIF gives its first frame. Usable inside tf.data / tf.function. A corrupt image raises
    tf.errors.InvalidArgumentError when run.
    """
    return pixels_to_input(decode_rgb_on_white(image_bytes), size)


def decode_rgb_on_white(image_bytes):
    """Encoded JPEG/PNG/BMP/GIF bytes (scalar string tensor) -> float32 RGB [h, w, 3] in [0, 255],
    alpha composited on white as `decode_and_resize` describes (the native nets' image stream shares it)."""
    from common.tfcompat import tf
    pixels = tf.io.decode_image(image_bytes, channels=0, expand_animations=False, dtype=tf.uint8)
    is_bmp = tf.equal(tf.strings.substr(image_bytes, 0, 2), "BM")
    rgb = _rgb_on_white(tf.cast(pixels, tf.float32), is_bmp)
    rgb.set_shape([None, None, 3])
    return rgb


def _rgb_on_white(pixels, ignore_alpha):
    """[h, w, 1|2|3|4] float pixels -> [h, w, 3] RGB, any alpha composited on white (unless ignored)."""
    from common.tfcompat import tf

    def on_white(rgb, alpha):
        opacity = alpha / 255.0
        return tf.where(ignore_alpha, rgb, rgb * opacity + 255.0 * (1.0 - opacity))

    return tf.switch_case(tf.shape(pixels)[-1] - 1, [
        lambda: tf.image.grayscale_to_rgb(pixels[..., :1]),
        lambda: on_white(tf.image.grayscale_to_rgb(pixels[..., :1]), pixels[..., 1:2]),
        lambda: pixels[..., :3],
        lambda: on_white(pixels[..., :3], pixels[..., 3:4]),
    ])


def load_image_file(path: str, size: int):
    """Reads one image file into the model's input.

    Args:
      path: a JPEG/PNG/BMP/GIF file.
      size: the module's input side.

    Returns:
      numpy float32 [size, size, 3] in [-1, 1].

    Raises:
      OSError: the file cannot be read.
      ValueError: the file is not a decodable JPEG/PNG/BMP/GIF image, or has more pixels than
        `retrain.data.dataset.max_image_pixels()` (read from its header, before decoding).
    """
    from retrain.data.dataset import image_size_problem
    from common.tfcompat import tf
    too_large = image_size_problem(path)
    if too_large:
        raise ValueError(f"{path} is {too_large}")
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        return decode_and_resize(tf.constant(data), size).numpy()
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as error:
        first_line = (error.message or str(error)).strip().splitlines()[0]
        raise ValueError(f"{path} is not a decodable JPEG/PNG/BMP/GIF image ({first_line})") from None


def load_record_image(record, size: int) -> np.ndarray:
    """One dataset record (image file or QuickDraw row) as model input, numpy float32 [size, size, 3].

    Raises:
      OSError / ValueError: the image cannot be read or decoded.
    """
    if record.row is None:
        if record.rendering:
            return pixels_to_input(augmented_file_pixels(record), size).numpy()
        return load_image_file(record.source, size)
    from retrain.data import quickdraw_source
    drawing = quickdraw_source.read_drawings(record.source, [record.row])[record.row]
    return pixels_to_input(quickdraw_source.render(drawing, record.rendering, record.augment_seed),
                           size).numpy()


def augmented_file_pixels(record) -> np.ndarray:
    """A random rendering (convert/drawing_augment.py) of a drawing image file: uint8 RGB [h, w, 3].

    Seeded by (the run's seed, the file's bytes, the rendering index), like QuickDraw rows.

    Raises:
      OSError / ValueError: the file cannot be read or decoded.
    """
    import io

    from PIL import Image

    from convert import drawing_augment
    with open(record.source, "rb") as handle:
        data = handle.read()
    image = Image.open(io.BytesIO(data))
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        paper = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, image)
    gray = np.asarray(image.convert("L"), dtype=np.uint8)
    rng = drawing_augment.rng_for(record.augment_seed, b"file:" + data, record.rendering)
    return np.repeat(drawing_augment.augment_bitmap(gray, rng)[:, :, None], 3, axis=2)


def render_drawings(records: Sequence) -> np.ndarray:
    """QuickDraw records as uint8 RGB pixels [n, h, w, 3], reading each source file once (an .ndjson
    file is scanned whole per read, so row-by-row reads would scan it once per drawing).

    Raises:
      DatasetError: a file can no longer be read (it changed since the scan).
    """
    from retrain.data import quickdraw_source
    from common.errors import DatasetError
    by_source: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        by_source.setdefault(record.source, []).append(i)
    pixels = [None] * len(records)
    for source, indices in by_source.items():
        try:
            read = quickdraw_source.read_drawings(source, [records[i].row for i in indices])
            for i in indices:
                pixels[i] = quickdraw_source.render(read[records[i].row], records[i].rendering,
                                                    records[i].augment_seed)
        except Exception as error:
            raise DatasetError(f"Cannot read drawings from {source} any more ({type(error).__name__}: "
                               f"{error}); did it change during the run? Rerun the same command.") from None
    return np.stack(pixels).astype(np.uint8)


def load_record_images(records: Sequence, size: int) -> list[np.ndarray]:
    """Several records as model inputs (see `load_record_image`), QuickDraw files read once each."""
    drawings = [r for r in records if r.row is not None]
    rendered = iter(pixels_to_input(render_drawings(drawings), size).numpy()) if drawings else iter(())
    return [next(rendered) if r.row is not None else load_image_file(r.source, size) for r in records]


def record_images_dataset(records: Sequence, size: int, deterministic: bool = False):
    """A tf.data.Dataset of (index into `records`, float32 [size, size, 3] image) for any records.

    Image files are read and decoded in parallel; QuickDraw rows are read per source file and rendered
    (retrain/data/quickdraw_source.py). Images that cannot be read or decoded are *dropped* (never an error):
    the caller sees which indices are missing and can report them.

    Args:
      records: ImageRecords (files, QuickDraw rows, or both).
      size: the module's input side.
      deterministic: keep the records' order (slower); otherwise elements come as soon as ready.

    Returns:
      An unbatched dataset of (int64 index, image).
    """
    from retrain.data import quickdraw_source
    from common.tfcompat import tf
    autotune = tf.data.AUTOTUNE
    files = [i for i, r in enumerate(records) if r.row is None and not r.rendering]
    drawings = [i for i, r in enumerate(records) if r.row is not None]
    augmented_files = [i for i, r in enumerate(records) if r.row is None and r.rendering]
    parts = []
    if files:
        ds = tf.data.Dataset.from_tensor_slices(
            (np.array(files, np.int64), [records[i].source for i in files]))
        ds = ds.map(lambda i, path: (i, decode_and_resize(tf.io.read_file(path), size)),
                    num_parallel_calls=autotune, deterministic=deterministic)
        parts.append(ds.ignore_errors())
    if drawings:
        def generate():
            by_source: dict[str, list[int]] = {}
            for i in drawings:
                by_source.setdefault(records[i].source, []).append(i)
            for source, indices in by_source.items():
                try:
                    read = quickdraw_source.read_drawings(source, [records[i].row for i in indices])
                except Exception:  # an unreadable file: its images are dropped, the caller reports them
                    continue
                for i in indices:
                    try:
                        yield i, quickdraw_source.render(read[records[i].row], records[i].rendering,
                                                         records[i].augment_seed)
                    except Exception:  # one bad drawing is dropped, not fatal
                        continue
        ds = tf.data.Dataset.from_generator(generate, output_signature=(
            tf.TensorSpec([], tf.int64), tf.TensorSpec([None, None, 3], tf.uint8)))
        ds = ds.map(lambda i, pixels: (i, pixels_to_input(pixels, size)),
                    num_parallel_calls=autotune, deterministic=deterministic)
        parts.append(ds)
    if augmented_files:
        def generate_augmented():
            for i in augmented_files:
                try:
                    yield i, augmented_file_pixels(records[i])
                except Exception:  # an unreadable file is dropped; the caller reports it
                    continue
        ds = tf.data.Dataset.from_generator(generate_augmented, output_signature=(
            tf.TensorSpec([], tf.int64), tf.TensorSpec([None, None, 3], tf.uint8)))
        parts.append(ds.map(lambda i, pixels: (i, pixels_to_input(pixels, size)),
                            num_parallel_calls=autotune, deterministic=deterministic))
    if not parts:
        return tf.data.Dataset.from_tensor_slices(
            (np.zeros([0], np.int64), np.zeros([0, size, size, 3], np.float32)))
    combined = parts[0]
    for part in parts[1:]:
        combined = combined.concatenate(part)
    return combined
