"""The int8 CPU backend: a model exported to ONNX, its MatMuls quantized to int8, run by ONNX Runtime.

    asr export --model de --onnx --out de.onnx          # or: any command with --backend onnx
    asr transcribe talk.wav --model de.onnx

The export takes dynamic batch and length and always builds the padding mask,
so a padded batch gives each input the frames it gets alone, as in PyTorch;
`OnnxModel` still runs each input alone, as the int8 activations' scale is
set per call (see its `__call__`).
Dynamic int8 quantization of the MatMuls (weights int8 per output channel,
activations quantized per call) is what ONNX Runtime runs fastest on a CPU with
VNNI. Per channel rather than per tensor, the shipped German model's greedy WER
on the 792 test utterances of its corpus is 48.91 % against fp32's 48.90 (per
tensor 49.25), at the same speed (ad hoc, both exports side by side). The
input convolutions are exported as matrix products (asr.models.WhisperEncoder.onnx_stem_as_matmul), so they are
quantized with the linear layers: on an AMX Xeon the model ran at RTFx 117.9 against 108.4 with them as fp32 Conv
operators (one thread, bench/results/onnx_quantization-de-amx-stem.json). Layer norms, softmax and the attention's
activation products stay fp32: quantizing those products was slower on an AVX2 EPYC (bench/onnx_quantization.py) and
on the AMX Xeon (106.7), and ONNX Runtime's ConvInteger slower still (93.0 against 140.7, the run before,
bench/results/onnx_quantization-de-amx.json). Weights are signed 7-bit ("reduce_range") by default, on every CPU.
Without VNNI, ONNX Runtime's unsigned-by-signed kernel saturates its 16-bit sums with 8-bit weights (on a tiny model,
log-probabilities off by up to 0.47), and 7 bits keep the sums in range; with VNNI, 8-bit weights were no closer to
fp32 and no faster. Greedy WER against the fp32 export on whole test sets (bench/onnx_weights.sh): on an AVX2-only
EPYC, Spanish +0.26 points with 7-bit weights, +1.08 with 8-bit; on a Zen 4 EPYC with VNNI, Spanish +0.15 against
+0.58 (RTFx 198 against 193), German -0.09 against +0.01 (199 against 187), Italian +0.26 against +0.38 (203 against
201; bench/results/onnx_weights-*-zen4.md).
Unsigned weights avoid the saturation too, through a slower kernel (+0.27 points at RTFx 86.0 on the AVX2 EPYC,
against 98.5 for 7-bit). `asr export --onnx --int8-weights s8` still makes 8-bit weights, and an export with them
warns when it is loaded on a CPU without VNNI.
The file is self-contained:
the vocabulary, frontend and language travel in its metadata, as in a
checkpoint's header. `OnnxModel` stands where a PyTorch model stands in
`asr.transcribe.Transcriber`, so decoding, streaming and serving are the same.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from asr.checkpoint import METADATA_KEY, ModelBundle, bundle_from_header, bundle_header
from asr.cpu import cpu_has_vnni
from asr.features import FRAME_MULTIPLE
from asr.files import atomic_path, sha256_file

INPUTS, OUTPUTS = ("features", "feature_lengths"), ("log_probs", "lengths")
INSTALL_HINT = "the onnx backend needs onnxruntime and onnx: pip install 'transfer-asr[onnx]' (make setup installs them)"


def _require():
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return onnx, onnxruntime


WEIGHT_TYPES = {"s7": "signed 7-bit weights", "s8": "signed 8-bit weights, for a CPU with VNNI only",
                "u8": "unsigned 8-bit weights"}
INT8_WEIGHTS = "s7"  # the default on every CPU: see the module's docstring


def quantization_arguments(weights: str) -> dict:
    """ONNX Runtime's `quantize_dynamic` arguments for a WEIGHT_TYPES key: per output channel, as the module's docstring says."""
    from onnxruntime.quantization import QuantType

    return {"weight_type": QuantType.QUInt8 if weights == "u8" else QuantType.QInt8, "per_channel": True,
            "reduce_range": weights == "s7"}


def export_onnx(bundle: ModelBundle, path: str | Path, int8: bool = True, weights: str | None = None) -> dict:
    """Write `bundle` as an ONNX model (int8 MatMuls unless `int8` is False); returns what was written.

    `weights`: a key of WEIGHT_TYPES (None: INT8_WEIGHTS)."""
    onnx, _ = _require()
    weights = (weights or INT8_WEIGHTS) if int8 else None
    if weights is not None and weights not in WEIGHT_TYPES:
        raise ValueError(f"int8 weights are one of {', '.join(WEIGHT_TYPES)}, not {weights!r}")

    if bundle.architecture != "whisper-encoder-ctc":
        raise ValueError(f"only whisper-encoder-ctc models are exported to ONNX, not {bundle.architecture}")
    model = bundle.model.float().eval()
    n_mels = bundle.frontend.n_mels
    # Two inputs of different lengths: the traced graph is the padded one, mask included.
    features, lengths = torch.randn(2, n_mels, 400), torch.tensor([400, 300])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        plain = Path(scratch) / "model.onnx"
        torch.onnx.export(
            model, (features, lengths), str(plain), input_names=list(INPUTS), output_names=list(OUTPUTS), opset_version=17,
            dynamic_axes={"features": {0: "batch", 2: "frames"}, "feature_lengths": {0: "batch"},
                          "log_probs": {0: "batch", 1: "output_frames"}, "lengths": {0: "batch"}},
            dynamo=False,
        )
        final = plain
        if int8:
            from onnxruntime.quantization import quantize_dynamic

            final = Path(scratch) / "model.int8.onnx"
            quantize_dynamic(str(plain), str(final), op_types_to_quantize=["MatMul"], **quantization_arguments(weights))
        graph = onnx.load(str(final))
        header = {**bundle_header(bundle), "onnx": {"int8": int8, "weights": weights}}
        graph.metadata_props.add(key=METADATA_KEY, value=json.dumps(header))
        with atomic_path(path) as partial:
            onnx.save(graph, str(partial))
    return {"int8": int8, "weights": weights, "bytes": path.stat().st_size}


class OnnxModel:
    """An ONNX Runtime session with the calls Transcriber makes of a PyTorch model.

    Inputs run alone (see `__call__`), so the inputs of a batch run side by side, one thread each, on a session of
    one intra-op thread: on a 2-core Zen 5 EPYC, 100 Spanish test clips ran at RTFx 422 that way against 328 one
    after another on both threads (model alone, ad hoc, idle). A lone input (a stream's window) still gets every
    thread. On some CPUs that rounds differently from one thread in the last bits (a 2-core AVX-512 Xeon, not the
    AVX2 EPYC), and int8 quantization can make a few ulps a step: there a clip alone gets slightly other frames than
    in a batch (tests/test_onnx.py's tiny model: sums over 50 frames 0.007 % apart). Neither session's threads
    spin-wait between runs: the frontend's PyTorch threads run between them, and
    spinning took the Transcriber's RTFx from 272 to 227 on the same clips (ad hoc, idle).
    """

    def __init__(self, path: str | Path, threads: int = 0, precision: str = "int8"):
        _, onnxruntime = _require()

        def session(intra_op_threads: int):
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = intra_op_threads
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        self.threads = threads or torch.get_num_threads()
        self.session = session(self.threads)
        self.one_thread_session = session(1) if self.threads > 1 else self.session
        # One pool for every call, so that the inputs of calls made side by side (the Transcriber keeps two batches
        # in flight) queue for the same threads, and a thread that ends one batch goes on with the next.
        self.input_pool = ThreadPoolExecutor(self.threads, thread_name_prefix="onnx-input") if self.threads > 1 else None
        self.path = Path(path)
        self.precision = precision  # onnx_precision of its header

    def __call__(self, features: torch.Tensor, feature_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each input run alone, zero-padded to a multiple of FRAME_MULTIPLE frames: dynamic int8 quantization
        scales a call's activations by their range over the whole batch, so in a batch an input's frames would
        depend on the others (51 of 100 German test transcripts changed between batches of 8 and of 1, ad hoc).
        Alone, the speed is the same on a 2-core CPU: RTFx 45.1 against torch fp32's 33.2 in one run
        (bench/results/transcribe_backends-cpu-avx2-onnx-per-input.json), batched 40.6 against 29.5. Frames past
        an input's length are zeros."""
        inputs = [
            {"features": torch.nn.functional.pad(one[:, :length], (0, -length % FRAME_MULTIPLE))[None].numpy(),
             "feature_lengths": np.array([length], dtype=np.int64)}
            for one, length in zip(features.float().cpu(), feature_lengths.cpu().tolist())
        ]
        if len(inputs) == 1 or self.input_pool is None:
            runs = [self.session.run(list(OUTPUTS), one) for one in inputs]
        else:  # ONNX Runtime lets go of the GIL
            runs = list(self.input_pool.map(lambda one: self.one_thread_session.run(list(OUTPUTS), one), inputs))
        lengths = torch.tensor([int(n[0]) for _, n in runs])
        log_probs = torch.zeros(len(runs), int(lengths.max()), runs[0][0].shape[-1])
        for i, ((frames, _), n) in enumerate(zip(runs, lengths.tolist())):
            log_probs[i, :n] = torch.from_numpy(frames[0, :n])
        return log_probs, lengths

    def to(self, device) -> OnnxModel:
        if torch.device(device).type != "cpu":
            raise ValueError("the onnx backend runs on the CPU; use --backend torch on a GPU")
        return self

    def eval(self) -> OnnxModel:
        return self

    def parameters(self):
        import onnx

        for initializer in onnx.load(str(self.path)).graph.initializer:
            yield torch.from_numpy(onnx.numpy_helper.to_array(initializer).copy())

    @staticmethod
    def seconds_per_output_frame(seconds_per_feature_frame: float) -> float:
        return 2 * seconds_per_feature_frame  # Whisper's encoder: two feature frames per output frame


def onnx_header(path: str | Path) -> dict:
    """The checkpoint header an export carries, with its "onnx" entry: {"int8": bool, "weights": a WEIGHT_TYPES key}."""
    onnx, _ = _require()
    metadata = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    if METADATA_KEY not in metadata:
        raise ValueError(f"{path}: not an ONNX export of Transfer ASR (no {METADATA_KEY!r} metadata); make one with `asr export --onnx`")
    return json.loads(metadata[METADATA_KEY])


def onnx_precision(header: dict) -> str:
    """What an export's MatMuls run in, from its header: "int8", or "fp32" for one made with --no-int8."""
    return "int8" if header["onnx"]["int8"] else "fp32"


def load_onnx(path: str | Path) -> ModelBundle:
    path = Path(path)
    header = onnx_header(path)
    if header["onnx"].get("weights", "s8" if header["onnx"]["int8"] else None) == "s8" and not cpu_has_vnni():
        # Exports from before the weight type was recorded are signed.
        warnings.warn(f"{path}: its int8 weights are signed 8-bit, made for a CPU with VNNI; this CPU has none, so ONNX Runtime's "
                      f"sums saturate and accuracy suffers. Export it again with the default 7-bit weights (asr export --onnx), "
                      f"or use --backend torch.",
                      RuntimeWarning, stacklevel=2)
    bundle = bundle_from_header(header)
    bundle.model = OnnxModel(path, precision=onnx_precision(header))
    return bundle


def cached_onnx(checkpoint: str | Path, bundle: ModelBundle) -> Path:
    """The int8 ONNX export of a checkpoint, made once and kept in the cache, keyed by the checkpoint's content."""
    from asr.pretrained import cache_dir

    # The version at the end moves whenever the exported graph or its quantization changes, so old exports are remade.
    key = hashlib.sha256(f"{sha256_file(checkpoint)} int8 {INT8_WEIGHTS} v6".encode()).hexdigest()[:24]
    path = cache_dir() / "onnx" / f"{Path(checkpoint).stem}-{key}.int8.onnx"
    if not path.is_file():
        export_onnx(bundle, path, int8=True)
    return path
