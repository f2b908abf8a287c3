"""Reading chromatograms: vendor binaries through ``rainbow-api`` and CSV/text exports.

:func:`read_chromatogram` returns a :class:`Chromatogram`: times in seconds, the signal in
the unit the file states, and the file's metadata.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Chromatogram", "read_chromatogram"]

# Seconds per time unit, keyed by the spellings found in exports' column headers.
_TIME_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "ms": 1e-3,
    "msec": 1e-3,
    "millisecond": 1e-3,
    "milliseconds": 1e-3,
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
}
# Metadata keys that name the signal unit or a factor applied to the stored integers.
_UNIT_KEYS = ("signal unit", "intensity units", "y axis title", "unit", "units")
_MULT_KEYS = ("intensity multiplier", "y axis multiplier")
_X_UNIT_KEYS = ("x axis title",)
_BINARY_SUFFIXES = {".ch", ".uv", ".ms", ".raw", ".d"}


@dataclass(frozen=True)
class Chromatogram:
    """One detector channel of a chromatographic run.

    Attributes
    ----------
    t : ndarray, shape (n_t,)
        Times since injection (s), increasing.
    signal : ndarray, shape (n_t,)
        Detector signal in ``unit``.
    unit : str
        Signal unit as stated by the file (``""`` when it states none).
    metadata : dict
        What the file says about the run (sample, method, detector, ...), strings as read.
    channel : str
        Which channel of the file this is (a file name, a section title or a column name).
    source : str
        The path read.
    """

    t: np.ndarray
    signal: np.ndarray
    unit: str = ""
    metadata: dict = field(default_factory=dict)
    channel: str = ""
    source: str = ""

    def __len__(self):
        return self.t.size

    def window(self, start=None, stop=None):
        """The part of the run with ``start <= t <= stop`` (s), as a new Chromatogram."""
        lo = -np.inf if start is None else float(start)
        hi = np.inf if stop is None else float(stop)
        keep = (self.t >= lo) & (self.t <= hi)
        if keep.sum() < 2:
            raise ValueError(f"window [{start}, {stop}] s holds fewer than two samples.")
        return Chromatogram(
            self.t[keep],
            self.signal[keep],
            self.unit,
            dict(self.metadata),
            self.channel,
            self.source,
        )

    def to_frame(self):
        """A pandas DataFrame with columns ``time (s)`` and ``signal (unit)``."""
        import pandas as pd

        unit = f" ({self.unit})" if self.unit else ""
        return pd.DataFrame({"time (s)": self.t, f"signal{unit}": self.signal})


def read_chromatogram(
    path, *, channel=None, time_unit=None, signal_unit=None, time_column=0, signal_column=-1
):
    """Read one chromatogram from a vendor file or a text export.

    Vendor binaries (Agilent ChemStation ``.ch`` and ``.D`` folders, Waters ``.raw``, ...)
    are read with ``rainbow-api``; old ChemStation GC files (format 8/81), which rainbow's
    ``parse_ch`` does not open, are decoded with rainbow's own double-delta decoder. Text
    exports (CSV, tab- or semicolon-separated; Chromeleon, Shimadzu LabSolutions and plain
    two-column files) are parsed here: the block of numeric rows is found, a decimal comma
    (``0,016667``, with thousands dots ``1.234,5``) is recognised, and the time unit is read
    from the column header (``Time (min)``, ``t [s]``) or the file's axis title.

    Parameters
    ----------
    path : str or path-like
        File (or ``.D`` folder).
    channel : str, float or None
        Which channel: for a ``.D`` folder a file name (``"FID1A.ch"``) or detector name;
        for a diode-array file a wavelength (nm); for a text export with several
        chromatograms the section title or a substring of it (``"Detector B"``). ``None``:
        the first channel (for a text file, the longest block of numeric rows).
    time_unit : {"s", "min", "ms", "h"} or None
        Unit of the file's time column when the file does not state it; overrides the file.
    signal_unit : str or None
        Signal unit to record when the file does not state it; overrides the file.
    time_column, signal_column : int
        Columns of a text export holding the time and the signal (default first and last).

    Returns
    -------
    Chromatogram
        ``t`` in seconds, ``signal`` in the file's unit (after any multiplier the file
        states), ``unit``, ``metadata``, ``channel``.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"path {str(path)!r} does not exist.")
    if time_unit is not None and _seconds_per(time_unit) is None:
        raise ValueError(f"time_unit must be one of s, min, ms, h; got {time_unit!r}.")
    if p.is_dir() or p.suffix.lower() in _BINARY_SUFFIXES:
        t, y, unit, meta, name = _read_binary(p, channel)
        scale = 60.0 if time_unit is None else _seconds_per(time_unit)  # rainbow: minutes
    else:
        t, y, unit, meta, name, file_unit = _read_text(p, channel, time_column, signal_column)
        if time_unit is None and file_unit is None:
            raise ValueError(
                f"the time unit of {p.name} is not stated in the file; pass time_unit."
            )
        scale = _seconds_per(time_unit if time_unit is not None else file_unit)
    t = np.asarray(t, dtype=float) * scale
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(t) & np.isfinite(y)
    t, y = t[ok], y[ok]
    if t.size < 2:
        raise ValueError(f"{p.name} holds fewer than two readable samples.")
    if np.any(np.diff(t) <= 0.0):
        order = np.argsort(t, kind="stable")
        t, y = t[order], y[order]
        keep = np.concatenate([[True], np.diff(t) > 0.0])
        t, y = t[keep], y[keep]
    unit = signal_unit if signal_unit is not None else unit
    return Chromatogram(t, y, unit or "", meta, name, str(p))


def _seconds_per(unit):
    if unit is None:
        return None
    return _TIME_UNITS.get(str(unit).strip().lower().rstrip("."))


# ---------------------------------------------------------------------------- binaries
def _read_binary(p, channel):
    import rainbow
    from rainbow.agilent import chemstation

    if p.is_dir():
        directory = rainbow.read(str(p))
        files = [f for f in directory.datafiles if np.asarray(f.data).ndim == 2]
        if not files:
            raise ValueError(f"{p.name} holds no chromatogram rainbow can read.")
        chosen = files[0]
        if isinstance(channel, str):
            match = [
                f for f in files if channel.lower() in (f.name.lower(), str(f.detector).lower())
            ]
            match = match or [f for f in files if channel.lower() in f.name.lower()]
            if not match:
                names = ", ".join(f.name for f in files)
                raise ValueError(f"channel {channel!r} is not in {p.name} (has {names}).")
            chosen = match[0]
        return _from_datafile(chosen, None if isinstance(channel, str) else channel)
    if p.suffix.lower() == ".ch":
        datafile = chemstation.parse_ch(str(p))
        if datafile is not None:
            return _from_datafile(datafile, channel)
        return _read_chemstation_81(p)
    datafile = rainbow.read(str(p.parent), requested_files=[p.name]).get_file(p.name)
    return _from_datafile(datafile, channel)


def _from_datafile(datafile, channel):
    data = np.asarray(datafile.data, dtype=float)
    labels = np.asarray(datafile.ylabels)
    column = 0
    if channel is not None and data.shape[1] > 1:
        column = int(np.argmin(np.abs(labels.astype(float) - float(channel))))
    meta = {k: str(v) for k, v in dict(datafile.metadata).items()}
    meta["detector"] = str(datafile.detector)
    name = datafile.name if data.shape[1] == 1 else f"{datafile.name} {labels[column]}"
    return (
        np.asarray(datafile.xlabels, dtype=float),
        data[:, column],
        meta.get("unit", ""),
        meta,
        name,
    )


def _read_chemstation_81(p):
    """Old ChemStation GC file (version 8/81): header of 1024 bytes, double-delta data."""
    from rainbow.agilent.chemstation import decode_double_delta

    raw = p.read_bytes()
    if len(raw) < 1024 or raw[1:3] not in (b"81", b"8\x00"):
        raise ValueError(f"{p.name} is not a ChemStation file rainbow-api can read.")
    with p.open("rb") as f:
        counts = np.asarray(decode_double_delta(f, 1024), dtype=float)
    start, stop = struct.unpack(">ff", raw[282:290])  # ms
    offset, mult = struct.unpack(">dd", raw[636:652])
    minutes = np.linspace(start, stop, counts.size) / 60000.0

    def pascal(at, size):
        n = raw[at]
        return raw[at + 1 : at + 1 + min(n, size)].decode("latin-1").strip()

    meta = {
        "sample": pascal(24, 60),
        "operator": pascal(148, 28),
        "date": pascal(178, 60),
        "instrument": pascal(208, 20),
        "method": pascal(228, 16),
        "detector": "FID",
        "format": "ChemStation 81",
    }
    return minutes, counts * mult + offset, "", meta, p.name


# ---------------------------------------------------------------------------- text
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")
_NUMBER_GROUPED = re.compile(r"^[+-]?\d{1,3}(\.\d{3})+(,\d*)?$")
_UNIT_IN_HEADER = re.compile(r"[\(\[]\s*([^\)\]]+?)\s*[\)\]]")


def _split(line, delim):
    if delim == " ":
        return line.split()
    return [f.strip().strip('"') for f in line.split(delim)]


def _to_float(field, decimal_comma):
    f = field.strip().replace(" ", "")
    if decimal_comma:
        f = f.replace(".", "").replace(",", ".")
    try:
        return float(f)
    except ValueError:
        return np.nan


def _decode(raw):
    """Text of an export: UTF-16 (with a BOM, or NUL-interleaved ASCII) or UTF-8/Latin-1."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return raw.decode("utf-16", errors="replace")
    head = raw[:4096]
    if head and head.count(b"\x00") > len(head) // 4:
        return raw.decode("utf-16-le" if head[1:2] == b"\x00" else "utf-16-be", errors="replace")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _read_text(p, channel, time_column, signal_column):
    text = _decode(p.read_bytes())
    lines = text.splitlines()
    sample = [ln for ln in lines if ln.strip()][:400] + [ln for ln in lines if ln.strip()][-50:]
    delim = (
        "\t"
        if any("\t" in ln for ln in sample)
        else (
            ";"
            if any(";" in ln for ln in sample)
            else ("," if any("," in ln for ln in sample) else " ")
        )
    )

    def numeric(line):
        fields = _split(line, delim)
        if len(fields) < 2:
            return None
        try:
            pick = [fields[time_column], fields[signal_column]]
        except IndexError:
            return None
        if all(_NUMBER.match(f.replace(" ", "")) or _NUMBER_GROUPED.match(f) for f in pick):
            return pick
        return None

    # Blocks of consecutive numeric rows, each with its section title and header line.
    blocks, meta, section, header, current = [], {}, "", "", None
    section_meta = {}
    for line in lines:
        row = numeric(line) if line.strip() else None
        if row is not None:
            if current is None:
                current = {
                    "section": section,
                    "header": header,
                    "rows": [],
                    "meta": dict(section_meta),
                }
                blocks.append(current)
            current["rows"].append(row)
            continue
        current = None
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            section, section_meta = stripped[1:-1], {}
            continue
        if stripped.endswith(":") and delim not in stripped:
            section = stripped[:-1]
            section_meta = {}
            continue
        header = stripped
        parts = [f for f in re.split(r"\t|;|:\t|:\s+", stripped, maxsplit=1) if f != ""]
        if len(parts) == 2:
            key, value = parts[0].strip().rstrip(":"), parts[1].strip()
            meta.setdefault(key, value)
            section_meta[key.lower()] = value
    if not blocks:
        single = _single_column(lines, meta, channel)
        if single is not None:
            return (*single, p.name if channel is None else f"{p.name} channel {channel}", "s")
        raise ValueError(f"no block of numeric (time, signal) rows was found in {p.name}.")
    if channel is not None:
        match = [b for b in blocks if str(channel).lower() in b["section"].lower()]
        if not match:
            titles = ", ".join(sorted({b["section"] for b in blocks if b["section"]}))
            raise ValueError(f"channel {channel!r} is not in {p.name} (sections: {titles}).")
        block = max(match, key=lambda b: len(b["rows"]))
    else:
        block = max(blocks, key=lambda b: len(b["rows"]))
    rows = block["rows"]
    decimal_comma = (
        delim != ","
        and any("," in f for r in rows[:200] for f in r)
        and not any(
            "." in f and "," not in f and not _NUMBER_GROUPED.match(f)
            for r in rows[:200]
            for f in r
        )
    )
    t = np.array([_to_float(r[0], decimal_comma) for r in rows])
    y = np.array([_to_float(r[1], decimal_comma) for r in rows])
    names = _split(block["header"], delim) if block["header"] else []
    try:
        t_name, y_name = names[time_column], names[signal_column]
    except IndexError:
        t_name, y_name = "", ""
    file_unit = _unit_of(t_name, _seconds_per)
    smeta = {**{k.lower(): v for k, v in meta.items()}, **block["meta"]}
    if file_unit is None:
        for key in _X_UNIT_KEYS:
            if key in smeta:
                first = re.split(r"\t|\s{2,}", smeta[key])[0]
                file_unit = first if _seconds_per(first) is not None else None
    unit = _unit_of(y_name, lambda u: u)
    if unit is None:
        for key in _UNIT_KEYS:
            if key in smeta:
                unit = re.split(r"\t|\s{2,}", smeta[key])[0]
                break
    for key in _MULT_KEYS:
        if key in block["meta"] or key in smeta:
            value = re.split(r"\t|\s{2,}", block["meta"].get(key, smeta.get(key)))[0]
            factor = _to_float(value, "," in value and "." not in value)
            if np.isfinite(factor) and factor != 0.0:
                y = y * factor
            break
    name = block["section"] or y_name
    meta["columns"] = ", ".join(names)
    return t, y, unit, meta, name, file_unit


def _single_column(lines, meta, channel):
    """Signal-only exports (EZStart ``.asc``): one value per line, channels one after another,
    times from the stated sampling rate. Returns ``(t in s, signal, unit, meta)`` or None."""
    low = {k.lower(): v for k, v in meta.items()}
    rate_key = next((k for k in low if k.startswith("sampling rate")), None)
    count_key = next((k for k in low if k.startswith("total data points")), None)
    if rate_key is None:
        return None

    def first(key, default):
        if key not in low:
            return default
        value = _to_float(re.split(r"\t|\s+", low[key].strip())[0], False)
        return value if np.isfinite(value) else default

    values = [ln.strip() for ln in lines if _NUMBER.match(ln.strip())]
    if not values:
        return None
    y = np.array([float(v) for v in values])
    rate = first(rate_key, np.nan)
    n = int(first(count_key, y.size))
    if not np.isfinite(rate) or rate <= 0.0 or n <= 1:
        return None
    k = 0 if channel is None else int(channel)
    if (k + 1) * n > y.size:
        raise ValueError(f"channel {channel!r} is not in the file ({y.size // n} channel(s)).")
    y = y[k * n : (k + 1) * n] * first("y axis multiplier", 1.0)
    unit = re.split(r"\t|\s{2,}", low.get("y axis title", "").strip())[0]
    return np.arange(n) / rate, y, unit, meta


def _unit_of(header, accept):
    """The unit in ``header``'s parentheses or brackets, if ``accept`` recognises it."""
    found = _UNIT_IN_HEADER.findall(header or "")
    for unit in reversed(found):
        if accept(unit) is not None:
            return unit
    return None
