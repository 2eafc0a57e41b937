"""Tests for images.process_upload: every accepted input becomes a compliant JPEG,
and every unusable one is refused with a sentence the user can act on.

All images are generated in memory with Pillow; nothing touches the disk.
"""

import io
import struct
import threading
import time
import zlib
from fractions import Fraction

import pytest
from PIL import Image
from PIL import ImageCms
from PIL import ImageFile
from PIL import JpegImagePlugin
from PIL import PngImagePlugin
from PIL import features

from ospost import decode_budget
from ospost import image_pixels
from ospost import images

# --------------------------------------------------------------------------
# Helpers


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    """Save `im` in `fmt` and return the file's bytes."""
    buffer = io.BytesIO()
    im.save(buffer, fmt, **params)
    return buffer.getvalue()


def process(data: bytes) -> images.ProcessedImage:
    """Run the pipeline on an upload given as bytes."""
    return images.process_upload(io.BytesIO(data))


def rejection(data: bytes) -> str:
    """Return the message the pipeline refuses `data` with."""
    with pytest.raises(images.ImageRejected) as caught:
        process(data)
    return caught.value.message


def decoded(data: bytes) -> Image.Image:
    """Open output JPEG bytes, insisting on JPEG by content."""
    im = Image.open(io.BytesIO(data), formats=["JPEG"])
    im.load()
    return im


def jpeg_segments(data: bytes) -> list[tuple[int, int]]:
    """List (marker, offset) of every JPEG segment up to the start of scan."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    segments, pos = [], 2
    while True:
        assert data[pos] == 0xFF, f"bad marker at {pos}"
        marker = data[pos + 1]
        segments.append((marker, pos))
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            return segments
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        pos += 2 + length


# APP0 (JFIF), quantisation tables, baseline frame, Huffman tables, scan.
# Anything else (APP1 EXIF/XMP, APP2 ICC, APP13 IPTC, COM, SOF2) is a failure.
CLEAN_MARKERS = {0xE0, 0xDB, 0xC0, 0xC4, 0xDA}


def assert_clean_jpeg(data: bytes) -> Image.Image:
    """Check one output JPEG: baseline, RGB, no metadata of any kind."""
    markers = {marker for marker, _ in jpeg_segments(data)}
    assert markers <= CLEAN_MARKERS, f"unexpected markers {sorted(markers)}"
    assert 0xC0 in markers  # baseline DCT, not progressive
    im = decoded(data)
    assert im.format == "JPEG"
    assert im.mode == "RGB"
    assert "progressive" not in im.info and "progression" not in im.info
    for key in ("exif", "xmp", "icc_profile", "comment", "photoshop"):
        assert key not in im.info, key
    assert len(im.getexif()) == 0
    return im


def assert_compliant(result: images.ProcessedImage) -> Image.Image:
    """Check a result against every Instagram rule and return the decoded JPEG."""
    im = assert_clean_jpeg(result.jpeg)
    assert im.size == (result.width, result.height)
    assert images.MIN_WIDTH <= im.width <= images.MAX_WIDTH
    ratio = Fraction(im.width, im.height)
    assert Fraction("0.8") <= ratio <= Fraction("1.91"), im.size
    assert len(result.jpeg) <= images.MAX_JPEG_BYTES
    thumb = assert_clean_jpeg(result.thumbnail)
    assert thumb.width == min(images.THUMB_WIDTH, im.width)
    assert Fraction("0.8") <= Fraction(thumb.width, thumb.height) <= Fraction("1.91")
    assert abs(thumb.height - im.height * thumb.width / im.width) <= 1
    return im


def centre(im: Image.Image) -> tuple[int, ...]:
    """Colour of the middle pixel."""
    return im.getpixel((im.width // 2, im.height // 2))


def close_to(actual: tuple[int, ...], expected: tuple[int, ...], tol: int) -> bool:
    """Whether two colours match within `tol` per channel."""
    return all(abs(a - e) <= tol for a, e in zip(actual, expected, strict=True))


# --------------------------------------------------------------------------
# Accepted formats and modes


def _palette(size, colour, transparent=False):
    im = Image.new("P", size, 1)
    im.putpalette([0, 0, 0, *colour])
    if transparent:
        im.paste(0, (0, 0, size[0], size[1]))
        im.info["transparency"] = 0
    return im


def _mpo():
    first = Image.new("RGB", (800, 600), (30, 90, 200))
    second = Image.new("RGB", (800, 600), (250, 250, 0))
    return encode(first, "MPO", save_all=True, append_images=[second])


def _animated_webp():
    first = Image.new("RGB", (800, 600), (30, 90, 200))
    second = Image.new("RGB", (800, 600), (250, 250, 0))
    return encode(first, "WEBP", save_all=True, append_images=[second], lossless=True)


# (upload bytes, expected source_format, expected output size, expected centre)
FORMAT_CASES = {
    "jpeg-rgb": (
        lambda: encode(Image.new("RGB", (1600, 1200), (200, 60, 30)), "JPEG"),
        "JPEG",
        (1440, 1080),
        (200, 60, 30),
    ),
    "jpeg-progressive": (
        lambda: encode(
            Image.new("RGB", (1000, 800), (40, 120, 220)), "JPEG", progressive=True
        ),
        "JPEG",
        (1000, 800),
        (40, 120, 220),
    ),
    "jpeg-greyscale": (
        lambda: encode(Image.new("L", (900, 900), 100), "JPEG"),
        "JPEG",
        (900, 900),
        (100, 100, 100),
    ),
    "jpeg-cmyk": (
        lambda: encode(Image.new("CMYK", (900, 900), (255, 0, 0, 0)), "JPEG"),
        "JPEG",
        (900, 900),
        (0, 255, 255),
    ),
    "jpeg-mpo-first-picture": (_mpo, "JPEG", (800, 600), (30, 90, 200)),
    "png-rgb": (
        lambda: encode(Image.new("RGB", (1200, 1000), (10, 200, 90)), "PNG"),
        "PNG",
        (1200, 1000),
        (10, 200, 90),
    ),
    "png-large-reduced": (
        lambda: encode(Image.new("RGB", (3000, 2250), (10, 200, 90)), "PNG"),
        "PNG",
        (1440, 1080),
        (10, 200, 90),
    ),
    "png-rgba-half-transparent": (
        lambda: encode(Image.new("RGBA", (800, 800), (0, 0, 255, 128)), "PNG"),
        "PNG",
        (800, 800),
        (127, 127, 255),
    ),
    "png-greyscale": (
        lambda: encode(Image.new("L", (640, 640), 70), "PNG"),
        "PNG",
        (640, 640),
        (70, 70, 70),
    ),
    "png-greyscale-alpha": (
        lambda: encode(Image.new("LA", (640, 640), (0, 0)), "PNG"),
        "PNG",
        (640, 640),
        (255, 255, 255),
    ),
    "png-palette": (
        lambda: encode(_palette((700, 700), (250, 120, 0)), "PNG"),
        "PNG",
        (700, 700),
        (250, 120, 0),
    ),
    "png-palette-transparent": (
        lambda: encode(_palette((700, 700), (250, 120, 0), transparent=True), "PNG"),
        "PNG",
        (700, 700),
        (255, 255, 255),
    ),
    # 40000 / 65535 of full scale is 156 in 8 bits; clipping would give 255.
    "png-16-bit-greyscale": (
        lambda: encode(Image.new("I;16", (640, 640), 40000), "PNG"),
        "PNG",
        (640, 640),
        (156, 156, 156),
    ),
    "png-1-bit": (
        lambda: encode(Image.new("1", (640, 640), 1), "PNG"),
        "PNG",
        (640, 640),
        (255, 255, 255),
    ),
    "webp-lossy": (
        lambda: encode(Image.new("RGB", (1000, 1000), (200, 60, 30)), "WEBP"),
        "WEBP",
        (1000, 1000),
        (200, 60, 30),
    ),
    "webp-rgba": (
        lambda: encode(
            Image.new("RGBA", (1000, 1000), (200, 60, 30, 0)), "WEBP", lossless=True
        ),
        "WEBP",
        (1000, 1000),
        (255, 255, 255),
    ),
    "webp-animated-first-frame": (_animated_webp, "WEBP", (800, 600), (30, 90, 200)),
}


@pytest.mark.parametrize("case", FORMAT_CASES, ids=list(FORMAT_CASES))
def test_accepted_format_becomes_compliant_jpeg(case):
    make, source_format, size, colour = FORMAT_CASES[case]
    result = process(make())
    im = assert_compliant(result)
    assert result.source_format == source_format
    assert im.size == size
    assert close_to(centre(im), colour, tol=8), centre(im)
    assert close_to(centre(decoded(result.thumbnail)), colour, tol=8)


@pytest.mark.skipif(not images.HEIF_SUPPORTED, reason="pillow-heif not installed")
def test_heic_is_accepted():
    data = encode(Image.new("RGB", (640, 480), (40, 120, 220)), "HEIF", quality=90)
    result = process(data)
    im = assert_compliant(result)
    assert result.source_format == "HEIF"
    assert im.size == (640, 480)
    assert close_to(centre(im), (40, 120, 220), tol=10)


def test_format_is_judged_by_content_not_name():
    png = io.BytesIO(encode(Image.new("RGB", (640, 640), (1, 2, 3)), "PNG"))
    png.name = "holiday.gif"
    assert images.process_upload(png).source_format == "PNG"
    gif = io.BytesIO(encode(Image.new("RGB", (640, 640)), "GIF"))
    gif.name = "holiday.jpg"
    with pytest.raises(images.ImageRejected, match="not a supported image"):
        images.process_upload(gif)


def test_small_image_is_not_upscaled_and_thumbnail_keeps_its_width():
    result = process(encode(Image.new("RGB", (400, 400), (9, 9, 9)), "PNG"))
    assert (result.width, result.height) == (400, 400)
    assert decoded(result.thumbnail).size == (400, 400)


def test_thumbnail_is_thumb_width_wide_with_same_ratio():
    result = process(encode(Image.new("RGB", (1440, 1800), (9, 9, 9)), "JPEG"))
    assert decoded(result.thumbnail).size == (480, 600)


# --------------------------------------------------------------------------
# Large JPEGs: draft decoding


def test_6000x4000_jpeg_is_decoded_at_reduced_scale_and_comes_out_1440_wide(
    monkeypatch,
):
    drafts = []
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        outcome = real_draft(self, mode, size)
        drafts.append(self.size)
        return outcome

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    im = Image.new("RGB", (6000, 4000), (60, 130, 200))
    im.paste((250, 250, 250), (0, 0, 600, 600))
    result = process(encode(im, "JPEG", quality=90))
    out = assert_compliant(result)
    assert out.size == (1440, 960)
    assert drafts == [(1500, 1000)]  # libjpeg decoded at 1/4 scale
    assert close_to(out.getpixel((40, 40)), (250, 250, 250), tol=8)
    assert close_to(centre(out), (60, 130, 200), tol=8)


def test_draft_decoding_respects_exif_rotation():
    # Stored landscape, displayed portrait: the 1440 px limit applies to the
    # stored *height*, so the draft must be planned after reading orientation.
    stored = Image.new("RGB", (4000, 3400), (128, 128, 128))
    stored.paste((255, 0, 0), (0, 0, 400, 400))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = assert_compliant(process(encode(stored, "JPEG", exif=exif.tobytes())))
    assert out.size == (1440, 1694)
    assert close_to(out.getpixel((out.width - 40, 40)), (255, 0, 0), tol=12)
    assert close_to(out.getpixel((40, 40)), (128, 128, 128), tol=8)


# --------------------------------------------------------------------------
# EXIF orientation and metadata

RED, BLUE, GREY = (255, 0, 0), (0, 0, 255), (128, 128, 128)
# Where the stored top-left (red) and top-right (blue) corners end up.
ORIENTED_CORNERS = {
    1: ("TL", "TR"),
    2: ("TR", "TL"),
    3: ("BR", "BL"),
    4: ("BL", "BR"),
    5: ("TL", "BL"),
    6: ("TR", "BR"),
    7: ("BR", "TR"),
    8: ("BL", "TL"),
}


@pytest.mark.parametrize("orientation", ORIENTED_CORNERS)
def test_exif_orientation_is_applied(orientation):
    stored = Image.new("RGB", (560, 480), GREY)
    stored.paste(RED, (0, 0, 80, 80))
    stored.paste(BLUE, (480, 0, 560, 80))
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = assert_compliant(process(encode(stored, "JPEG", exif=exif.tobytes())))
    assert out.size == ((480, 560) if orientation >= 5 else (560, 480))
    w, h = out.size
    corners = {"TL": (20, 20), "TR": (w - 21, 20), "BL": (20, h - 21)}
    corners["BR"] = (w - 21, h - 21)
    red_at, blue_at = ORIENTED_CORNERS[orientation]
    for name, xy in corners.items():
        expected = {red_at: RED, blue_at: BLUE}.get(name, GREY)
        assert close_to(out.getpixel(xy), expected, tol=12), (name, out.getpixel(xy))


def test_png_exif_orientation_is_applied():
    stored = Image.new("RGB", (560, 480), GREY)
    stored.paste(RED, (0, 0, 80, 80))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = assert_compliant(process(encode(stored, "PNG", exif=exif.tobytes())))
    assert out.size == (480, 560)
    assert close_to(out.getpixel((out.width - 21, 20)), RED, tol=12)


@pytest.mark.parametrize(
    "exif",
    [
        b"Exif\x00\x00II*\x00\xff\xff\xff\x7fgarbage",  # IFD offset past the end
        b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03",  # cut short
        b"not exif at all",
    ],
)
# Pillow warns about corrupt EXIF while opening; in production that is only a
# log line, so the test config's warnings-as-errors is relaxed for it here.
@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")
def test_broken_exif_does_not_cost_the_post(exif):
    data = encode(Image.new("RGB", (640, 480), (20, 40, 60)), "JPEG", exif=exif)
    out = assert_compliant(process(data))
    assert out.size == (640, 480)


def _gps_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Phone maker"
    exif[0x0112] = 1
    exif[0x8825] = {1: "N", 2: (52.0, 22.0, 1.0), 3: "E", 4: (4.0, 54.0, 1.0)}
    return exif


SECRET_XMP = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>secret-xmp</x:xmpmeta>"


def _metadata_uploads():
    photo = Image.new("RGB", (800, 800), (90, 90, 90))
    exif = _gps_exif()
    png_info = PngImagePlugin.PngInfo()
    png_info.add_text("Comment", "secret-comment")
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return {
        "jpeg": encode(
            photo,
            "JPEG",
            exif=exif,
            xmp=SECRET_XMP,
            comment="secret-comment",
            icc_profile=srgb,
        ),
        "png": encode(photo, "PNG", exif=exif, pnginfo=png_info, icc_profile=srgb),
        "webp": encode(photo, "WEBP", exif=exif, xmp=SECRET_XMP, icc_profile=srgb),
    }


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_all_metadata_is_stripped(fmt):
    data = _metadata_uploads()[fmt]
    with Image.open(io.BytesIO(data)) as original:  # the upload really has GPS
        assert original.getexif().get_ifd(0x8825)
    result = process(data)
    out = assert_compliant(result)
    assert not out.getexif().get_ifd(0x8825)
    for blob in (result.jpeg, result.thumbnail):
        for needle in (b"Exif", b"secret", b"xmpmeta", b"Phone maker", b"ICC_PROFILE"):
            assert needle not in blob, needle


# --------------------------------------------------------------------------
# Colour management

D50 = (0.9642, 1.0, 0.8249)
# Adobe RGB (1998) primaries adapted to D50 and its 563/256 gamma: a profile
# noticeably wider than sRGB, built by hand so the test needs no ICC files.
WIDE_RGB = ((0.60974, 0.31111, 0.01947), (0.20528, 0.62567, 0.06087))
WIDE_RGB += ((0.14919, 0.06322, 0.74457),)
WIDE_GAMMA = 563 / 256
SRGB_D50 = ((0.4360747, 0.2225045, 0.0139322), (0.3850649, 0.7168786, 0.0971045))
SRGB_D50 += ((0.1430804, 0.0606169, 0.7141733),)


def _s15f16(*values: float) -> bytes:
    return b"".join(struct.pack(">i", round(v * 65536)) for v in values)


def _xyz(xyz) -> bytes:
    return b"XYZ " + bytes(4) + _s15f16(*xyz)


def _curve(gamma: float) -> bytes:
    return b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256))


def icc_profile(space: bytes, description: str, tags: dict[bytes, bytes]) -> bytes:
    """Build a minimal ICC v2 display profile (matrix/TRC or grey TRC)."""
    text = description.encode("ascii") + b"\0"
    desc = b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(78)
    all_tags = {b"desc": desc, b"cprt": b"text" + bytes(4) + b"none\0"}
    all_tags |= {b"wtpt": _xyz(D50), **tags}
    first = 128 + 4 + 12 * len(all_tags)
    table, body = struct.pack(">I", len(all_tags)), b""
    for signature, data in all_tags.items():
        table += signature + struct.pack(">II", first + len(body), len(data))
        body += data + bytes(-len(data) % 4)
    header = struct.pack(
        ">I4sI4s4s4s", first + len(body), bytes(4), 0x02100000, b"mntr", space, b"XYZ "
    )
    header += struct.pack(">6H", 2024, 1, 1, 0, 0, 0) + b"acsp" + bytes(28)
    header += _s15f16(*D50) + bytes(48)
    assert len(header) == 128
    return header + table + body


def wide_rgb_profile() -> bytes:
    tags = {b"rXYZ": _xyz(WIDE_RGB[0]), b"gXYZ": _xyz(WIDE_RGB[1])}
    tags[b"bXYZ"] = _xyz(WIDE_RGB[2])
    for trc in (b"rTRC", b"gTRC", b"bTRC"):
        tags[trc] = _curve(WIDE_GAMMA)
    return icc_profile(b"RGB ", "Wide-gamut test RGB", tags)


def _inverse(m):
    (a, b, c), (d, e, f), (g, h, i) = m
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    rows = [
        (e * i - f * h, c * h - b * i, b * f - c * e),
        (f * g - d * i, a * i - c * g, c * d - a * f),
        (d * h - e * g, b * g - a * h, a * e - b * d),
    ]
    return [[v / det for v in row] for row in rows]


def _apply(m, v):
    return [sum(m[r][k] * v[k] for k in range(3)) for r in range(3)]


def _srgb_encode(v: float) -> int:
    v = min(max(v, 0.0), 1.0)
    v = 12.92 * v if v <= 0.0031308 else 1.055 * v ** (1 / 2.4) - 0.055
    return round(v * 255)


def _columns(colorants):
    return [[colorants[c][r] for c in range(3)] for r in range(3)]


def wide_to_srgb(rgb) -> tuple[int, ...]:
    """Convert a wide-gamut colour to sRGB with plain matrix maths (no LittleCMS)."""
    linear = [(v / 255) ** WIDE_GAMMA for v in rgb]
    xyz = _apply(_columns(WIDE_RGB), linear)
    return tuple(_srgb_encode(v) for v in _apply(_inverse(_columns(SRGB_D50)), xyz))


def test_non_srgb_profile_is_converted_to_srgb():
    colour = (120, 170, 100)  # inside sRGB's gamut once converted: no clipping
    expected = wide_to_srgb(colour)
    # The conversion must visibly matter, or this test would prove nothing.
    assert max(abs(a - b) for a, b in zip(expected, colour, strict=True)) >= 15
    for fmt in ("JPEG", "PNG"):
        data = encode(
            Image.new("RGB", (800, 800), colour), fmt, icc_profile=wide_rgb_profile()
        )
        out = assert_compliant(process(data))
        assert close_to(centre(out), expected, tol=5), (fmt, centre(out), expected)


def test_grey_profile_is_converted():
    linear_grey = icc_profile(b"GRAY", "Linear grey", {b"kTRC": _curve(1.0)})
    data = encode(Image.new("L", (640, 640), 128), "PNG", icc_profile=linear_grey)
    out = assert_compliant(process(data))
    # Linear 128/255 is sRGB 188.
    assert close_to(centre(out), (188, 188, 188), tol=4), centre(out)


def test_srgb_profile_leaves_colours_alone():
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(Image.new("RGB", (640, 640), (150, 110, 90)), "PNG", icc_profile=srgb)
    assert close_to(centre(assert_compliant(process(data))), (150, 110, 90), tol=4)


def test_unusable_profile_is_ignored():
    data = encode(
        Image.new("RGB", (640, 640), (150, 110, 90)), "PNG", icc_profile=b"junk" * 40
    )
    assert close_to(centre(assert_compliant(process(data))), (150, 110, 90), tol=4)


def test_transparency_is_flattened_onto_white():
    im = Image.new("RGBA", (800, 800), (0, 0, 0, 0))
    im.paste((0, 0, 255, 255), (400, 0, 800, 800))
    out = assert_compliant(process(encode(im, "PNG")))
    assert close_to(out.getpixel((100, 400)), (255, 255, 255), tol=4)
    assert close_to(out.getpixel((700, 400)), (0, 0, 255), tol=8)


# --------------------------------------------------------------------------
# Aspect ratio and width


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1080, 1351), (1080, 1350)),  # cropper rounding: trimmed to exactly 4:5
        ((1000, 1260), (1000, 1250)),
        ((1929, 1000), (1440, 754)),  # 1.929 is within 1% of 1.91
        ((1910, 1000), (1440, 754)),
        ((800, 1000), (800, 1000)),
        ((1440, 754), (1440, 754)),
    ],
)
def test_ratio_within_a_hair_of_the_range_is_trimmed(size, expected):
    out = assert_compliant(process(encode(Image.new("RGB", size, (1, 99, 7)), "PNG")))
    assert out.size == expected


@pytest.mark.parametrize(
    ("size", "label"),
    [
        ((3000, 1000), "3:1 (3.00)"),
        ((900, 1200), "3:4 (0.75)"),
        ((1000, 1264), "0.79:1"),  # just beyond the 1% trimming margin
        ((1940, 1000), "1.94:1"),
    ],
)
def test_ratio_far_outside_the_range_is_rejected(size, label):
    message = rejection(encode(Image.new("RGB", size), "PNG"))
    assert message == (
        f"The image's aspect ratio is {label}; Instagram accepts 4:5 (0.80) to "
        "1.91:1. Crop it and try again."
    )


def test_ratio_uses_the_displayed_orientation():
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 1200x900 (1.33), displayed 900x1200 (0.75)
    message = rejection(encode(Image.new("RGB", (1200, 900)), "JPEG", exif=exif))
    assert "3:4 (0.75)" in message


def test_too_narrow_is_rejected():
    message = rejection(encode(Image.new("RGB", (300, 300)), "PNG"))
    assert message == "This image is only 300 px wide; Instagram needs at least 320 px."


def test_width_is_checked_after_rotation():
    exif = Image.Exif()
    exif[0x0112] = 8  # stored 380x310, displayed 310x380
    message = rejection(encode(Image.new("RGB", (380, 310)), "JPEG", exif=exif))
    assert "only 310 px wide" in message


@pytest.mark.parametrize(
    ("width", "height", "label"),
    [
        (3000, 1000, "3:1 (3.00)"),
        (1080, 1350, "4:5 (0.80)"),
        (1920, 1080, "16:9 (1.78)"),
        (1501, 1000, "1.50:1"),
        (1000, 1264, "0.79:1"),
    ],
)
def test_aspect_ratio_label(width, height, label):
    assert images.aspect_ratio_label(width, height) == label


# --------------------------------------------------------------------------
# Decompression bombs


def png_header_only(width: int, height: int) -> bytes:
    """A PNG claiming `width`x`height` whose pixel data is a few bytes of nothing."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(bytes(64))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header is rewritten to claim a huge size."""
    data = bytearray(encode(Image.new("RGB", (64, 48)), "JPEG"))
    offset = next(pos for marker, pos in jpeg_segments(bytes(data)) if marker == 0xC0)
    data[offset + 5 : offset + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.fixture
def no_decoding(monkeypatch):
    """Make any attempt to decode pixels fail loudly."""

    def refuse(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


@pytest.mark.parametrize(
    ("data", "dimensions"),
    [
        # Beyond Pillow's own hard limit (DecompressionBombError).
        (png_header_only(20000, 20000), "20000×20000"),
        # Beyond Pillow's warning limit (DecompressionBombWarning).
        (png_header_only(10000, 10000), "10000×10000"),
        # Only beyond our limit.
        (png_header_only(8000, 7000), "8000×7000"),
        (jpeg_claiming(10000, 6000), "10000×6000"),
    ],
    ids=["png-error", "png-warning", "png-ours", "jpeg-ours"],
)
def test_too_many_pixels_is_rejected_before_decoding(no_decoding, data, dimensions):
    assert rejection(data) == too_many_pixels(dimensions)


def too_many_pixels(dimensions: str) -> str:
    return (
        f"This image has too many pixels ({dimensions}). The most we accept is "
        "25 megapixels, and Instagram shows at most 1440 px across: upload a "
        "smaller version."
    )


def test_small_palette_png_of_49_megapixels_is_refused_before_decoding(no_decoding):
    # Issue 16: 47 KB on the wire, 250 MB to process when it was accepted.
    bomb = encode(Image.new("P", (7000, 7000), 3), "PNG")
    assert len(bomb) < 100_000
    assert rejection(bomb) == too_many_pixels("7000×7000")


def test_webp_has_its_own_lower_pixel_cap(no_decoding):
    big = encode(Image.new("RGB", (4000, 3000), (9, 100, 3)), "WEBP", quality=50)
    assert rejection(big) == (
        "This WebP image has too many pixels (4000×3000). The most we accept for "
        "WebP is 10 megapixels: save it as JPEG or PNG, or upload a smaller version."
    )


@pytest.mark.parametrize(
    ("mode", "info"),
    [
        ("P", {"transparency": 7}),
        ("P", {}),
        ("RGBA", {}),
        ("LA", {}),
        ("1", {}),
        ("I;16", {}),
        ("L", {"transparency": 3}),
    ],
)
@pytest.mark.parametrize("factor", [1, 2, 3])
def test_converting_in_bands_gives_what_converting_whole_gives(
    monkeypatch, mode, info, factor
):
    noise = Image.effect_noise((1500, 1100), 90)
    if mode == "I;16":
        im = noise.convert("I").point(lambda v: v * 200).convert("I;16")
    elif mode in ("RGBA", "LA"):
        im = Image.merge("RGBA" if mode == "RGBA" else "LA", [noise] * len(mode))
    else:
        im = noise.convert(mode)
    im.info.update(info)
    box = (3, 5, 1498, 1097)  # odd edges: blocks cut at the box, not the image
    expected = image_pixels._to_working_mode(im).reduce(factor, box=box)
    monkeypatch.setattr(image_pixels, "_BAND_PIXELS", 20_000)  # dozens of bands
    banded = image_pixels._reduce(im, box, factor)
    assert banded.mode == expected.mode
    assert banded.size == expected.size
    assert banded.tobytes() == expected.tobytes()


def test_pixel_limit_is_read_at_call_time(monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 1_000_000)
    assert "(1200×1000)" in rejection(encode(Image.new("RGB", (1200, 1000)), "PNG"))


# --------------------------------------------------------------------------
# Unreadable and unsupported uploads

UNSUPPORTED = (
    "This file is not a supported image. Upload a JPEG, PNG, WebP or HEIC photo."
    if images.HEIF_SUPPORTED
    else "This file is not a supported image. Upload a JPEG, PNG or WebP photo."
)
DAMAGED = "This image is damaged or incomplete and can't be read."


def _noise(fmt: str) -> bytes:
    return encode(Image.effect_noise((480, 360), 60).convert("RGB"), fmt)


def _cut(data: bytes, keep: int) -> bytes:
    return data[:keep] if keep > 0 else data[: len(data) + keep]


def _bad_png_crc() -> bytes:
    data = bytearray(encode(Image.new("RGB", (640, 640)), "PNG"))
    data[29] ^= 0xFF  # inside the IHDR checksum
    return bytes(data)


UNREADABLE = {
    "truncated-jpeg": (lambda: _cut(_noise("JPEG"), -10_000), DAMAGED),
    "jpeg-header-only": (lambda: _cut(_noise("JPEG"), 40), DAMAGED),
    "truncated-png": (lambda: _cut(_noise("PNG"), -10_000), DAMAGED),
    "png-bad-crc": (_bad_png_crc, DAMAGED),
    "gif": (lambda: encode(Image.new("RGB", (640, 640)), "GIF"), UNSUPPORTED),
    "bmp": (lambda: encode(Image.new("RGB", (640, 640)), "BMP"), UNSUPPORTED),
    "tiff": (lambda: encode(Image.new("RGB", (640, 640)), "TIFF"), UNSUPPORTED),
    "pdf": (lambda: b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n", UNSUPPORTED),
    "html": (lambda: b"<!doctype html><html><body>hi</body></html>", UNSUPPORTED),
    "php": (lambda: b"<?php system($_GET['c']); ?>", UNSUPPORTED),
    "svg": (lambda: b'<svg xmlns="http://www.w3.org/2000/svg"/>', UNSUPPORTED),
    "zero-bytes-text": (lambda: b"\0" * 100, UNSUPPORTED),
    "empty": (
        lambda: b"",
        "The uploaded file is empty. Choose a photo and try again.",
    ),
}


@pytest.mark.parametrize("case", UNREADABLE, ids=list(UNREADABLE))
def test_unreadable_upload_is_rejected_with_clear_message(case):
    make, message = UNREADABLE[case]
    assert rejection(make()) == message


@pytest.mark.skipif(not features.check("avif"), reason="Pillow built without AVIF")
def test_avif_is_not_accepted():
    data = encode(Image.new("RGB", (640, 640)), "AVIF")
    assert rejection(data) == UNSUPPORTED


def test_rejection_is_a_value_error_carrying_its_message():
    with pytest.raises(ValueError) as caught:
        process(b"")
    assert isinstance(caught.value, images.ImageRejected)
    assert str(caught.value) == caught.value.message


# --------------------------------------------------------------------------
# Size limit, streams


def test_quality_steps_down_to_fit_the_size_limit(monkeypatch):
    noise = Image.merge("RGB", [Image.effect_noise((800, 640), 90)] * 3)
    data = encode(noise, "PNG")
    full_quality = len(process(data).jpeg)
    monkeypatch.setattr(images, "MAX_JPEG_BYTES", full_quality * 2 // 3)
    result = process(data)
    assert len(result.jpeg) <= full_quality * 2 // 3
    assert_compliant(result)


def test_image_that_cannot_fit_the_size_limit_is_rejected(monkeypatch):
    monkeypatch.setattr(images, "MAX_JPEG_BYTES", 1000)
    message = rejection(encode(Image.effect_noise((640, 640), 90), "PNG"))
    assert "8 MB limit" in message


def test_caller_stream_is_left_open():
    stream = io.BytesIO(encode(Image.new("RGB", (640, 640)), "JPEG"))
    images.process_upload(stream)
    assert not stream.closed


def test_non_seekable_stream_is_accepted():
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            return self._data.readinto(buffer)

    data = encode(Image.new("RGB", (640, 640), (5, 6, 7)), "PNG")
    with Pipe(data) as pipe:
        assert images.process_upload(pipe).width == 640


# --------------------------------------------------------------------------
# Sharing one process's decoding between concurrent uploads


def hold(budget: decode_budget.DecodeBudget, cost: int) -> threading.Event:
    """Reserve `cost` in another thread until the returned event is set."""
    held, done = threading.Event(), threading.Event()

    def run():
        with budget.reserve(cost):
            held.set()
            done.wait(10)

    threading.Thread(target=run, daemon=True).start()
    assert held.wait(5)
    return done


def test_budget_turns_an_upload_away_after_waiting_when_all_workers_are_busy():
    budget = decode_budget.DecodeBudget(workers=1, memory=1 << 30, wait=0.2)
    release = hold(budget, 1)
    started = time.monotonic()
    with pytest.raises(decode_budget.Busy) as caught, budget.reserve(1):
        pass
    assert time.monotonic() - started >= 0.2
    assert caught.value.retry_after == 1
    release.set()


def test_budget_runs_small_uploads_together_and_big_ones_alone():
    budget = decode_budget.DecodeBudget(workers=4, memory=100, wait=0.05)
    release = hold(budget, 60)
    with budget.reserve(30):  # fits beside the first
        with pytest.raises(decode_budget.Busy), budget.reserve(20):
            pass  # 60 + 30 + 20 > 100
    release.set()
    # More than the whole budget still runs, alone, once the others are done.
    with budget.reserve(500):
        pass


def test_budget_lets_a_waiting_upload_in_as_soon_as_room_frees_up():
    budget = decode_budget.DecodeBudget(workers=1, memory=100, wait=5)
    release = hold(budget, 10)
    threading.Timer(0.1, release.set).start()
    started = time.monotonic()
    with budget.reserve(10):
        assert time.monotonic() - started < 3


def test_a_busy_budget_stops_an_upload_before_decoding(no_decoding):
    budget = decode_budget.DecodeBudget(workers=1, memory=1 << 30, wait=0)
    release = hold(budget, 1)
    with pytest.raises(decode_budget.Busy):
        images.process_upload(
            io.BytesIO(encode(Image.new("RGB", (800, 800)), "PNG")), budget
        )
    release.set()


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_transparency_is_flattened_onto_the_chosen_colour(mode):
    im = Image.new(mode, (800, 800), (0, 0) if mode == "LA" else (0, 0, 0, 0))
    out = assert_compliant(
        images.process_upload(io.BytesIO(encode(im, "PNG")), background=(20, 120, 220))
    )
    # A grey image on a coloured background comes out in colour.
    assert close_to(out.getpixel((400, 400)), (20, 120, 220), tol=4)
