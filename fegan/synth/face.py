"""Frame rendering: a drawn face whose identity, expression and mouth we control.

The face is drawn with PIL on a small RGBA patch around the head (cheap), softened
with a blur so it has the smooth gradients dlib's HOG detector was trained on,
rotated for head roll, lit, and composited over the clip's background. Shapes are
in units of ``s``, half the face height in pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from .identity import Actor, Expression


@dataclass
class ClipLook:
    """What stays fixed over one clip: framing, lighting, background."""
    background: Image.Image  # RGB, the full frame
    cx: float
    cy: float
    s: float                 # half face height in px
    roll: float              # base head roll in degrees
    gain: float              # global light level
    side_light: float        # left/right light imbalance, -1..1


@dataclass
class FrameState:
    """What changes from frame to frame."""
    mouth_open: float = 0.0  # 0..1 from the voice's articulation
    blink: float = 0.0       # 0 open .. 1 closed
    dx: float = 0.0
    dy: float = 0.0
    droll: float = 0.0
    dscale: float = 1.0


def make_look(rng: np.random.Generator, width: int, height: int) -> ClipLook:
    # A plain studio wall with a soft vertical gradient and a shirt, colours per clip so
    # that they carry no identity.
    top = rng.uniform(150, 235, 3)
    bottom = top * rng.uniform(0.75, 0.95)
    ramp = np.linspace(0, 1, height)[:, None, None]
    bg = (top * (1 - ramp) + bottom * ramp) * np.ones((1, width, 1))
    img = Image.fromarray(bg.clip(0, 255).astype(np.uint8))
    s = float(rng.uniform(130, 165)) * height / 720
    cx = width / 2 + float(rng.uniform(-0.05, 0.05)) * width
    cy = height / 2 + float(rng.uniform(-0.04, 0.06)) * height
    shirt = tuple(int(v) for v in rng.integers(20, 200, 3))
    ImageDraw.Draw(img).ellipse([cx - 3.2 * s, cy + 1.45 * s, cx + 3.2 * s, cy + 4.5 * s], fill=shirt)
    return ClipLook(background=img, cx=cx, cy=cy, s=s, roll=float(rng.uniform(-4, 4)),
                    gain=float(rng.uniform(0.9, 1.12)), side_light=float(rng.uniform(-0.25, 0.25)))


def _shade(c, k: float) -> tuple:
    return tuple(int(np.clip(v * k, 0, 255)) for v in c)


def _curve(x0, x1, y_ends, y_mid, n=12):
    """Points of a parabola through (x0, y_ends), (mid, y_mid), (x1, y_ends)."""
    x = np.linspace(x0, x1, n)
    u = (x - (x0 + x1) / 2) / ((x1 - x0) / 2)
    y = y_mid + (y_ends - y_mid) * u * u
    return list(zip(x.tolist(), y.tolist()))


def _line_colour(actor: Actor) -> tuple:
    return _shade(actor.skin, 1 - 0.4 * actor.lines)


def _line_width(actor: Actor, s: float) -> int:
    return max(1, int(round((0.012 + 0.014 * actor.lines) * s)))


def _curve_between(a, b, bulge: float, n: int = 8) -> list:
    """Points from ``a`` to ``b`` bowed sideways by ``bulge`` px at the middle."""
    t = np.linspace(0, 1, n)
    x = a[0] + (b[0] - a[0]) * t + bulge * 4 * t * (1 - t)
    y = a[1] + (b[1] - a[1]) * t
    return list(zip(x.tolist(), y.tolist()))


def _forehead_lines(d: ImageDraw.ImageDraw, actor: Actor, cx: float, ey: float, fw: float, s: float) -> None:
    """One to three arcs above the brows, more and darker with ``actor.lines``."""
    for k in range(1 + int(2.99 * actor.lines)):
        y = ey - (0.36 + 0.065 * k) * s
        d.line(_curve(cx - 0.42 * fw, cx + 0.42 * fw, y + 0.015 * s, y - 0.015 * s),
               fill=_line_colour(actor), width=_line_width(actor, s))


def _eye_lines(d: ImageDraw.ImageDraw, actor: Actor, ex: float, ey: float, ew: float, eh: float,
               sx: int, s: float) -> None:
    """Crow's feet fanning from the outer corner, and a bag under the eye."""
    col, w = _line_colour(actor), _line_width(actor, s)
    x0 = ex + sx * 1.4 * ew
    for dy in (-0.05, 0.0, 0.05):
        d.line([(x0, ey + 0.4 * dy * s), (x0 + sx * 0.09 * s, ey + dy * s)], fill=col, width=w)
    d.line(_curve(ex - ew, ex + ew, ey + 0.09 * s, ey + 0.14 * s), fill=col, width=w)


def _stubble(d: ImageDraw.ImageDraw, actor: Actor, cx: float, cy: float, chin: float, fh: float,
             s: float) -> None:
    """A beard shadow over chin, jaw and upper lip: skin tinted towards a darker hair colour
    (grey with the hair), never lighter than the skin (a light patch on a dark face hides it
    from dlib's detector)."""
    k = 0.45 * actor.stubble
    col = tuple(int(round(min(a, (1 - k) * a * 0.95 + k * 0.7 * b))) for a, b in zip(actor.skin, actor.hair))
    d.ellipse([cx - 0.8 * chin, cy + 0.2 * fh, cx + 0.8 * chin, cy + fh - 0.08 * s], fill=col)
    d.ellipse([cx - 0.32 * s, cy + 0.3 * s, cx + 0.32 * s, cy + 0.5 * s], fill=col)


def draw_face(actor: Actor, expr: Expression, state: FrameState, s: float) -> Image.Image:
    """The head on a transparent square patch of side ``3.2 s``, centred on the face."""
    P = int(3.2 * s)
    img = Image.new("RGBA", (P, P), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    cx = cy = P / 2
    fw = s * actor.face_w
    fh = s * actor.face_h
    skin, hair = actor.skin, actor.hair

    # neck, long hair behind, ears
    d.rectangle([cx - 0.42 * fw, cy + 0.5 * fh, cx + 0.42 * fw, P], fill=_shade(skin, 0.82))
    if actor.hair_style == 1:
        d.rounded_rectangle([cx - 1.22 * fw, cy - 1.12 * fh, cx + 1.22 * fw, cy + 0.95 * fh],
                            radius=0.6 * fw, fill=hair)
    for sx in (-1, 1):
        ex = cx + sx * fw * 0.97
        d.ellipse([ex - 0.13 * s, cy - 0.22 * s, ex + 0.13 * s, cy + 0.12 * s], fill=_shade(skin, 0.9))

    # face: full-width upper half, chin narrowed by the jaw parameter
    # drawn twice, darker then inset lighter, so the blur leaves shading at the contour
    chin = fw * (1 - 0.2 * actor.jaw)
    for k, inset in ((0.72, 0.0), (0.88, 0.05 * s), (1.0, 0.12 * s)):
        col = _shade(skin, k)
        d.ellipse([cx - chin + inset, cy - fh + inset, cx + chin - inset, cy + fh - inset], fill=col)
        d.chord([cx - fw + inset, cy - fh + inset, cx + fw - inset, cy + fh - inset], 180, 360, fill=col)
        d.chord([cx - fw + inset, cy - 0.4 * fh, cx + fw - inset, cy + 0.6 * fh], 0, 180, fill=col)
        d.ellipse([cx - chin + inset, cy - 0.2 * fh, cx + chin - inset, cy + fh - inset], fill=col)

    if actor.lines:  # under the hair: a fringe hides them, a receding hairline shows them
        _forehead_lines(d, actor, cx, cy - 0.12 * s, fw, s)
    if actor.stubble:
        _stubble(d, actor, cx, cy, chin, fh, s)

    # hair on top
    if actor.hair_style in (0, 1):
        d.chord([cx - 1.08 * fw, cy - 1.14 * fh, cx + 1.08 * fw, cy + 0.05 * fh], 180, 360, fill=hair)
    elif actor.hair_style == 2:  # fringe
        d.chord([cx - 1.1 * fw, cy - 1.16 * fh, cx + 1.1 * fw, cy + 0.15 * fh], 180, 360, fill=hair)
        d.rectangle([cx - 0.9 * fw, cy - 0.62 * fh, cx + 0.9 * fw, cy - 0.5 * fh], fill=hair)
    else:  # receding: hair only at the sides
        for sx in (-1, 1):
            x = cx + sx * fw * 0.92
            d.ellipse([x - 0.18 * fw, cy - 0.75 * fh, x + 0.18 * fw, cy - 0.1 * fh], fill=hair)

    # eyes and brows
    ey = cy - 0.12 * s
    ew = 0.17 * s * actor.eye_size
    open_ = max(0.0, 1.0 + 0.45 * expr.eye_open) * (1.0 - state.blink)
    eh = 0.075 * s * actor.eye_size * open_
    brow_col = _shade(hair, 0.65)
    for sx in (-1, 1):
        ex = cx + sx * actor.eye_sep * s
        # eye socket shadow: the eye band is the darkest part of a real face
        d.ellipse([ex - 1.35 * ew, ey - 0.16 * s, ex + 1.35 * ew, ey + 0.12 * s], fill=_shade(skin, 0.8))
        d.ellipse([ex - ew - 3, ey - 0.075 * s - 3, ex + ew + 3, ey + 0.075 * s + 3], fill=_shade(skin, 0.68))
        if eh > 1.5:
            d.ellipse([ex - ew, ey - eh, ex + ew, ey + eh], fill=(222, 218, 210))
            r = min(0.085 * s * actor.eye_size, eh + 1)
            d.ellipse([ex - r, ey - r, ex + r, ey + r], fill=actor.iris)
            rp = r * 0.45
            d.ellipse([ex - rp, ey - rp, ex + rp, ey + rp], fill=(12, 10, 10))
        d.line([(ex - ew, ey - eh), (ex + ew, ey - eh)] if eh <= 1.5 else
               _curve(ex - ew, ex + ew, ey, ey - eh), fill=_shade(skin, 0.45), width=max(2, int(0.02 * s)))
        by = ey - (0.25 + 0.13 * expr.brow_raise) * s
        inner = ex - sx * 0.2 * s
        outer = ex + sx * 0.22 * s
        d.line([(outer, by + 0.02 * s), (ex, by - 0.01 * s), (inner, by - expr.brow_inner * 0.11 * s)],
               fill=brow_col, width=max(3, int(0.055 * s * actor.brow_w)), joint="curve")
        if actor.lines:
            _eye_lines(d, actor, ex, ey, ew, eh, sx, s)

    # nose
    nl = 0.36 * s * actor.nose_len
    nw = 0.1 * s * actor.nose_w
    d.polygon([(cx - 0.03 * s, ey + 0.02 * s), (cx - nw, ey + nl), (cx + nw, ey + nl),
               (cx + 0.03 * s, ey + 0.02 * s)], fill=_shade(skin, 0.9))
    for sx in (-1, 1):
        x = cx + sx * nw * 0.5
        d.ellipse([x - 0.035 * s, ey + nl - 0.03 * s, x + 0.035 * s, ey + nl + 0.01 * s], fill=_shade(skin, 0.5))

    # mouth: corners lift with a smile, opening follows the voice
    my = cy + 0.52 * s
    mw = 0.23 * s * actor.mouth_w * (1 + 0.25 * expr.mouth_w)
    corner = my - expr.smile * 0.13 * s
    if actor.lines:  # nasolabial folds, nose wing to mouth corner
        for sx in (-1, 1):
            d.line(_curve_between((cx + sx * (nw + 0.05 * s), ey + nl - 0.05 * s),
                                  (cx + sx * (mw + 0.07 * s), corner + 0.06 * s), 0.04 * s * sx),
                   fill=_line_colour(actor), width=_line_width(actor, s))
    h = (0.02 + 0.17 * float(np.clip(0.5 * expr.jaw_open + 0.85 * state.mouth_open, 0, 1))) * s
    upper = _curve(cx - mw, cx + mw, corner, my - 0.05 * s - 0.3 * h)
    lower = _curve(cx + mw, cx - mw, corner, my + 0.06 * s + 0.7 * h)
    d.polygon(upper + lower, fill=actor.lips)
    inner_up = _curve(cx - 0.85 * mw, cx + 0.85 * mw, corner, my - 0.3 * h)
    inner_lo = _curve(cx + 0.85 * mw, cx - 0.85 * mw, corner, my + 0.7 * h)
    d.polygon(inner_up + inner_lo, fill=(60, 20, 25))
    return img


def render_frame(actor: Actor, expr: Expression, state: FrameState, look: ClipLook) -> Image.Image:
    s = look.s * state.dscale
    # Draw, rotate and light at half resolution, then upscale: the bicubic upscale
    # softens edges like a blur would, at a fifth of the cost of blurring and
    # rotating at full size.
    patch = draw_face(actor, expr, state, s / 2)
    patch = patch.rotate(look.roll + state.droll, resample=Image.BILINEAR)
    arr = np.asarray(patch).astype(np.float32)
    ramp = 1 + look.side_light * np.linspace(-1, 1, arr.shape[1], dtype=np.float32)[None, :, None]
    arr[..., :3] *= look.gain * ramp
    patch = Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGBA")
    patch = patch.resize((patch.width * 2, patch.height * 2), Image.BICUBIC)
    frame = look.background.copy()
    x0 = int(round(look.cx + state.dx - patch.width / 2))
    y0 = int(round(look.cy + state.dy - patch.height / 2))
    frame.paste(patch, (x0, y0), patch)
    return frame
