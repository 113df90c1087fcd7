"""Model-agnostic maximum-likelihood training over context windows.

Any `torch.nn.Module` that is a `Trainable` can be trained here (the byte MLP and the
record network are): integer attributes `context_size` (k, may be 0) and `alphabet_size`
(K), `inputs(symbols int64[n]) -> int64[n, w]` (the first k columns are the window of the
k previous symbols, pad index K before a stream's start) and `log_prob(inputs int64[N, w],
targets int64[N]) -> float[N]` (natural log).

The last `validation_fraction` of every stream is held out (contiguous, so no window
overlaps the training part); training stops early when validation bits/symbol stop
improving, and the best weights are restored. Progress goes to a callback: library code
never prints.

Training data is a list of pieces (streams, or files cut into PIECE_BYTES) whose rows are
computed on demand and shuffled SHUFFLE_ROWS at a time, so corpora larger than memory
train. Under `torchrun` (a `distributed` process group) every process trains on its
shard of the pieces with DistributedDataParallel; the result is the same kind of model.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from deepcompress import distributed
from deepcompress.models.base import table_code_bits

LN2 = math.log(2.0)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 4
    batch_size: int = 512
    learning_rate: float = 2e-3
    weight_decay: float = 0.0
    validation_fraction: float = 0.05
    evaluations_per_epoch: int = 4
    patience: int = 3                # evaluations without improvement before stopping
    truncate_rate: float = 0.05      # share of windows whose oldest part is replaced by pad
    seed: int = 0
    threads: int | None = None       # torch CPU threads; None leaves torch's setting
    device: str = "cpu"
    row_cache_bytes: int = 1 << 28  # keep computed rows while they fit; beyond, recompute every pass


@dataclass(frozen=True)
class Progress:
    """One evaluation: mean bits/symbol on the training rows since the last one, and on validation."""

    epoch: float
    step: int
    train_bits: float
    validation_bits: float
    learning_rate: float
    seconds: float


@dataclass
class TrainResult:
    """samples_per_second: training rows (all processes) per second of the training loop."""

    best_validation_bits: float
    seconds: float
    history: list[Progress] = field(default_factory=list)
    samples_per_second: float = 0.0
    processes: int = 1

    def to_json(self) -> dict:
        return {"best_validation_bits": self.best_validation_bits, "seconds": self.seconds,
                "samples_per_second": self.samples_per_second, "processes": self.processes,
                "history": [asdict(p) for p in self.history]}


@dataclass(frozen=True)
class Rows:
    """Prediction rows: inputs int64[N, w] and targets int64[N]."""

    inputs: np.ndarray
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.targets)

    def batch(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """rows: int64[B] -> (inputs int64[B, w] (a copy), targets int64[B])."""
        return self.inputs[rows], self.targets[rows]


class Trainable(Protocol):
    """What `train` needs of a float network (a `torch.nn.Module`)."""

    context_size: int
    alphabet_size: int

    def inputs(self, symbols: np.ndarray) -> np.ndarray:
        """Inputs of every position of one stream: int64[n, w], the first k columns its window."""

    def log_prob(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Natural-log likelihood of each target: float[N]."""


def model_inputs(model: Trainable, symbols: np.ndarray) -> np.ndarray:
    """The model's inputs for every position of one stream: int64[n, w]."""
    return model.inputs(symbols)


def split_rows(model: torch.nn.Module, streams: Sequence[np.ndarray], validation_fraction: float
               ) -> tuple[Rows, Rows]:
    """Training and validation rows; the last `validation_fraction` of every stream is held out."""
    parts: tuple[list, list, list, list] = ([], [], [], [])
    for symbols in streams:
        symbols = np.asarray(symbols, dtype=np.int64)
        inputs = model_inputs(model, symbols)
        cut = len(symbols) - round(len(symbols) * validation_fraction)
        for part, values in zip(parts, (inputs[:cut], symbols[:cut], inputs[cut:], symbols[cut:])):
            part.append(values)
    width = model_inputs(model, np.zeros(0, dtype=np.int64)).shape[1]
    joined = [np.concatenate(p) if p else np.zeros((0, width) if i % 2 == 0 else 0, np.int64)
              for i, p in enumerate(parts)]
    return Rows(joined[0], joined[1]), Rows(joined[2], joined[3])


# --- training data as a stream of pieces, sharded over the processes of a group ---------------

PIECE_BYTES = 1 << 20        # = api.DEFAULT_BLOCK_SIZE: a piece starts its lanes and followers as a coded block does
SHUFFLE_ROWS = 1 << 21       # rows shuffled together: bounds memory (~100 MB for the byte MLP), not the corpus
VALIDATION_ROWS = 1 << 18    # validation rows kept in memory, over all ranks (a stride subsamples beyond)
CALIBRATION_ROWS = 200_000   # training rows that set the quantiser's activation ranges, over all ranks


@dataclass(frozen=True)
class ByteSource:
    """One training file: `size` bytes, read on demand by `read(offset, length) -> bytes`."""

    name: str
    size: int
    read: Callable[[int, int], bytes]

    @classmethod
    def of_bytes(cls, data: bytes, name: str = "") -> ByteSource:
        view = memoryview(data)
        return cls(name, len(data), lambda offset, length: bytes(view[offset:offset + length]))

    @classmethod
    def of_path(cls, path: str | os.PathLike) -> ByteSource:
        """A regular file, opened again for every read (so any number of epochs, no descriptor held)."""
        path = os.fspath(path)
        size = os.path.getsize(path)

        def read(offset: int, length: int) -> bytes:
            with open(path, "rb") as source:
                source.seek(offset)
                data = source.read(length)
            if len(data) != length:
                raise ValueError(f"{path}: changed while training (was {size} bytes)")
            return data

        return cls(path, size, read)


@dataclass(frozen=True)
class Piece:
    """A contiguous run of one stream that trains as a stream of its own: `length` symbols,
    loaded on demand as int64[length] by `load()`."""

    length: int
    load: Callable[[], np.ndarray]


def stream_pieces(streams: Sequence[np.ndarray]) -> list[Piece]:
    """In-memory streams (int64[n_i] symbols), one piece each."""
    return [Piece(len(s), lambda s=s: np.asarray(s, dtype=np.int64)) for s in streams]


def source_pieces(sources: Sequence[ByteSource], piece_bytes: int = PIECE_BYTES) -> list[Piece]:
    """Byte files cut into pieces of `piece_bytes` (the last of a file shorter), read when loaded."""
    def load(source: ByteSource, offset: int, length: int) -> np.ndarray:
        return np.frombuffer(source.read(offset, length), dtype=np.uint8).astype(np.int64)

    return [Piece(min(piece_bytes, source.size - offset), lambda s=source, o=offset: load(s, o, min(piece_bytes, s.size - o)))
            for source in sources for offset in range(0, source.size, piece_bytes)]


def crlf_variants(pieces: Sequence[Piece]) -> list[Piece]:
    """The pieces with every second piece of LF text (it holds LF and no CR) given CRLF line ends.

    Text to be compressed often comes from Windows (Canterbury's does) while a training
    corpus may be all LF: a byte MLP that never saw CRLF pays several bits at every line end.
    Same volume of data, one reading pass to find the LF text.
    """
    def crlf(load: Callable[[], np.ndarray]) -> np.ndarray:
        return np.frombuffer(bytes(load().astype(np.uint8)).replace(b"\n", b"\r\n"), np.uint8).astype(np.int64)

    out, lf_texts = [], 0
    for piece in pieces:
        symbols = piece.load()
        if np.any(symbols == 10) and not np.any(symbols == 13):
            lf_texts += 1
            if lf_texts % 2 == 0:
                piece = Piece(piece.length + int(np.count_nonzero(symbols == 10)), lambda load=piece.load: crlf(load))
        out.append(piece)
    return out


def shard(lengths: Sequence[int], rank: int, world_size: int) -> list[int]:
    """Indices (ascending) of the pieces rank `rank` of `world_size` trains on.

    Longest piece first to the least-loaded rank (ties: the lower rank, then the earlier
    piece), so every rank computes the same split and the loads differ by at most one piece.
    """
    loads = [0] * world_size
    owner = [0] * len(lengths)
    for index in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        owner[index] = min(range(world_size), key=lambda r: (loads[r], r))
        loads[owner[index]] += lengths[index]
    return [i for i in range(len(lengths)) if owner[i] == rank]


def _compact(values: np.ndarray) -> np.ndarray:
    """The same integers in the narrowest of int16/int32/int64 that holds them (rows held in memory)."""
    low, high = (int(values.min()), int(values.max())) if values.size else (0, 0)
    for dtype in (np.int16, np.int32):
        if np.iinfo(dtype).min <= low and high <= np.iinfo(dtype).max:
            return values.astype(dtype)
    return values


class TrainingData:
    """The rows this process trains on: its `shard` of `pieces` (all of them without a process
    group), the last `config.validation_fraction` of every piece held out.

    A piece's rows are computed from its symbols when needed and kept while all of the
    shard's rows fit in `config.row_cache_bytes`; beyond that every pass over the data
    recomputes them, so memory stays bounded (SHUFFLE_ROWS training rows, VALIDATION_ROWS
    and CALIBRATION_ROWS kept) whatever the corpus size.
    """

    def __init__(self, model: torch.nn.Module, pieces: Sequence[Piece], config: TrainConfig) -> None:
        self.model = model
        lengths = [piece.length for piece in pieces]
        self.pieces = [pieces[i] for i in shard(lengths, distributed.rank(), distributed.world_size())]
        self.cuts = [p.length - round(p.length * config.validation_fraction) for p in self.pieces]
        self.n_train = sum(self.cuts)
        n_validation = sum(p.length for p in self.pieces) - self.n_train
        width = model_inputs(model, np.zeros(0, dtype=np.int64)).shape[1]
        # Cache estimate: int16 inputs and targets, the common case.
        fits = (self.n_train + n_validation) * (width + 1) * 2 <= config.row_cache_bytes
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] | None = {} if fits else None
        all_train, all_validation = distributed.total([self.n_train, n_validation])
        validation_stride = max(1, math.ceil(all_validation / VALIDATION_ROWS))
        calibration_stride = max(1, math.ceil(all_train / CALIBRATION_ROWS))
        parts: tuple[list, list, list] = ([], [], [])
        for index, cut in enumerate(self.cuts):
            inputs, targets = self.rows(index)
            parts[0].append(inputs[cut::validation_stride])
            parts[1].append(targets[cut::validation_stride])
            parts[2].append(inputs[:cut:calibration_stride])
        empty = np.zeros((0, width), np.int16)
        self.validation = Rows(np.concatenate([empty, *parts[0]]), np.concatenate([empty[:, 0], *parts[1]]))
        self.calibration = np.concatenate([empty, *parts[2]])  # int[N, w]: this rank's calibration rows

    def rows(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """All rows of piece `index` of the shard, in stream order: (inputs int[n, w], targets int[n])."""
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        symbols = self.pieces[index].load()
        rows = _compact(model_inputs(self.model, symbols)), _compact(symbols)
        if self._cache is not None:
            self._cache[index] = rows
        return rows

    def batches(self, batch_size: int, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Training batches (inputs int[B, w], targets int[B], copies) forever.

        Each pass visits the pieces in a fresh order and shuffles up to SHUFFLE_ROWS rows at
        a time; a pass yields ceil(n_train / batch_size) batches, the last one short.
        """
        if self.n_train == 0:
            raise ValueError("no training rows")
        while True:
            order = rng.permutation(len(self.pieces))
            held: list[tuple[np.ndarray, np.ndarray]] = []
            for position, index in enumerate(order):
                inputs, targets = self.rows(index)
                held.append((inputs[:self.cuts[index]], targets[:self.cuts[index]]))
                last = position == len(order) - 1
                if sum(len(t) for _, t in held) < SHUFFLE_ROWS and not last:
                    continue
                inputs, targets = np.concatenate([i for i, _ in held]), np.concatenate([t for _, t in held])
                shuffled = rng.permutation(len(targets))
                whole = len(targets) if last else len(targets) - len(targets) % batch_size
                for start in range(0, whole, batch_size):
                    rows = shuffled[start:start + batch_size]
                    yield inputs[rows], targets[rows]
                held = [(inputs[shuffled[whole:]], targets[shuffled[whole:]])]


class _LogLikelihood(torch.nn.Module):
    """`model.log_prob` as a module's forward, so DistributedDataParallel sees (and syncs) it."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.model.log_prob(inputs, targets)


def truncate_windows(inputs: np.ndarray, context_size: int, rate: float, pad: int,
                     rng: np.random.Generator) -> None:
    """In place: in a `rate` share of rows, pad the oldest 1..k window positions (teaches
    stream and lane starts)."""
    n, k = len(inputs), context_size
    if k == 0 or rate <= 0:
        return
    chosen = rng.random(n) < rate
    pad_until = np.where(chosen, rng.integers(1, k + 1, n), 0)
    window = inputs[:, :k]
    window[np.arange(k)[None, :] < pad_until[:, None]] = pad


def _tensor(values: np.ndarray, device: str) -> torch.Tensor:
    return torch.from_numpy(values.astype(np.int64, copy=False)).to(device)


def total_nats(model: torch.nn.Module, rows: Rows, device: str, batch_size: int = 8192) -> float:
    """Σ -ln p over all rows, without gradient."""
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            inputs, targets = rows.inputs[start:start + batch_size], rows.targets[start:start + batch_size]
            total -= float(model.log_prob(_tensor(inputs, device), _tensor(targets, device)).double().sum())
    return total


def mean_bits(model: torch.nn.Module, rows: Rows, device: str, batch_size: int = 8192) -> float:
    """Mean -log2 p over all rows, without gradient."""
    return total_nats(model, rows, device, batch_size) / max(len(rows), 1) / LN2


def train(model: torch.nn.Module, streams: Sequence[np.ndarray] | TrainingData, config: TrainConfig = TrainConfig(),
          on_progress: Callable[[Progress], None] | None = None) -> TrainResult:
    """Fit `model` in place by maximum likelihood (Adam, cosine learning rate, early stopping).

    streams: int64[n_i] symbol arrays in [0, model.alphabet_size), or `TrainingData` of the
    model. Deterministic for a seed on a given device, thread count and number of processes.

    Inside a process group (`distributed`), every rank trains on its shard within
    DistributedDataParallel: `config.batch_size` is the global batch (split over the ranks),
    every rank takes the same number of steps (a rank with a smaller shard starts its next
    pass sooner) and validation is summed over all ranks, so all stop together.
    """
    data = streams if isinstance(streams, TrainingData) else TrainingData(model, stream_pieces(streams), config)
    rank, world = distributed.rank(), distributed.world_size()
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed + rank)
    rng = np.random.default_rng([config.seed, rank])
    if -distributed.largest([-data.n_train])[0] == 0:
        raise ValueError("no training rows" if world == 1 else
                         f"no training rows on some of the {world} processes (fewer pieces of data than processes)")

    model.to(config.device)
    learner: torch.nn.Module = _LogLikelihood(model)
    if distributed.active():
        on_gpu = config.device.startswith("cuda")
        learner = torch.nn.parallel.DistributedDataParallel(learner, device_ids=[config.device] if on_gpu else None)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate,
                                 weight_decay=config.weight_decay)
    batch_size = max(1, config.batch_size // world)
    steps_per_epoch = int(distributed.largest([math.ceil(data.n_train / batch_size)])[0])
    total_steps = steps_per_epoch * config.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(step / total_steps, 1))))
    n_evaluations = config.epochs * config.evaluations_per_epoch
    evaluation_steps = {math.ceil(i * total_steps / n_evaluations) for i in range(1, n_evaluations + 1)}

    start_time = time.perf_counter()
    result = TrainResult(best_validation_bits=math.inf, seconds=0.0)
    best_state, evaluations_since_best = None, 0
    running_nats, running_rows, trained_rows = 0.0, 0, 0
    batches = data.batches(batch_size, rng)
    for step in range(1, total_steps + 1):
        learner.train()
        inputs, targets = next(batches)
        truncate_windows(inputs, model.context_size, config.truncate_rate, model.alphabet_size, rng)
        loss = -learner(_tensor(inputs, config.device), _tensor(targets, config.device)).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        running_nats += float(loss.detach()) * len(targets)
        running_rows += len(targets)
        trained_rows += len(targets)
        if step not in evaluation_steps:
            continue
        model.eval()
        validation_nats, validation_rows, running_nats, running_rows = distributed.total(
            [total_nats(model, data.validation, config.device), len(data.validation), running_nats, running_rows])
        train_bits = running_nats / running_rows / LN2
        validation_bits = validation_nats / validation_rows / LN2 if validation_rows else train_bits
        progress = Progress(epoch=step / steps_per_epoch, step=step, train_bits=train_bits,
                            validation_bits=validation_bits, learning_rate=schedule.get_last_lr()[0],
                            seconds=time.perf_counter() - start_time)
        result.history.append(progress)
        if on_progress:
            on_progress(progress)
        running_nats, running_rows = 0.0, 0
        if validation_bits < result.best_validation_bits:
            result.best_validation_bits = validation_bits
            best_state = copy.deepcopy(model.state_dict())
            evaluations_since_best = 0
        else:
            evaluations_since_best += 1
            if evaluations_since_best >= config.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - start_time
    result.samples_per_second = distributed.total([trained_rows])[0] / max(result.seconds, 1e-9)
    result.processes = world
    return result


def write_log(result: TrainResult, config: TrainConfig, path: str | Path, extra: dict | None = None) -> None:
    """JSON training log: the config, every evaluation, the best validation bits/symbol."""
    record = {"train_config": asdict(config), **result.to_json(), **(extra or {})}
    Path(path).write_text(json.dumps(record, indent=2))


def plot_learning_curve(result: TrainResult, path: str | Path) -> bool:
    """Learning-curve PNG; returns False (writes nothing) when matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    epochs = [p.epoch for p in result.history]
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(epochs, [p.train_bits for p in result.history], label="train")
    axes.plot(epochs, [p.validation_bits for p in result.history], label="validation")
    axes.set_xlabel("epoch")
    axes.set_ylabel("bits / symbol")
    axes.legend()
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
    return True


# --- recipes: train a model of each kind and return its exact coding model ---------------


@dataclass(frozen=True)
class Fitted:
    """A trained coding model and how training went.

    validation_bits: float model's held-out bits/symbol; integer_validation_bits: the exact
    integer model's on the same rows (the cost of quantisation is their difference).
    """

    model: Any
    result: TrainResult
    integer_validation_bits: float
    network: torch.nn.Module | None = None  # the float model, where there is one


def held_out(streams: Sequence[np.ndarray], validation_fraction: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Split every stream into its leading (training) and trailing (validation) part, as `split_rows` does."""
    cuts = [len(s) - round(len(s) * validation_fraction) for s in streams]
    return [s[:cut] for s, cut in zip(streams, cuts)], [s[cut:] for s, cut in zip(streams, cuts)]


def integer_code_bits(frequencies: Callable[[np.ndarray], np.ndarray], rows: Rows, batch_size: int = 8192) -> float:
    """Total bits of exact integer tables (inputs int64[N, w] -> int64[N, K]) on `rows`."""
    total = 0.0
    for start in range(0, len(rows), batch_size):
        freqs = frequencies(rows.inputs[start : start + batch_size].astype(np.int64, copy=False))
        total += float(np.sum(table_code_bits(freqs, rows.targets[start : start + batch_size].astype(np.int64))))
    return total


def integer_bits(frequencies: Callable[[np.ndarray], np.ndarray], rows: Rows, batch_size: int = 8192) -> float:
    """Mean bits/symbol of exact integer tables (inputs int64[N, w] -> int64[N, K]) on `rows`."""
    return integer_code_bits(frequencies, rows, batch_size) / len(rows) if len(rows) else math.nan


def fit_histogram(streams: Sequence[np.ndarray], alphabet_size: int, config: TrainConfig) -> Fitted:
    """Maximum likelihood for the histogram is counting (+1 so no symbol is impossible)."""
    from deepcompress.models.histogram import HistogramModel

    start = time.perf_counter()
    training, validation = held_out(streams, config.validation_fraction)
    model = HistogramModel.fit(np.concatenate(training) if training else np.zeros(0, np.int64), alphabet_size)
    log2_probs = np.log2(model.probs())
    mean = (lambda parts: -float(np.concatenate(parts).size and log2_probs[np.concatenate(parts)].mean()))
    bits = mean(validation) if sum(len(v) for v in validation) else mean(training)
    progress = Progress(1.0, 1, mean(training), bits, 0.0, time.perf_counter() - start)
    result = TrainResult(bits, progress.seconds, [progress])
    return Fitted(model, result, bits)


def fit_mlp(
    streams: Sequence[np.ndarray] | Sequence[Piece], mlp_config: Any, config: TrainConfig,
    on_progress: Callable[[Progress], None] | None = None, dropout: float = 0.0
) -> Fitted:
    """Train an `MLPNet` (with training `dropout`) by maximum likelihood, then quantise it to the exact `MLPModel`.

    streams: int64[n_i] symbol arrays, or `Piece`s read on demand (`source_pieces`). In a
    process group every rank returns the same model (quantised on every rank's calibration
    rows) and the exact model's validation bits over all ranks.
    """
    from deepcompress.models.mlp import MLPModel, MLPNet

    torch.manual_seed(config.seed)
    net = MLPNet(mlp_config, dropout)
    pieces = list(streams) if all(isinstance(s, Piece) for s in streams) else stream_pieces(streams)
    data = TrainingData(net, pieces, config)
    result = train(net, data, config, on_progress)
    model = MLPModel.from_net(net, distributed.gathered(data.calibration).astype(np.int64))
    bits, rows = distributed.total([integer_code_bits(model.frequencies, data.validation), len(data.validation)])
    return Fitted(model, result, bits / rows if rows else math.nan, net)


def train_record_net(streams: Sequence[np.ndarray], config: Any, train_config: TrainConfig,
                     on_progress: Callable | None = None, dropout: float = 0.0) -> tuple[torch.nn.Module, TrainResult]:
    """Train a float `RecordNet` by maximum likelihood: (net on the CPU, `train.TrainResult`).

    streams: int64[n_i] element streams of whole records (see `record_streams`), values in [0, K).
    """
    for stream in streams:
        if len(stream) and (stream.min() < 0 or stream.max() >= config.alphabet_size):
            raise ValueError(f"training values [{stream.min()}, {stream.max()}] lie outside the model's "
                             f"alphabet [0, {config.alphabet_size})")
    from deepcompress.models.records import RecordNet

    torch.manual_seed(train_config.seed)
    net = RecordNet(config, dropout)
    result = train(net, streams, train_config, on_progress)
    return net.cpu().eval(), result


def fit_record_mlp(streams: Sequence[np.ndarray], config: Any, train_config: TrainConfig,
                   on_progress: Callable | None = None, dropout: float = 0.0) -> Fitted:
    """Train a `RecordNet` (config: `RecordConfig`) and quantise it to the exact `RecordModel`."""
    from deepcompress.models.records import RecordModel

    net, result = train_record_net(streams, config, train_config, on_progress, dropout)
    training_rows, validation_rows = split_rows(net, streams, train_config.validation_fraction)
    model = RecordModel.from_net(net, training_rows.inputs[:: max(1, len(training_rows) // 200_000)])
    return Fitted(model, result, integer_bits(model.frequencies, validation_rows), net)


# --- training a model of a named kind on whole files (what `deepcompress train` runs) ----------

KINDS = ("mlp", "histogram", "record-mlp")
MAX_HIDDEN_WIDTH = 518  # the exactness bound of the integer networks (exact.check_exactness_bounds)
# per-kind defaults of the settings a caller leaves unset
DEFAULTS = {"mlp": {"hidden": (512,), "embed_dim": 32, "epochs": 2, "batch_size": 1024, "dropout": 0.1},
            "histogram": {"hidden": (512,), "embed_dim": 32, "epochs": 1, "batch_size": 1024, "dropout": 0.0},
            "record-mlp": {"hidden": (256, 128), "embed_dim": 4, "epochs": 20, "batch_size": 256, "dropout": 0.2}}


@dataclass(frozen=True)
class ModelOptions:
    """What to train. None: the kind's default (`DEFAULTS`). alphabet: arrays' K (values 0..K-1;
    default: the largest training value + 1); follower_orders: the byte MLP's follower inputs."""

    kind: str = "mlp"
    context_size: int = 16
    hidden: tuple[int, ...] | None = None
    embed_dim: int | None = None
    dropout: float | None = None
    alphabet: int | None = None
    follower_orders: tuple[int, ...] = (2, 3, 4, 6, 8, 12)
    crlf: bool = True  # the byte MLP: every second piece of LF text trains with CRLF line ends (`crlf_variants`)

    def setting(self, name: str) -> Any:
        value = getattr(self, name)
        return DEFAULTS[self.kind][name] if value is None else value


def config_for(kind: str, epochs: int | None = None, batch_size: int | None = None, **settings: Any) -> TrainConfig:
    """A `TrainConfig` with the kind's default epochs and batch size where none are given."""
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; choose one of {', '.join(KINDS)}")
    return TrainConfig(epochs=epochs or DEFAULTS[kind]["epochs"], batch_size=batch_size or DEFAULTS[kind]["batch_size"],
                       **settings)


def array_alphabet(arrays: Sequence[np.ndarray], alphabet: int | None) -> int:
    """K of a model of `arrays`: values 0..K-1 (default: the largest value + 1)."""
    low = min((int(a.min()) for a in arrays if a.size), default=0)
    high = max((int(a.max()) for a in arrays if a.size), default=0)
    if low < 0:
        raise ValueError(f"training arrays hold negative values (down to {low}); array models code values 0..K-1")
    if alphabet is not None and high >= alphabet:
        raise ValueError(f"training arrays hold values up to {high}, outside the alphabet of {alphabet}")
    return alphabet if alphabet is not None else high + 1


def fit_files(files: Sequence[tuple[bytes, np.ndarray | None]], options: ModelOptions, config: TrainConfig,
              on_progress: Callable[[Progress], None] | None = None) -> Fitted:
    """Train `options.kind` on whole files, each (its bytes, its integer array or None) as `api.load_input` reads it.

    Byte models train on every file's bytes (those of .npy files too); `record-mlp`, and
    `histogram` when every file is an integer array, train on the arrays' elements.
    """
    from deepcompress.symbols import record_size_of, record_streams

    hidden = _hidden_widths(options)
    streams = [np.frombuffer(data, dtype=np.uint8).astype(np.int64) for data, _ in files]
    arrays = [array for _, array in files] if all(array is not None for _, array in files) else None
    if options.kind == "record-mlp":
        from deepcompress.models.records import RecordConfig

        if arrays is None:
            raise ValueError("--model record-mlp trains on integer .npy arrays only")
        sizes = {record_size_of(array) for array in arrays}
        if len(sizes) != 1:
            raise ValueError(f"training arrays have different record sizes {sorted(sizes)} (elements per row)")
        record_config = RecordConfig(max(array_alphabet(arrays, options.alphabet), 2), sizes.pop(), hidden,
                                     options.setting("embed_dim"))
        return fit_record_mlp(record_streams(arrays), record_config, config, on_progress, options.setting("dropout"))
    if options.kind == "histogram":
        if arrays is not None:
            return fit_histogram(record_streams(arrays), array_alphabet(arrays, options.alphabet), config)
        return fit_histogram(streams, 256, config)
    return fit_sources([ByteSource.of_bytes(data) for data, _ in files], options, config, on_progress)


def fit_sources(sources: Sequence[ByteSource], options: ModelOptions, config: TrainConfig,
                on_progress: Callable[[Progress], None] | None = None) -> Fitted:
    """Train the byte MLP (`options.kind` "mlp") on files read as a stream.

    Every file trains as pieces of PIECE_BYTES, each read when a pass over the data needs
    it, so the corpus need not fit in memory; in a process group a rank reads only its shard
    (with fewer pieces than processes, the files are cut into as many pieces as processes).
    """
    if options.kind != "mlp":
        raise ValueError(f"training from byte sources is for --model mlp, not {options.kind}")
    from deepcompress.models.mlp import MLPConfig

    mlp_config = MLPConfig(alphabet_size=256, context_size=options.context_size, embed_dim=options.setting("embed_dim"),
                           hidden=_hidden_widths(options), follower_orders=options.follower_orders)
    pieces = source_pieces(sources)
    if len(pieces) < distributed.world_size():
        pieces = source_pieces(sources, max(1, -(-sum(s.size for s in sources) // distributed.world_size())))
    return fit_mlp(crlf_variants(pieces) if options.crlf else pieces, mlp_config, config, on_progress,
                   options.setting("dropout"))


# The network of `train --model hybrid` unless told otherwise: 8 bytes of context, 64 hidden
# units, embeddings of 16 (a 284 KB network). On the small-file sets with a 1 MB budget it gains
# 2.0% (stdlib) and 1.4% (copyright) on the prior alone (benchmarks/small_files.py).
HYBRID_NETWORK = {"context_size": 8, "hidden": (64,), "embed_dim": 16}


def fit_hybrid(files: Sequence[bytes], options: ModelOptions, config: TrainConfig, level: int, size: int,
               on_progress: Callable[[Progress], None] | None = None, preset: int | None = None,
               prime_bytes: int | None = None) -> Fitted:
    """Train a `hybrid` within a model file of `size` bytes: the byte MLP of `options` (one
    hidden layer, no follower inputs) on `files`, then a prior (`train_prior` of `level`, or of
    `preset`, primed with `prime_bytes`) on the same files in the bytes the network leaves."""
    from deepcompress.models.hybrid import HybridModel
    from deepcompress.models.prior import MIN_BUDGET, MODEL_FILE_SLACK, train_prior

    if len(_hidden_widths(options)) != 1 or options.follower_orders:
        raise ValueError("a hybrid's network has one hidden layer and no follower inputs (--followers none)")
    fitted = fit_sources([ByteSource.of_bytes(data) for data in files], options, config, on_progress)
    # the network's arrays and a second slack for their share of the model file's JSON header
    network_bytes = sum(array.nbytes for array in fitted.model.parameter_arrays().values()) + MODEL_FILE_SLACK
    if size - network_bytes < MIN_BUDGET:
        raise ValueError(f"the hybrid's network takes {network_bytes} bytes: a budget of {size} leaves its "
                         f"prior less than {MIN_BUDGET}")
    model = HybridModel(train_prior(files, level, size - network_bytes, preset=preset, prime_bytes=prime_bytes), fitted.model)
    return Fitted(model, fitted.result, fitted.integer_validation_bits, fitted.network)


def _hidden_widths(options: ModelOptions) -> tuple[int, ...]:
    hidden = options.setting("hidden")
    if not hidden or not all(1 <= width <= MAX_HIDDEN_WIDTH for width in hidden):
        raise ValueError(f"hidden widths must lie in [1, {MAX_HIDDEN_WIDTH}] (the exactness bound), got {hidden}")
    return hidden


def training_metadata(fitted: Fitted, file_names: Sequence[str]) -> dict[str, Any]:
    """What a model file records about its training: the log, the exact model's validation bits, the files."""
    return {"training": {**fitted.result.to_json(), "integer_validation_bits": fitted.integer_validation_bits,
                         "files": list(file_names)}}


def check_plotting() -> None:
    """Raise ImportError (with the install command) unless `plot_learning_curve` can draw."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install 'deepcompress[plot]'") from None
