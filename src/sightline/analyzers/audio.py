"""Sound as the audio analyzers read it: one decode per file, mono 16-bit PCM at 16 kHz.

The soundtrack of a video and an audio-only file (WAV, MP3, M4A/AAC, OGG/Opus, FLAC, AMR and
whatever else FFmpeg decodes) are decoded once with PyAV and resampled to mono at
``AUDIO_RATE``; every audio analyzer (soundtrack fingerprint, speech, mains hum) reads the
same samples from ``MediaInput.derived``. 16 kHz is what the voice-activity model expects,
covers the mains-hum harmonics (50-240 Hz) many times over, and Chromaprint resamples to its
own 11,025 Hz internally.

At most ``MAX_AUDIO_SECONDS`` are decoded (the samples of two hours take 230 MB); a longer
recording is analysed over its first two hours and says so (``truncated``). A stream that
breaks off after some sound keeps the sound decoded before the break (``damaged``); one
that yields no sound at all is truncated or corrupt: for an audio file that fails the file
(``TruncatedMedia``), for a video only the audio analyzers (``AnalysisFailed``), so its
pictures are still taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import av
import av.error
import numpy as np
import numpy.typing as npt

from sightline.analyzers.base import MediaInput
from sightline.domain.signals import MediaKind
from sightline.errors import AnalysisFailed, AnalyzerSkipped, TruncatedMedia, UnsupportedMedia

AUDIO_RATE = 16_000
# Longest stretch of a recording the audio analyzers read.
MAX_AUDIO_SECONDS = 2 * 3600
# Where the decoded samples are kept for the other audio analyzers of the same file.
PCM_KEY = "audio.pcm"


@dataclass(frozen=True, slots=True)
class Pcm:
    """A recording's sound: mono 16-bit samples at ``rate``, and where they came from.

    Attributes:
        samples: int16 mono samples.
        rate: samples per second (``AUDIO_RATE``).
        codec: the audio stream's codec name.
        channels: channels of the source stream.
        source_rate: the source stream's sample rate.
        truncated: the recording is longer than ``MAX_AUDIO_SECONDS``; only its start is here.
        damaged: decoding broke off; the samples are those decoded before the break.
    """

    samples: npt.NDArray[np.int16]
    rate: int
    codec: str
    channels: int
    source_rate: int
    truncated: bool = False
    damaged: bool = False

    @property
    def duration_ms(self) -> int:
        """Length of the decoded sound in milliseconds."""
        return len(self.samples) * 1000 // self.rate

    def floats(self) -> npt.NDArray[np.float32]:
        """The samples as float32 in [-1, 1)."""
        return self.samples.astype(np.float32) / 32768.0

    def describe(self) -> dict[str, Any]:
        """The facts every audio analyzer reports in its feature value."""
        return {
            "duration_ms": self.duration_ms,
            "codec": self.codec,
            "channels": self.channels,
            "sample_rate": self.source_rate,
            "truncated": self.truncated,
            "damaged": self.damaged,
        }


def decode_audio(media: MediaInput) -> Pcm:
    """The file's first audio stream as mono 16 kHz PCM, decoded once per file.

    Raises:
        UnsupportedMedia: the content is neither audio nor video.
        AnalyzerSkipped: the file has no audio stream (a silent video).
        TruncatedMedia: an audio file is truncated or corrupt before any sound decodes.
        AnalysisFailed: so is the soundtrack of a video (the pictures may be fine).
    """
    cached = media.derived.get(PCM_KEY)
    if isinstance(cached, Pcm):
        return cached
    if media.kind not in (MediaKind.AUDIO, MediaKind.VIDEO):
        raise UnsupportedMedia(f"no sound in {media.kind} content")
    try:
        pcm = _decode(media)
    except TruncatedMedia as exc:
        if media.kind is MediaKind.VIDEO:
            raise AnalysisFailed(f"soundtrack: {exc.message}") from exc
        raise
    media.derived[PCM_KEY] = pcm
    return pcm


def _decode(media: MediaInput) -> Pcm:
    chunks: list[npt.NDArray[np.int16]] = []
    limit = MAX_AUDIO_SECONDS * AUDIO_RATE
    total, truncated, damaged = 0, False, False
    try:
        container = av.open(str(media.path))
    except av.error.FFmpegError as exc:
        raise TruncatedMedia("the recording is truncated or corrupt") from exc
    with container:
        if not container.streams.audio:
            raise AnalyzerSkipped("the file has no audio stream")
        stream = container.streams.audio[0]
        context = stream.codec_context
        codec, channels, source_rate = str(context.name), int(context.channels or 0), 0
        source_rate = int(context.sample_rate or 0)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1).astype(np.int16, copy=False)
                    chunks.append(chunk)
                    total += len(chunk)
                if total >= limit:
                    truncated = True
                    break
            if not truncated:
                for out in resampler.resample(None):
                    chunks.append(out.to_ndarray().reshape(-1).astype(np.int16, copy=False))
        except (av.error.FFmpegError, ValueError) as exc:
            if total == 0:
                raise TruncatedMedia("the audio stream is truncated or corrupt") from exc
            damaged = True
    samples = np.concatenate(chunks)[:limit] if chunks else np.zeros(0, dtype=np.int16)
    if len(samples) == 0:
        raise TruncatedMedia("no sound of the audio stream could be decoded")
    return Pcm(samples, AUDIO_RATE, codec, channels, source_rate, truncated, damaged)
