"""Cover images of the synthetic corpus: a palette per primary class, a motif, jitter and noise.

:func:`render_cover` draws one cover from a palette (hue by primary class, light and deep
backgrounds alternating so neighbouring hues stay apart) and one of :data:`MOTIFS`, jittered in
colour, position, size and rotation, with coarse noise. Which palette and motif a video gets is
the generator's business (:mod:`topic_learning.data.synthetic`).
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from topic_learning.data.taxonomy import TAXONOMY

MOTIFS = ("circles", "stripes", "triangles", "rings", "grid", "cross", "diamonds", "waves")
"""Cover motifs; siblings of one primary class never share one (a primary has at most 6)."""
_ROUND_MOTIFS = frozenset({"circles", "rings"})


def render_cover(
    primary: int, motif: int, *, size: int, rng: np.random.Generator, contrast: float = 1.0
) -> Image.Image:
    """Draw one cover: the palette of primary class ``primary`` and motif ``MOTIFS[motif]``.

    Parameters
    ----------
    primary
        Index into :data:`TAXONOMY`'s primary classes; picks the palette.
    motif
        Index into :data:`MOTIFS`.
    size
        Width and height in pixels.
    rng
        Source of the jitter: colours, positions, sizes, rotation and noise.
    contrast
        1 draws the motif in full colour; smaller values blend it into the background.

    Returns
    -------
    PIL.Image.Image
        An RGB image.
    """
    background, ink, accent = _palette(primary, rng)
    ink = _blend(background, ink, contrast)
    accent = _blend(background, accent, contrast)
    # draw on a canvas large enough that rotating it leaves no empty corner in the visible square
    frame = _Frame(size)
    image = Image.new("RGB", (frame.canvas, frame.canvas), background)
    _MOTIF_PAINTERS[MOTIFS[motif]](ImageDraw.Draw(image), frame, rng, ink, accent)
    if MOTIFS[motif] not in _ROUND_MOTIFS:  # rotating a circle costs time and changes nothing
        image = image.rotate(float(rng.uniform(-40, 40)), resample=Image.Resampling.BILINEAR)
    image = image.crop((frame.origin, frame.origin, frame.origin + size, frame.origin + size))
    # coarse noise: texture that PNG still compresses well (per-pixel noise would not)
    blocks = max(size // 8, 1)
    noise = np.rint(rng.normal(0.0, 7.0, (blocks, blocks, 3))).astype(np.int16)
    index = np.arange(size) * blocks // size
    pixels = np.asarray(image, dtype=np.int16) + noise[index][:, index]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


Color = tuple[int, int, int]


class _Frame:
    """The visible square, ``size`` wide at ``origin``, inside a larger square canvas."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.canvas = math.ceil(size * math.sqrt(2)) + 2
        self.origin = (self.canvas - size) // 2

    def at(self, u: float | np.ndarray) -> float | np.ndarray:
        """Canvas coordinate of the point a share ``u`` across the visible square."""
        return self.origin + u * self.size


def _palette(primary: int, rng: np.random.Generator) -> tuple[Color, Color, Color]:
    """Background, ink and accent colours: hue by primary class, jittered per cover."""
    hue = primary / len(TAXONOMY) + rng.normal(0.0, 0.012)
    # alternate light and deep backgrounds so that neighbouring hues stay apart
    value = (0.92 if primary % 2 == 0 else 0.68) + rng.normal(0.0, 0.03)
    saturation = (0.45 if primary % 2 == 0 else 0.75) + rng.normal(0.0, 0.04)
    background = _hsv(hue, saturation, value)
    ink = _hsv(hue + 0.5 + rng.normal(0.0, 0.03), 0.8, 0.35 + rng.normal(0.0, 0.05))
    accent = _hsv(hue + 0.12 + rng.normal(0.0, 0.03), 0.9, 0.95)
    return background, ink, accent


def _hsv(hue: float, saturation: float, value: float) -> Color:
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, min(max(saturation, 0.0), 1.0), min(max(value, 0.0), 1.0))
    return round(r * 255), round(g * 255), round(b * 255)


def _blend(background: Color, color: Color, weight: float) -> Color:
    r, g, b = (round(bg + (c - bg) * weight) for bg, c in zip(background, color, strict=True))
    return r, g, b


# Painters draw one motif. Objects (circles, polygons) stay inside the visible square;
# patterns (stripes, grid, waves) cover the whole canvas so that rotation cannot reveal an edge.
Painter = Callable[[ImageDraw.ImageDraw, _Frame, np.random.Generator, Color, Color], None]


def _paint_circles(
    draw: ImageDraw.ImageDraw, frame: _Frame, rng: np.random.Generator, ink: Color, accent: Color
) -> None:
    for _ in range(rng.integers(3, 8)):
        x, y = frame.at(rng.uniform(0.1, 0.9, 2))
        r = rng.uniform(0.06, 0.16) * frame.size
        draw.ellipse((x - r, y - r, x + r, y + r), fill=ink if rng.random() < 0.7 else accent)


def _paint_rings(
    draw: ImageDraw.ImageDraw, frame: _Frame, rng: np.random.Generator, ink: Color, accent: Color
) -> None:
    x, y = frame.at(rng.uniform(0.3, 0.7, 2))
    width = max(round(0.045 * frame.size), 1)
    for k in range(rng.integers(2, 5)):
        r = (0.12 + 0.1 * k) * frame.size
        draw.ellipse((x - r, y - r, x + r, y + r), outline=ink if k % 2 == 0 else accent, width=width)


def _paint_cross(
    draw: ImageDraw.ImageDraw, frame: _Frame, rng: np.random.Generator, ink: Color, accent: Color
) -> None:
    x, y = frame.at(rng.uniform(0.35, 0.65, 2))
    arm = rng.uniform(0.28, 0.42) * frame.size
    half = rng.uniform(0.07, 0.11) * frame.size
    draw.rectangle((x - arm, y - half, x + arm, y + half), fill=ink)
    draw.rectangle((x - half, y - arm, x + half, y + arm), fill=ink)
    draw.ellipse((x - half, y - half, x + half, y + half), fill=accent)


def _paint_triangles(
    draw: ImageDraw.ImageDraw, frame: _Frame, rng: np.random.Generator, ink: Color, accent: Color
) -> None:
    for _ in range(rng.integers(2, 5)):
        _polygon(draw, frame, rng, corners=3, radius=rng.uniform(0.12, 0.25), colors=(ink, accent))


def _paint_diamonds(
    draw: ImageDraw.ImageDraw, frame: _Frame, rng: np.random.Generator, ink: Color, accent: Color
) -> None:
    for _ in range(rng.integers(2, 6)):
        _polygon(draw, frame, rng, corners=4, radius=rng.uniform(0.08, 0.18), colors=(ink, accent))


def _polygon(
    draw: ImageDraw.ImageDraw,
    frame: _Frame,
    rng: np.random.Generator,
    *,
    corners: int,
    radius: float,
    colors: tuple[Color, Color],
) -> None:
    """A regular polygon at a random place and angle, ``radius`` a share of the frame."""
    x, y = frame.at(rng.uniform(0.2, 0.8, 2))
    angles = rng.uniform(0, 2 * math.pi) + 2 * math.pi * np.arange(corners) / corners
    points = np.stack([x + radius * frame.size * np.cos(angles), y + radius * frame.size * np.sin(angles)], 1)
    draw.polygon(
        [tuple(point) for point in points.tolist()], fill=colors[0] if rng.random() < 0.7 else colors[1]
    )


def _paint_stripes(
    draw: ImageDraw.ImageDraw, frame: _Frame, rng: np.random.Generator, ink: Color, accent: Color
) -> None:
    period = rng.uniform(0.16, 0.26) * frame.size
    width = period * rng.uniform(0.35, 0.55)
    for k, y in enumerate(np.arange(rng.uniform(-period, 0), frame.canvas, period)):
        draw.rectangle((0, y, frame.canvas, y + width), fill=ink if k % 3 else accent)


def _paint_grid(
    draw: ImageDraw.ImageDraw, frame: _Frame, rng: np.random.Generator, ink: Color, accent: Color
) -> None:
    period = rng.uniform(0.15, 0.24) * frame.size
    width = max(round(rng.uniform(0.025, 0.045) * frame.size), 1)
    for at in np.arange(rng.uniform(0, period), frame.canvas, period):
        draw.line((at, 0, at, frame.canvas), fill=ink, width=width)
        draw.line((0, at, frame.canvas, at), fill=ink, width=width)


def _paint_waves(
    draw: ImageDraw.ImageDraw, frame: _Frame, rng: np.random.Generator, ink: Color, accent: Color
) -> None:
    amplitude = rng.uniform(0.04, 0.08) * frame.size
    wavelength = rng.uniform(0.3, 0.5) * frame.size
    width = max(round(0.04 * frame.size), 1)
    phase = rng.uniform(0, 2 * math.pi)
    xs = np.linspace(0, frame.canvas, 64)
    gap = rng.uniform(0.18, 0.26) * frame.size
    for k, base in enumerate(np.arange(rng.uniform(0, gap), frame.canvas, gap)):
        ys = base + amplitude * np.sin(2 * math.pi * xs / wavelength + phase)
        draw.line(
            list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=ink if k % 2 == 0 else accent, width=width
        )


_MOTIF_PAINTERS: dict[str, Painter] = {
    "circles": _paint_circles,
    "stripes": _paint_stripes,
    "triangles": _paint_triangles,
    "rings": _paint_rings,
    "grid": _paint_grid,
    "cross": _paint_cross,
    "diamonds": _paint_diamonds,
    "waves": _paint_waves,
}
