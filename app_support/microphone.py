"""Server-side microphone through sounddevice, offered only where PortAudio and an input device exist."""

from __future__ import annotations

import numpy as np


def server_microphone() -> tuple[bool, str]:
    """Whether the server can record, and a note saying why not (which package to install)."""
    try:
        import sounddevice as sd  # imported lazily: it needs the PortAudio library at import time
    except OSError:
        return False, ("The server-side microphone needs PortAudio: `apt-get install libportaudio2` "
                       "(then restart the app).")
    try:
        device = sd.query_devices(kind="input")
    except Exception as exc:  # noqa: BLE001 - sounddevice raises PortAudioError (not an OSError) without a device
        return False, f"No input device on the server ({exc}). Record in the browser instead."
    return True, f"Server input device: {device['name']}"


def record(seconds: float, *, sr: int) -> np.ndarray:
    """Record ``seconds`` of mono audio at ``sr`` from the server's default input device."""
    import sounddevice as sd

    y = sd.rec(int(seconds * sr), samplerate=sr, channels=1, dtype="float32")
    sd.wait()
    return y[:, 0]
