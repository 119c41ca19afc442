"""The int8 CPU backend: ONNX export, agreement with PyTorch on padded batches, and backend selection."""

import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from asr.checkpoint import save_checkpoint
from asr.cli import main
from asr.decoding import Hypothesis, Word
from asr.onnx_model import OnnxModel, export_onnx, load_onnx
from asr.transcribe import Transcriber, TranscribeOptions
from eval.systems import CheckpointSystem
from tests.tiny import tiny_bundle, write_tone

pytest.importorskip("onnxruntime", reason="the onnx backend: pip install onnxruntime onnx")
onnx = pytest.importorskip("onnx", reason="the onnx backend: pip install onnxruntime onnx")


def features(lengths: list[int], n_mels: int = 80) -> tuple[torch.Tensor, torch.Tensor]:
    """A padded batch as the frontend makes it: each input's frames, zeros past its end."""
    generator = torch.Generator().manual_seed(0)
    batch = torch.zeros(len(lengths), n_mels, max(lengths))
    for i, n in enumerate(lengths):
        batch[i, :, :n] = torch.randn(n_mels, n, generator=generator)
    return batch, torch.tensor(lengths)


@pytest.mark.parametrize("int8", [False, True])
def test_the_onnx_export_gives_pytorchs_frames_on_padded_and_unpadded_inputs(tmp_path, int8):
    bundle = tiny_bundle()
    export_onnx(bundle, tmp_path / "m.onnx", int8=int8)  # int8: the weight type for this CPU
    onnx_model = load_onnx(tmp_path / "m.onnx").model
    assert isinstance(onnx_model, OnnxModel)
    # The padding mask is added to the attention scores: a boolean one exports as Where and IsNaN on every score.
    nodes = [node.op_type for node in onnx.load(str(tmp_path / "m.onnx")).graph.node]
    assert "IsNaN" not in nodes and "Softmax" in nodes
    # The input convolutions are matrix products, which int8 quantizes with the linear layers (all but the
    # attention's two activation products): 4 in each attention, 2 in each MLP, the stem's 2 and the head.
    linear_products = 6 * bundle.model.encoder.config.n_layer + 2 + 1
    assert "Conv" not in nodes
    assert nodes.count("MatMulInteger" if int8 else "MatMul") == linear_products + (0 if int8 else 2 * bundle.model.encoder.config.n_layer)
    tolerance = 0.1 if int8 else 1e-4  # int8 MatMuls round; fp32 is the same arithmetic
    batch, lengths = features([300, 170, 41])
    with torch.no_grad():
        reference, reference_lengths = bundle.model(batch, lengths)
    padded, padded_lengths = onnx_model(batch, lengths)
    assert padded_lengths.tolist() == reference_lengths.tolist() == [150, 85, 21]
    for i, n in enumerate(padded_lengths.tolist()):
        alone, _ = onnx_model(batch[i : i + 1, :, : lengths[i]], lengths[i : i + 1])
        torch.testing.assert_close(padded[i, :n], reference[i, :n], atol=tolerance, rtol=0)
        # Neither padding nor the other inputs change an input's frames (int8 activations are scaled per call).
        assert torch.equal(alone[0, :n], padded[i, :n])
    # The export itself, run on the padded batch directly: padding is invisible to fp32.
    if not int8:
        (batched, _) = onnx_model.session.run(None, {"features": batch.numpy(), "feature_lengths": lengths.numpy()})
        for i, n in enumerate(padded_lengths.tolist()):
            torch.testing.assert_close(torch.from_numpy(batched[i, :n]), padded[i, :n], atol=1e-4, rtol=0)


def test_backend_selection_and_the_export_command(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TRANSFER_ASR_CACHE", str(tmp_path / "cache"))  # where --backend onnx keeps its export
    checkpoint = tmp_path / "m.safetensors"
    save_checkpoint(checkpoint, tiny_bundle())
    torch_transcriber = Transcriber(checkpoint, device="cpu", precision="fp32")
    onnx_transcriber = Transcriber(checkpoint, device="cpu", backend="onnx")
    assert (torch_transcriber.backend, torch_transcriber.precision) == ("torch", "fp32")
    assert (onnx_transcriber.backend, onnx_transcriber.precision) == ("onnx", "int8")
    wave = torch.randn(16000) * 0.1
    a, a_frames = torch_transcriber.log_probs([wave])
    b, b_frames = onnx_transcriber.log_probs([wave])
    assert a_frames.tolist() == b_frames.tolist() == [50]
    assert (a[0, :50] - b[0, :50]).abs().max() < 0.1
    assert len(list((tmp_path / "cache" / "onnx").glob("*.int8.onnx"))) == 1
    with pytest.raises(ValueError, match="torch or onnx"):
        Transcriber(checkpoint, device="cpu", backend="tensorrt")

    assert main(["export", "--model", str(checkpoint), "--onnx", "--out", str(tmp_path / "m.onnx")]) == 0
    assert "int8 MatMuls" in capsys.readouterr().err
    audio = write_tone(tmp_path / "a.wav")
    assert main(["transcribe", str(audio), "--model", str(tmp_path / "m.onnx"), "--output-dir", str(tmp_path)]) == 0
    assert "onnx int8 on cpu" in capsys.readouterr().err
    assert main(["transcribe", str(audio), "--model", str(checkpoint), "--backend", "onnx", "--output-dir", str(tmp_path)]) == 0
    assert "onnx int8" in capsys.readouterr().err
    # An export with fp32 weights says so wherever it runs, an evaluation included.
    assert main(["export", "--model", str(checkpoint), "--onnx", "--no-int8", "--int8-weights", "u8", "--out", str(tmp_path / "f.onnx")]) == 0
    assert "MB ONNX, fp32" in capsys.readouterr().err
    assert main(["transcribe", str(audio), "--model", str(tmp_path / "f.onnx"), "--output-dir", str(tmp_path)]) == 0
    assert "onnx fp32 on cpu" in capsys.readouterr().err
    system = CheckpointSystem(tmp_path / "f.onnx", device="cpu")
    assert (system.backend, system.precision) == ("onnx", "fp32")
    # Cached transcripts of --backend onnx are those of the export's weight type, the same on every CPU.
    prints = set()
    for vnni in (True, False):
        monkeypatch.setattr("asr.onnx_model.cpu_has_vnni", lambda: vnni)
        prints.add(CheckpointSystem(checkpoint, device="cpu", backend="onnx").fingerprint)
    assert len(prints) == 1 and CheckpointSystem(checkpoint, device="cpu", precision="fp32").fingerprint not in prints
    monkeypatch.setattr("asr.onnx_model.INT8_WEIGHTS", "s8")
    assert CheckpointSystem(checkpoint, device="cpu", backend="onnx").fingerprint not in prints
    assert main(["export", "--model", str(checkpoint), "--onnx", "--int8-weights", "u8", "--out", str(tmp_path / "u.onnx")]) == 0
    assert "int8 MatMuls, unsigned 8-bit weights" in capsys.readouterr().err


def test_int8_weights_are_7_bit_on_every_cpu_and_an_8_bit_export_warns_on_a_cpu_without_vnni(tmp_path, monkeypatch):
    bundle = tiny_bundle()
    for vnni in (True, False):
        monkeypatch.setattr("asr.onnx_model.cpu_has_vnni", lambda: vnni)
        assert export_onnx(bundle, tmp_path / "s7.onnx")["weights"] == "s7"
    monkeypatch.setattr("asr.onnx_model.cpu_has_vnni", lambda: True)
    assert export_onnx(bundle, tmp_path / "s8.onnx", weights="s8")["weights"] == "s8"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_onnx(tmp_path / "s8.onnx")  # a CPU with VNNI runs 8-bit weights
    monkeypatch.setattr("asr.onnx_model.cpu_has_vnni", lambda: False)
    assert export_onnx(bundle, tmp_path / "u8.onnx", weights="u8")["weights"] == "u8"
    with pytest.warns(RuntimeWarning, match="signed 8-bit, made for a CPU with VNNI.*default 7-bit weights.*asr export --onnx"):
        load_onnx(tmp_path / "s8.onnx")
    # 7-bit and unsigned weights agree with PyTorch on any CPU: no kernel saturates their sums.
    batch, lengths = features([300, 170])
    with torch.no_grad():
        reference, _ = bundle.model(batch, lengths)
    for weights in ("s7", "u8"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            model = load_onnx(tmp_path / f"{weights}.onnx").model
        got, frames = model(batch, lengths)
        for i, n in enumerate(frames.tolist()):
            torch.testing.assert_close(got[i, :n], reference[i, :n], atol=0.1, rtol=0)
    with pytest.raises(ValueError, match="s7, s8, u8"):
        export_onnx(bundle, tmp_path / "x.onnx", weights="s4")


def test_calls_side_by_side_share_the_input_threads_and_each_input_gets_its_frames_alone(tmp_path):
    # The Transcriber keeps two batches in flight; their inputs queue for the same pool of one-thread runs, each input
    # alone: its frames are those of the input run by itself on one thread, whatever else is in flight.
    export_onnx(tiny_bundle(), tmp_path / "m.onnx")
    model, one_thread = OnnxModel(tmp_path / "m.onnx", threads=2), OnnxModel(tmp_path / "m.onnx", threads=1)
    batch, lengths = features([300, 170, 41, 96, 250, 75])
    alone = [one_thread(batch[i : i + 1, :, :n], lengths[i : i + 1])[0][0] for i, n in enumerate(lengths.tolist())]
    with ThreadPoolExecutor(2) as callers:
        calls = list(callers.map(lambda _: model(batch, lengths)[0], range(4)))
    for log_probs in calls:
        for i, frames in enumerate(alone):
            assert torch.equal(log_probs[i, : len(frames)], frames)

    def checksums(log_probs, lengths, seconds_per_frame):  # a "decoder" whose one word is the sum of an input's frames
        sums = [f"{log_probs[i, :n].double().sum().item():.6f}" for i, n in enumerate(lengths.tolist())]
        return [Hypothesis(s, [Word(s, 0.0, 0.02, 1.0)]) for s in sums]

    # On one thread a lone clip takes the same session as a batch's (with more, a lone input runs on all of them,
    # which rounds differently on some CPUs: see OnnxModel), so pipelined batches must give each clip's own result.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        transcriber = Transcriber(tmp_path / "m.onnx", device="cpu", options=TranscribeOptions(batch_size=2))
    finally:
        torch.set_num_threads(threads)
    waves = [torch.randn(n, generator=torch.Generator().manual_seed(n)) * 0.1 for n in (16000, 8000, 24000, 4000, 12000, 20000)]
    texts = [t.text for t in transcriber.transcribe(waves, decoder=checksums)]
    assert texts == [transcriber.transcribe([wave], decoder=checksums)[0].text for wave in waves]
    assert len(set(texts)) == len(waves)
