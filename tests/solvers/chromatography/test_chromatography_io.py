"""read_chromatogram on text exports written here and on the shipped real files."""

from pathlib import Path

import numpy as np
import pytest

from solvers.chromatography import read_chromatogram

DATA = Path(__file__).resolve().parents[3] / "solvers" / "chromatography" / "data"


def test_tab_export_in_minutes_with_decimal_comma(tmp_path):
    t_min = np.arange(0.0, 2.0, 0.25)
    y = 1000.0 + 250.5 * np.arange(t_min.size)
    lines = [
        "Injection\trun 7",
        "Signal Unit\tnC",
        "",
        "Chromatogram Data:",
        "Time (min)\tStep (s)\tValue (nC)",
    ]
    for i, (a, b) in enumerate(zip(t_min, y)):
        # thousands dots and decimal commas, as a German-locale export writes them
        whole, frac = f"{b:.3f}".split(".")
        grouped = f"{int(whole):,}".replace(",", ".") + "," + frac
        lines.append(f"{a:.6f}".replace(".", ",") + ("\tn.a.\t" if i == 0 else "\t15\t") + grouped)
    path = tmp_path / "export.txt"
    path.write_text("\r\n".join(lines), encoding="utf-8-sig")
    run = read_chromatogram(path)
    np.testing.assert_allclose(run.t, 60.0 * t_min)
    np.testing.assert_allclose(run.signal, y)
    assert run.unit == "nC" and run.metadata["Injection"] == "run 7"


def test_csv_in_seconds_and_unitless_time(tmp_path):
    path = tmp_path / "run.csv"
    path.write_text("time [s],signal (pA)\n0.0,1.5\n0.5,2.5\n1.0,3.25\n")
    run = read_chromatogram(path)
    np.testing.assert_allclose(run.t, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(run.signal, [1.5, 2.5, 3.25])
    assert run.unit == "pA"
    bare = tmp_path / "bare.csv"
    bare.write_text("t,y\n0,1\n1,2\n2,4\n")
    with pytest.raises(ValueError, match="time_unit"):
        read_chromatogram(bare)
    np.testing.assert_allclose(read_chromatogram(bare, time_unit="min").t, [0, 60, 120])
    with pytest.raises(ValueError, match="time_unit"):
        read_chromatogram(bare, time_unit="fortnight")
    with pytest.raises(FileNotFoundError):
        read_chromatogram(tmp_path / "missing.csv")


def test_chromeleon_export_matches_its_own_header():
    run = read_chromatogram(DATA / "chromeleon_ic_std_mix2.txt")
    # the export's header: Data Points 3241, Time Max. 54 min, Signal Max. 210,061603 nC
    assert len(run) == 3241 and run.unit == "nC"
    assert run.t[-1] == pytest.approx(54 * 60.0)
    assert run.signal.max() == pytest.approx(210.061603)


def test_shimadzu_channels_and_multiplier():
    a = read_chromatogram(DATA / "shimadzu_fsec.txt")
    b = read_chromatogram(DATA / "shimadzu_fsec.txt", channel="Detector B")
    # "# of Points 2401", "End Time(min) 20.000", intensities in uV x 0.001 -> mV
    assert len(a) == len(b) == 2401 and a.unit == b.unit == "mV"
    assert a.t[-1] == pytest.approx(1200.0) and "Detector B" in b.channel
    assert b.signal.max() == pytest.approx(1410.764)  # first data row 61 -> 0.061 mV
    assert b.signal[0] == pytest.approx(0.061)
    with pytest.raises(ValueError, match="channel"):
        read_chromatogram(DATA / "shimadzu_fsec.txt", channel="Detector Z")


def test_agilent_binaries():
    fid = read_chromatogram(DATA / "agilent_gc_fid.ch")
    # entab's own test of this file: 2699 points, first intensity 17.500
    assert len(fid) == 2699 and fid.signal[0] == pytest.approx(17.500, abs=1e-3)
    assert np.all(np.diff(fid.t) > 0) and fid.t[0] == pytest.approx(180.0, abs=0.1)
    mwd = read_chromatogram(DATA / "agilent_lc_mwd_210nm.ch")
    assert len(mwd) == 1801 and mwd.unit == "mAU" and mwd.metadata["wavelength"] == "210.0"
    window = mwd.window(270.0, 340.0)
    assert window.t[0] >= 270.0 and window.t[-1] <= 340.0
    frame = window.to_frame()
    assert list(frame.columns) == ["time (s)", "signal (mAU)"] and len(frame) == len(window)


def test_utf16_export_and_signal_only_export(tmp_path):
    wide = tmp_path / "wide.csv"
    wide.write_text("Time (min)\tUV (mAU)\n0.5\t1.25\n1.0\t2.5\n", encoding="utf-16")
    run = read_chromatogram(wide)
    np.testing.assert_allclose(run.t, [30.0, 60.0])
    np.testing.assert_allclose(run.signal, [1.25, 2.5])
    assert run.unit == "mAU"
    # EZStart-like: header, then each channel's values one per line, one channel after another
    header = [
        "Sample ID:\trun 3",
        "Sampling Rate:\t2.000000\t2.000000\tHz",
        "Total Data Points:\t4\t4\tPts.",
        "X Axis Title:\tSeconds\tSeconds",
        "Y Axis Title:\tmVolts\tmVolts",
        "Y Axis Multiplier:\t0.001\t0.001",
    ]
    asc = tmp_path / "run.asc"
    asc.write_text("\n".join(header + ["10", "20", "30", "40", "5", "6", "7", "8"]) + "\n")
    first = read_chromatogram(asc)
    second = read_chromatogram(asc, channel=1)
    np.testing.assert_allclose(first.t, [0.0, 0.5, 1.0, 1.5])
    np.testing.assert_allclose(first.signal, [0.01, 0.02, 0.03, 0.04])
    np.testing.assert_allclose(second.signal, [0.005, 0.006, 0.007, 0.008])
    assert first.unit == "mVolts" and first.metadata["Sample ID"] == "run 3"
