"""Customer photos: the type and size are checked, and the image is decoded and
re-encoded with Pillow, so what we store and show is pixels only. EXIF (GPS
position, camera serial), comments, XMP and any text chunk (where a script could
hide) are not copied; the orientation is applied first so the photo stays upright.
"""

from __future__ import annotations

import base64
import io
import warnings
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

from apps.common.errors import Refusal

FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}
MAX_PIXELS = 40_000_000  # before decoding: a small file may claim a huge canvas
MAX_SIDE = 2048  # what we keep
MODEL_SIDE = 512  # what the model sees ("detail": "low" reads 512 px)
QUALITY = 85


class PhotoError(Refusal):
    """A refused upload; `code` and `message` go back to the customer."""


@dataclass(frozen=True)
class CleanPhoto:
    data: bytes  # JPEG, no metadata
    width: int
    height: int


def clean_photo(data: bytes) -> CleanPhoto:
    limit = settings.SUPPORTBOT_MAX_PHOTO_BYTES
    if len(data) > limit:
        raise PhotoError(
            "photo_too_large", f"That photo is too large. The limit is {limit // (1024 * 1024)} MB."
        )
    if not data:
        raise PhotoError("photo_empty", "That file is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                if probe.format not in FORMATS:
                    raise PhotoError("photo_type", "Please send a photo (JPEG, PNG, WebP or GIF).")
                if probe.width * probe.height > MAX_PIXELS:
                    raise PhotoError("photo_too_large", "That photo has too many pixels.")
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.seek(0)  # an animation: its first frame
                image.load()
                upright = ImageOps.exif_transpose(image) or image
                pixels = _flatten(upright)
    except PhotoError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PhotoError("photo_too_large", "That photo has too many pixels.") from None
    except UnidentifiedImageError:
        raise PhotoError("photo_type", "Please send a photo (JPEG, PNG, WebP or GIF).") from None
    except (OSError, SyntaxError, ValueError, EOFError, Warning):
        raise PhotoError(
            "photo_unreadable", "That photo seems to be damaged. Please try another one."
        ) from None
    pixels.thumbnail((MAX_SIDE, MAX_SIDE))
    return CleanPhoto(data=_jpeg(pixels), width=pixels.width, height=pixels.height)


def model_data_url(data: bytes) -> str:
    """A small JPEG of a stored photo as a data URL, for the model's image input."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        small = image.convert("RGB")
    small.thumbnail((MODEL_SIDE, MODEL_SIDE))
    return "data:image/jpeg;base64," + base64.b64encode(_jpeg(small)).decode("ascii")


def _flatten(image: Image.Image) -> Image.Image:
    """RGB pixels; transparency becomes white (a JPEG has none)."""
    if image.mode in {"RGBA", "LA", "P", "PA"}:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    # Nothing but pixels: Pillow writes a JPEG comment (and more) from `info`, which
    # the decoder filled from the upload, so it goes; no exif= or icc_profile= either.
    clean = image.copy()
    clean.info = {}
    clean.save(out, "JPEG", quality=QUALITY, optimize=True)
    return out.getvalue()
