"""Container metadata of videos and audio: streams, device, time and place, as for images."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from sightline.analyzers.base import MediaInput
from sightline.analyzers.metadata import MetadataAnalyzer, iso6709, tag_datetime
from sightline.errors import TruncatedMedia
from tests.support.video import ffmpeg, pan_frames, write_video

# The identifying fields images have, under the same names.
IMAGE_FIELDS = {
    "make",
    "model",
    "body_serial_number",
    "software",
    "datetime_original",
    "gps_latitude",
    "gps_longitude",
}


def _metadata(path: Path) -> dict[str, Any]:
    with closing(MediaInput(path)) as media:
        return dict(MetadataAnalyzer().analyze(media))


def _tagged(tmp_path: Path, name: str, *tags: str) -> Path:
    """A short H.264 video with ``key=value`` container tags written by Debian's ffmpeg."""
    source = write_video(tmp_path / "source.mp4", pan_frames(3, seconds=2, fps=5), fps=5)
    args = [arg for tag in tags for arg in ("-metadata", tag)]
    out = tmp_path / name
    ffmpeg("-i", str(source), "-c:v", "libx264", "-movflags", "use_metadata_tags", *args, str(out))
    return out


def test_an_iphone_video_has_camera_time_and_place(tmp_path: Path) -> None:
    path = _tagged(
        tmp_path,
        "IMG_0001.mov",
        "com.apple.quicktime.make=Apple",
        "com.apple.quicktime.model=iPhone 12",
        "com.apple.quicktime.software=16.1",
        "com.apple.quicktime.creationdate=2023-06-01T14:05:09+0200",
        "com.apple.quicktime.location.ISO6709=+52.3702+004.8952+001.000/",
    )
    value = _metadata(path)
    assert value["make"] == "Apple"
    assert value["model"] == "iPhone 12"
    assert value["software"] == "16.1"
    assert value["datetime_original"] == "2023-06-01T14:05:09+02:00"  # local time, its offset
    assert (value["gps_latitude"], value["gps_longitude"]) == (52.3702, 4.8952)
    assert (value["width"], value["height"], value["frame_rate"]) == (320, 240, 5.0)
    assert (value["video_codec"], value["audio_codec"]) == ("h264", None)
    assert value["duration_ms"] == 2000
    assert value["mime_type"] == "video/quicktime"
    assert set(value) >= IMAGE_FIELDS


def test_an_android_video_has_its_maker_model_and_location(tmp_path: Path) -> None:
    path = _tagged(
        tmp_path,
        "VID_1.mp4",
        "com.android.manufacturer=Google",
        "com.android.model=Pixel 7",
        "location=-33.8688+151.2093/",
        "creation_time=2022-03-04T05:06:07Z",
    )
    value = _metadata(path)
    assert (value["make"], value["model"]) == ("Google", "Pixel 7")
    assert (value["gps_latitude"], value["gps_longitude"]) == (-33.8688, 151.2093)
    assert value["datetime_original"] == "2022-03-04T05:06:07+00:00"  # UTC


def test_malformed_tags_are_dropped_not_fatal(tmp_path: Path) -> None:
    path = _tagged(
        tmp_path,
        "bad.mp4",
        "com.apple.quicktime.make=" + "A" * 5000,
        "com.apple.quicktime.creationdate=yesterday",
        "creation_time=1970-01-01T00:00:00Z",
        "location=+95.0000+200.0000/",
        "com.apple.quicktime.location.ISO6709=north of here",
    )
    value = _metadata(path)
    assert value["make"] == "A" * 256  # cut to the longest text kept
    assert value["datetime_original"] is None  # junk and the Unix epoch placeholder
    assert (value["gps_latitude"], value["gps_longitude"]) == (None, None)
    assert value["video_codec"] == "h264"


def test_an_audio_file_has_its_sound_and_no_picture(tmp_path: Path) -> None:
    path = tmp_path / "memo.m4a"
    ffmpeg(
        "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-ac", "2",
        "-metadata", "creation_time=2021-01-02T03:04:05Z", str(path),
    )  # fmt: skip
    value = _metadata(path)
    assert (value["audio_codec"], value["sample_rate"], value["channels"]) == ("aac", 44100, 2)
    assert (value["video_codec"], value["width"], value["frame_rate"]) == (None, None, None)
    assert value["datetime_original"] == "2021-01-02T03:04:05+00:00"
    assert 1900 <= value["duration_ms"] <= 2100


def test_a_truncated_container_is_refused(tmp_path: Path) -> None:
    whole = _tagged(tmp_path, "whole.mp4", "make=Canon")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[:1000])
    with pytest.raises(TruncatedMedia):
        _metadata(cut)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+48.8577+002.2950+035.000/", (48.8577, 2.295)),
        ("-33.8688-070.6693/", (-33.8688, -70.6693)),
        ("+4851.46+00217.70/", (48.8576667, 2.295)),  # degrees and minutes
        ("+485127.5+0021742.0/", (48.8576389, 2.295)),  # degrees, minutes, seconds
        ("+48.8577+002.2950CRSWGS_84/", (48.8577, 2.295)),
        ("+4860.0+00200.0/", None),  # 60 minutes
        ("+91.0+002.0/", None),
        ("48.8577, 2.2950", None),
        ("", None),
    ],
)
def test_iso6709_points(text: str, expected: tuple[float, float] | None) -> None:
    assert iso6709(text) == expected


@pytest.mark.parametrize(
    ("text", "local", "expected"),
    [
        ("2019-08-14T17:08:03+0200", True, "2019-08-14T17:08:03+02:00"),
        ("2019-08-14T15:08:03.000000Z", False, "2019-08-14T15:08:03+00:00"),
        ("2023-05-06 10:11:12", False, "2023-05-06T10:11:12+00:00"),
        ("1904-01-01 00:00:00", False, None),  # QuickTime's epoch: no date set
        ("2021", False, None),
        ("junk", True, None),
    ],
)
def test_tag_datetimes(text: str, local: bool, expected: str | None) -> None:
    assert tag_datetime(text, local=local) == expected
