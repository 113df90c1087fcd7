"""Surprisal maps: where in a file a model spends its bits, and which segments cost the most.

Input is `deepcompress.symbol_bits(data, model)`: bits: float64[n], the exact bits the coder
spends on each symbol. Segments are consecutive runs of `segment_length` symbols (the last
one may be shorter); for record data, pass the record size in symbols so that each segment
is one record. Library code: prints nothing; matplotlib is needed only by `plot_surprisal`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike

import numpy as np

from deepcompress.arguments import check

__all__ = [
    "Segment",
    "baseline_bits_per_byte",
    "check_plotting",
    "default_segment_length",
    "plot_surprisal",
    "segment_bits",
    "segment_offsets",
    "smooth",
    "top_segments",
    "write_bits",
]

PLOT_POINTS = 2000  # the smoothed curve is decimated to about this many points before drawing


@dataclass(frozen=True)
class Segment:
    """A run of symbols [offset, offset + length) and the bits the coder spends on it."""

    offset: int
    length: int
    bits: float

    @property
    def bits_per_symbol(self) -> float:
        return self.bits / self.length

    def as_dict(self) -> dict[str, float | int]:
        return {"offset": self.offset, "length": self.length, "bits": self.bits, "bits_per_symbol": self.bits_per_symbol}


def default_segment_length(data: bytes | np.ndarray) -> int:
    """One record (row) of a C-order 2-D array; 1024 symbols otherwise."""
    if isinstance(data, np.ndarray) and data.ndim == 2 and not np.isfortran(data):
        return data.shape[1]
    return 1024


def _check_length(segment_length: int) -> None:
    if segment_length < 1:
        raise ValueError(f"segment length must be >= 1, got {segment_length}")


def segment_offsets(n_symbols: int, segment_length: int) -> np.ndarray:
    """First symbol of each segment: int64[ceil(n / L)]."""
    _check_length(segment_length)
    return np.arange(0, n_symbols, segment_length, dtype=np.int64)


def segment_bits(bits: np.ndarray, segment_length: int) -> np.ndarray:
    """Bits of each segment of `segment_length` symbols: float64[ceil(n / L)].

    bits: float64[n] per-symbol bits. Each entry is the sum of its own slice of `bits`
    (the last segment holds the n mod L remaining symbols, if any).
    """
    check(bits=bits, segment_length=segment_length)
    bits = np.asarray(bits, dtype=np.float64)
    offsets = segment_offsets(len(bits), segment_length)
    return np.add.reduceat(bits, offsets) if len(offsets) else np.zeros(0)


def top_segments(bits: np.ndarray, segment_length: int = 1024, k: int = 5) -> list[Segment]:
    """The k segments with the most bits, most first (ties: lower offset first).

    bits: float64[n] per-symbol bits. Ranked by total bits, so a short last segment is not
    promoted by the noise of a few symbols; with equal lengths this is bits/symbol order.
    """
    check(bits=bits, segment_length=segment_length, k=k)
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    sums = segment_bits(bits, segment_length)
    offsets = segment_offsets(len(bits), segment_length)
    lengths = np.minimum(segment_length, len(bits) - offsets)
    order = np.argsort(-sums, kind="stable")[:k]
    return [Segment(int(offsets[i]), int(lengths[i]), float(sums[i])) for i in order]


def smooth(bits: np.ndarray, window: int) -> np.ndarray:
    """Centred moving mean of `bits` over `window` symbols: float64[n] (fewer at the edges)."""
    check(bits=bits, window=window)
    _check_length(window)
    bits = np.asarray(bits, dtype=np.float64)
    cumulative = np.concatenate([[0.0], np.cumsum(bits)])
    first = np.arange(len(bits)) - window // 2
    start = np.maximum(first, 0)
    stop = np.minimum(first + window, len(bits))
    return (cumulative[stop] - cumulative[start]) / (stop - start)


def baseline_bits_per_byte(data: bytes) -> dict[str, float]:
    """Average bits/byte of gzip -9 and xz -9e on `data`: {"gzip -9": ..., "xz -9e": ...}."""
    # Imported here: bench needs the Unix-only `resource`, and `import deepcompress` must not.
    from deepcompress.bench import baseline_sizes

    sizes = baseline_sizes(data)
    return {"gzip -9": 8 * sizes["gzip"] / len(data), "xz -9e": 8 * sizes["xz"] / len(data)}


def _agg_figure():
    """A new matplotlib Figure drawn by the Agg backend (no pyplot, no display needed).

    Raises ImportError naming the install command when matplotlib is missing.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install 'deepcompress[plot]'") from None
    figure = Figure(figsize=(10, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def write_bits(bits: np.ndarray, sink) -> None:
    """Save per-symbol bits (float64[n]) to a binary file object as .npy (np.save(path) would append ".npy")."""
    np.save(sink, np.asarray(bits, dtype=np.float64))


def check_plotting() -> None:
    """Raise ImportError (with the install command) unless `plot_surprisal` can run."""
    _agg_figure()


def _mark_segments(axes, segments: Sequence[Segment], unit: str) -> None:
    """A numbered dot per segment at its bits/symbol, and a table of them in the top right."""
    centres = [segment.offset + segment.length / 2 for segment in segments]
    heights = [segment.bits_per_symbol for segment in segments]
    label = "top segment" if len(segments) == 1 else f"top {len(segments)} segments"
    axes.scatter(centres, heights, color="tab:red", zorder=3, label=label)
    rows = [f"{'':3} {'offset':>9} {'length':>6} {'bits/' + unit:>10}"]
    for rank, (segment, centre, height) in enumerate(zip(segments, centres, heights), start=1):
        axes.annotate(f"#{rank}", (centre, height), xytext=(5, 2), textcoords="offset points", color="tab:red")
        rows.append(f"{f'#{rank}':3} {segment.offset:>9} {segment.length:>6} {segment.bits_per_symbol:>10.3f}")
    box = {"facecolor": "white", "alpha": 0.8, "edgecolor": "0.8"}
    axes.text(0.99, 0.97, "\n".join(rows), transform=axes.transAxes, ha="right", va="top",
              family="monospace", fontsize="small", bbox=box)


def plot_surprisal(
    bits: np.ndarray,
    path: str | PathLike[str],
    window: int,
    segments: Sequence[Segment] = (),
    references: Mapping[str, float] | None = None,
    title: str = "Where do the bits go?",
    unit: str = "symbol",
) -> None:
    """Write a PNG of bits/symbol along the data, smoothed over `window` symbols.

    bits: float64[n] per-symbol bits (n > 0). Also draws the overall mean, one horizontal
    line per `references` entry (label -> bits/symbol, e.g. `baseline_bits_per_byte`) and
    the `segments` (e.g. `top_segments`) at their bits/symbol; `unit` names a symbol on the
    axes. Raises ImportError without matplotlib.
    """
    check(bits=bits, window=window)
    figure = _agg_figure()
    axes = figure.add_subplot()
    bits = np.asarray(bits, dtype=np.float64)
    positions = np.arange(0, len(bits), max(1, len(bits) // PLOT_POINTS))
    curve = smooth(bits, window)[positions]
    axes.plot(positions, curve, color="tab:blue", linewidth=1, label=f"moving mean over {window} {unit}s")
    mean = bits.mean()
    axes.axhline(mean, color="black", linestyle="--", linewidth=1, label=f"overall mean {mean:.3f}")
    for (label, value), color in zip((references or {}).items(), ("tab:green", "tab:purple", "tab:brown")):
        axes.axhline(value, color=color, linestyle=":", linewidth=1.5, label=f"{label} {value:.3f}")
    if segments:
        _mark_segments(axes, segments, unit)
    axes.set_xlim(0, len(bits))
    axes.set_ylim(0, 1.15 * max(axes.get_ylim()[1], 1.0))  # headroom for the labels
    axes.set_xlabel(f"offset ({unit}s)")
    axes.set_ylabel(f"bits / {unit}")
    axes.set_title(title)
    axes.legend(loc="upper left", fontsize="small")
    figure.savefig(path, format="png")
