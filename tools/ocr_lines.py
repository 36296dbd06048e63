"""Split a picture of text into one image per text line, for single-line readers such as TrOCR.

The page is binarised with Otsu's threshold, the ink is told from the paper by the colour
that covers most of the border (so dark-on-light and light-on-dark both work), and a
horizontal projection profile of the ink gives the bands of rows that hold text. Bands too
thin to be a line (the dots of an ``i``, an accent) are merged into their neighbour, each
band's left and right margins are trimmed, and the box is padded a little.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

MIN_CONTRAST = 24  # grey levels between ink and paper below which an image holds no text
ROW_INK_FRACTION = 0.002  # of the image width: fewer ink pixels than this in a row is noise
MIN_BAND_INK = 6  # pixels of ink below which a band is a speck, not text
THIN_BAND_RATIO = 0.4  # a band thinner than this share of the typical line height is merged
MERGE_GAP_RATIO = 0.6  # ... into a neighbour at most this many typical line heights away
PAD_RATIO = 0.2  # of the band height, added around each line box
MIN_PAD = 2  # pixels


@dataclass(frozen=True)
class LineBox:
    """One text line found on a page.

    Attributes:
        left, top, right, bottom: the padded box in pixels (right and bottom exclusive),
            as Pillow's ``Image.crop`` takes it.
        ink_top, ink_bottom: the rows where the line's ink starts and ends (bottom exclusive).
    """

    left: int
    top: int
    right: int
    bottom: int
    ink_top: int
    ink_bottom: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)`` for ``Image.crop``."""
        return self.left, self.top, self.right, self.bottom


def otsu_threshold(gray: np.ndarray) -> int:
    """The grey level that best splits ``gray`` (uint8 values) into two classes (Otsu, 1979).

    Pixels ``<= threshold`` form the dark class.
    """
    histogram = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    total = histogram.sum()
    if total == 0:
        return 127
    levels = np.arange(256, dtype=np.float64)
    weight_dark = np.cumsum(histogram)
    weight_light = total - weight_dark
    sum_dark = np.cumsum(histogram * levels)
    mean_dark = np.divide(sum_dark, weight_dark, out=np.zeros(256), where=weight_dark > 0)
    mean_light = np.divide(sum_dark[-1] - sum_dark, weight_light, out=np.zeros(256), where=weight_light > 0)
    between = weight_dark * weight_light * (mean_dark - mean_light) ** 2
    return int(np.argmax(between))


def ink_mask(image: Image.Image) -> tuple[np.ndarray, bool]:
    """Which pixels are ink, and whether the text is light on a dark background.

    Returns:
        ``(mask, light_on_dark)``: a boolean array of the image's shape (all False when
        the image is too flat to hold text), and the polarity found.
    """
    gray = np.asarray(image.convert("L"), dtype=np.uint8)
    if gray.size == 0 or int(gray.max()) - int(gray.min()) < MIN_CONTRAST:
        return np.zeros(gray.shape, dtype=bool), False
    dark = gray <= otsu_threshold(gray)
    border = np.concatenate([dark[0], dark[-1], dark[:, 0], dark[:, -1]])
    light_on_dark = bool(border.mean() > 0.5)  # the paper is what most of the border shows
    return (~dark if light_on_dark else dark), light_on_dark


def _row_bands(rows_with_ink: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True in a 1-D array as ``(start, stop)`` pairs."""
    padded = np.concatenate([[False], rows_with_ink, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def _merge_thin_bands(bands: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge bands much thinner than a typical line into their nearest neighbour."""
    bands = list(bands)
    while len(bands) > 1:
        typical = float(np.median([b - a for a, b in bands]))
        heights = [b - a for a, b in bands]
        thinnest = int(np.argmin(heights))
        if heights[thinnest] >= THIN_BAND_RATIO * typical:
            break
        gaps = []
        if thinnest > 0:
            gaps.append((bands[thinnest][0] - bands[thinnest - 1][1], thinnest - 1))
        if thinnest < len(bands) - 1:
            gaps.append((bands[thinnest + 1][0] - bands[thinnest][1], thinnest + 1))
        gap, neighbour = min(gaps)
        if gap > MERGE_GAP_RATIO * typical:
            break  # a lone small line (a footnote, a rule), not part of another line
        first, second = sorted((thinnest, neighbour))
        bands[first : second + 1] = [(bands[first][0], bands[second][1])]
    return bands


def find_text_lines(image: Image.Image) -> list[LineBox]:
    """Find the text lines of a page, top to bottom.

    Args:
        image: the page (any mode).

    Returns:
        One box per line, in reading order from the top; empty when no text is seen.
    """
    mask, _ = ink_mask(image)
    return _lines_in(mask)


def crop_text_lines(image: Image.Image) -> list[Image.Image]:
    """One RGB image per text line, top to bottom, always dark text on a light background.

    Line readers are trained on dark-on-light text, so light-on-dark lines are inverted.
    """
    rgb = image.convert("RGB")
    mask, light_on_dark = ink_mask(rgb)
    crops = [rgb.crop(line.box) for line in _lines_in(mask)]
    return [ImageOps.invert(crop) for crop in crops] if light_on_dark else crops


def _lines_in(mask: np.ndarray) -> list[LineBox]:
    if not mask.any():
        return []
    height, width = mask.shape
    row_ink = mask.sum(axis=1)
    min_row_ink = max(1, int(np.ceil(ROW_INK_FRACTION * width)))
    bands = [(a, b) for a, b in _row_bands(row_ink >= min_row_ink) if row_ink[a:b].sum() >= MIN_BAND_INK]
    lines = []
    for top, bottom in _merge_thin_bands(bands):
        columns = np.flatnonzero(mask[top:bottom].any(axis=0))
        if columns.size == 0:
            continue
        pad = max(MIN_PAD, round(PAD_RATIO * (bottom - top)))
        lines.append(LineBox(
            left=max(0, int(columns[0]) - pad),
            top=max(0, top - pad),
            right=min(width, int(columns[-1]) + 1 + pad),
            bottom=min(height, bottom + pad),
            ink_top=top,
            ink_bottom=bottom,
        ))
    return lines
