"""Benign synthetic sound for tests: tones, music-like melodies, noise, mains hum, speech.

Everything is generated at test time: melodies from seeded note sequences, speech with
Debian's ``espeak-ng`` (several languages), hum as a 50 or 60 Hz fundamental with harmonics.
Signals are float32 mono arrays at ``RATE``; :func:`write_audio` encodes them with PyAV into
any container the tests need, and :func:`write_av` muxes a soundtrack under a video.
"""

from __future__ import annotations

import functools
import subprocess
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

RATE = 16_000

Samples = npt.NDArray[np.float32]

# Container and codec per test format; rates the codecs accept.
FORMATS: dict[str, tuple[str, str, int]] = {
    "wav": ("wav", "pcm_s16le", 16_000),
    "mp3": ("mp3", "libmp3lame", 44_100),
    "m4a": ("mp4", "aac", 44_100),
    "ogg": ("ogg", "libopus", 48_000),
    "opus": ("opus", "libopus", 48_000),
    "flac": ("flac", "flac", 44_100),
    "amr": ("amr", "libopencore_amrnb", 8_000),
}


def db(level: float) -> float:
    """An amplitude from decibels relative to full scale."""
    return float(10 ** (level / 20))


def silence(seconds: float) -> Samples:
    """Digital silence."""
    return np.zeros(round(seconds * RATE), dtype=np.float32)


def tone(freq: float, seconds: float, level_db: float = -12.0) -> Samples:
    """A sine tone."""
    t = np.arange(round(seconds * RATE), dtype=np.float64) / RATE
    return (db(level_db) * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(seconds: float, seed: int, level_db: float = -30.0) -> Samples:
    """White noise at ``level_db`` RMS."""
    rng = np.random.default_rng(seed)
    return (db(level_db) * rng.standard_normal(round(seconds * RATE))).astype(np.float32)


def melody(seed: int, seconds: float, level_db: float = -10.0) -> Samples:
    """A music-like signal: seeded notes (4 harmonics, attack and decay) and a soft beat."""
    rng = np.random.default_rng(seed)
    out = np.zeros(round(seconds * RATE), dtype=np.float64)
    pos = 0
    while pos < len(out):
        length = int(RATE * rng.choice([0.125, 0.25, 0.375, 0.5]))
        freq = 220.0 * 2 ** (rng.integers(-12, 13) / 12)
        t = np.arange(min(length, len(out) - pos)) / RATE
        envelope = np.minimum(1.0, t * 80) * np.exp(-t * rng.uniform(2, 8))
        note = sum(np.sin(2 * np.pi * freq * (k + 1) * t) / (k + 1) for k in range(4))
        out[pos : pos + len(t)] += envelope * note
        if rng.random() < 0.5:  # a percussive click on some notes
            click = rng.standard_normal(min(400, len(t))) * np.exp(
                -np.arange(min(400, len(t))) / 60
            )
            out[pos : pos + len(click)] += 0.5 * click
        pos += length
    peak = np.max(np.abs(out)) or 1.0
    return (db(level_db) * out / peak).astype(np.float32)


def hum(
    freq: float, seconds: float, level_db: float = -40.0, *, fundamental: bool = True
) -> Samples:
    """Mains hum: ``freq`` (50 or 60 Hz) with harmonics 2-4 at falling levels.

    A phone's high-pass filter often removes the fundamental: ``fundamental=False`` leaves
    only the harmonics.
    """
    t = np.arange(round(seconds * RATE), dtype=np.float64) / RATE
    weights = {1: 1.0 if fundamental else 0.0, 2: 0.6, 3: 0.45, 4: 0.25}
    signal = np.zeros_like(t)
    for k, w in weights.items():
        signal += w * np.sin(2 * np.pi * freq * k * t + k)
    rms = float(np.sqrt(np.mean(np.square(signal)))) or 1.0
    return (db(level_db) * signal / rms).astype(np.float32)


def speech(text: str, voice: str = "en", tmp_dir: Path | None = None) -> Samples:
    """``text`` spoken by espeak-ng in ``voice`` (a language code), at ``RATE``."""
    result = subprocess.run(
        ["espeak-ng", "-v", voice, "--stdout", text], capture_output=True, check=True
    )
    del tmp_dir
    return _wav_bytes_to_samples(result.stdout)


def _wav_bytes_to_samples(data: bytes) -> Samples:
    import io

    with wave.open(io.BytesIO(data)) as wav:
        rate = wav.getframerate()
        raw = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    floats = raw.astype(np.float64) / 32768.0
    # Linear resampling to RATE: good enough for speech of a test.
    n = round(len(floats) * RATE / rate)
    resampled = np.interp(np.arange(n) * rate / RATE, np.arange(len(floats)), floats)
    return np.asarray(resampled, dtype=np.float32)


def voiced_extent(samples: Samples, below_peak_db: float = 34.0) -> tuple[float, float]:
    """Seconds from the start of ``samples`` to the first and past the last audible sample.

    Audible: within ``below_peak_db`` of the loudest sample. espeak-ng pads what it says
    with a little silence; this is where the voice itself starts and ends, the truth that
    speech segments are checked against.
    """
    loud = np.flatnonzero(np.abs(samples) >= db(-below_peak_db) * float(np.max(np.abs(samples))))
    if len(loud) == 0:
        raise ValueError("the samples are silent")
    return float(loud[0]) / RATE, float(loud[-1] + 1) / RATE


def rms_db(samples: Samples) -> float:
    """The RMS level of ``samples`` in decibels relative to full scale."""
    return float(10 * np.log10(np.mean(np.square(samples, dtype=np.float64))))


# What ``conversation`` says: a sentence in each of several languages (Japanese in kana).
LINES: tuple[tuple[str, str], ...] = (
    ("en", "The quick brown fox jumps over the lazy dog."),
    ("de", "Guten Morgen, wie geht es Ihnen heute?"),
    ("fr", "Bonjour, je voudrais un café, s'il vous plaît."),
    ("es", "Buenos días, ¿cómo estás hoy?"),
    ("ja", "こんにちは、きょうはいいてんきですね。"),
    ("nl", "Goedemorgen, hoe gaat het vandaag?"),
    ("it", "Buongiorno, come stai oggi?"),
    ("en", "She sells sea shells by the sea shore."),
)


def spoken_line(index: int) -> Samples:
    """Line ``index`` of ``LINES`` spoken (made once per process; a copy each time)."""
    return _spoken(index).copy()


@functools.cache
def _spoken(index: int) -> Samples:
    voice, text = LINES[index]
    return speech(text, voice)


def conversation(seconds: float, seed: int) -> tuple[Samples, float]:
    """Seeded sentences from ``LINES`` with pauses of 0.3-1.5 s between them.

    Returns the track and the RMS level (dBFS) of the voice while it speaks, the level a hum
    "N dB below the speech" is measured from.
    """
    rng = np.random.default_rng(seed)
    parts: list[tuple[float, Samples]] = []
    start = float(rng.uniform(0.2, 1.0))
    while start < seconds - 1.0:
        said = spoken_line(int(rng.integers(len(LINES))))
        parts.append((start, said))
        start += len(said) / RATE + float(rng.uniform(0.3, 1.5))
    spoken = np.concatenate([part for _start, part in parts])
    return place(seconds, parts), rms_db(spoken)


def place(total_seconds: float, parts: Sequence[tuple[float, Samples]]) -> Samples:
    """A track of ``total_seconds`` with each part added at its start second."""
    out = np.zeros(round(total_seconds * RATE), dtype=np.float32)
    for start, part in parts:
        begin = round(start * RATE)
        end = min(len(out), begin + len(part))
        out[begin:end] += part[: end - begin]
    return out


def mix(*signals: Samples) -> Samples:
    """The sum of signals, as long as the longest."""
    out = np.zeros(max(len(s) for s in signals), dtype=np.float32)
    for s in signals:
        out[: len(s)] += s
    return out


def change_speed(samples: Samples, factor: float) -> Samples:
    """Played ``factor`` times faster (pitch rises with it, like a sped-up tape)."""
    n = round(len(samples) / factor)
    return np.asarray(
        np.interp(np.arange(n) * factor, np.arange(len(samples)), samples), dtype=np.float32
    )


def write_audio(
    path: Path, samples: Samples, fmt: str = "wav", bit_rate: int | None = None
) -> Path:
    """Encode ``samples`` into ``path`` as ``fmt`` (a key of ``FORMATS``)."""
    container_format, codec, rate = FORMATS[fmt]
    with av.open(str(path), "w", format=container_format) as out:
        stream: Any = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        if bit_rate is not None:
            stream.bit_rate = bit_rate
        _encode_sound(out, stream, samples, rate)
    return path


def _encode_sound(
    out: Any,
    stream: Any,
    samples: Samples,
    rate: int,
) -> None:
    pcm = np.clip(samples, -1.0, 1.0)
    if rate != RATE:
        n = round(len(pcm) * rate / RATE)
        pcm = np.interp(np.arange(n) * RATE / rate, np.arange(len(pcm)), pcm).astype(np.float32)
    ints = (pcm * 32767).astype(np.int16).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(ints, format="s16", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(
        format=stream.codec_context.format or "s16",
        layout="mono",
        rate=rate,
        frame_size=stream.codec_context.frame_size or None,
    )
    for chunk in [*resampler.resample(frame), *resampler.resample(None)]:
        for packet in stream.encode(chunk):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)


def write_av(
    path: Path,
    samples: Samples,
    seed: int,
    *,
    fps: int = 5,
    size: tuple[int, int] = (160, 120),
    audio_codec: str = "aac",
) -> Path:
    """An MP4 whose pictures pan across landscape ``seed`` and whose soundtrack is ``samples``.

    Two files with different ``seed`` and the same sound share only their soundtrack.
    """
    from sightline.services import synthetic

    width, height = size
    seconds = len(samples) / RATE
    scene = synthetic.landscape(seed, (1280, 480)).resize((width * 4, height))
    pixels = np.asarray(scene.convert("RGB"))
    frames = max(1, round(seconds * fps))
    rate = 44_100 if audio_codec == "aac" else 48_000
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("mpeg4", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound: Any = out.add_stream(audio_codec, rate=rate)
        sound.layout = "mono"
        for i in range(frames):
            left = (pixels.shape[1] - width) * i // max(frames - 1, 1)
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(pixels[:, left : left + width]), format="rgb24"
            )
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        _encode_sound(out, sound, samples, rate)
    return path
