from dataclasses import replace

import pytest
import torch

from asr.models import (
    ARCHITECTURES,
    Wav2LetterConfig,
    Wav2LetterCTC,
    Wav2LetterCTCConfig,
    WhisperCTC,
    WhisperCTCConfig,
    WhisperEncoder,
    WhisperEncoderConfig,
    attention,
    build_model,
    conv1d_time_major,
    sinusoids,
)
from conftest import TINY_ENCODER

VOCAB = 12
TINY_WAV2LETTER = Wav2LetterConfig(n_mels=TINY_ENCODER.n_mels, channels=16, wide_channels=24, n_layer=5)


WAV2LETTER_VARIANTS = {
    "wav2letter": TINY_WAV2LETTER,
    "wav2letter-normalize-input": replace(TINY_WAV2LETTER, normalize_input=True),
    "wav2letter-residual": replace(TINY_WAV2LETTER, residual=True),
}


@pytest.fixture(scope="module", params=["whisper", *WAV2LETTER_VARIANTS])
def model(request):
    torch.manual_seed(0)
    if request.param in WAV2LETTER_VARIANTS:
        return Wav2LetterCTC(Wav2LetterCTCConfig(WAV2LETTER_VARIANTS[request.param], VOCAB)).eval()
    return WhisperCTC(WhisperCTCConfig(TINY_ENCODER, VOCAB)).eval()


def test_wav2letter_residual_adds_shortcuts_to_the_same_weights():
    torch.manual_seed(0)
    residual = Wav2LetterCTC(Wav2LetterCTCConfig(replace(TINY_WAV2LETTER, residual=True), VOCAB)).eval()
    plain = Wav2LetterCTC(Wav2LetterCTCConfig(TINY_WAV2LETTER, VOCAB)).eval()
    plain.load_state_dict(residual.state_dict())  # the shortcuts add no parameters
    x, lengths = features(50, 0)[None], torch.tensor([50])
    with torch.no_grad():
        assert not torch.allclose(residual(x, lengths)[0], plain(x, lengths)[0], atol=1e-3)


def test_wav2letter_normalizing_its_input_ignores_each_bands_offset_and_scale():
    torch.manual_seed(0)
    model = Wav2LetterCTC(Wav2LetterCTCConfig(replace(TINY_WAV2LETTER, normalize_input=True), VOCAB)).eval()
    x, lengths = features(50, 0)[None], torch.tensor([50])
    scale, offset = torch.rand(TINY_ENCODER.n_mels, 1) + 0.5, torch.randn(TINY_ENCODER.n_mels, 1)
    with torch.no_grad():
        torch.testing.assert_close(model(x * scale + offset, lengths)[0], model(x, lengths)[0], atol=1e-4, rtol=0)
        plain = Wav2LetterCTC(Wav2LetterCTCConfig(TINY_WAV2LETTER, VOCAB)).eval()
        plain.load_state_dict(model.state_dict())
        assert not torch.allclose(plain(x * scale + offset, lengths)[0], plain(x, lengths)[0], atol=1e-2)



def features(frames: int, seed: int) -> torch.Tensor:
    return torch.randn(TINY_ENCODER.n_mels, frames, generator=torch.Generator().manual_seed(seed))


def padded_vs_alone(model, lengths):
    feats = [features(n, seed=i) for i, n in enumerate(lengths)]
    batch = torch.zeros(len(feats), TINY_ENCODER.n_mels, max(lengths))
    for i, f in enumerate(feats):
        batch[i, :, : f.shape[1]] = f
    with torch.no_grad():
        log_probs, out_lengths = model(batch, torch.tensor(lengths))
        alone = [model(f[None], torch.tensor([f.shape[1]])) for f in feats]
    return log_probs, out_lengths, alone


# Two different lengths, the shorter one even: the padding mask makes padding invisible.
@pytest.mark.parametrize("lengths", [[40, 30], [30, 40], [41, 30], [60, 20, 44]])
def test_padding_mask_even_lengths(model, lengths):
    log_probs, out_lengths, alone = padded_vs_alone(model, lengths)
    assert out_lengths.tolist() == [(n + 1) // 2 for n in lengths]
    assert log_probs.shape == (len(lengths), (max(lengths) + 1) // 2, VOCAB)
    for i, (single, single_length) in enumerate(alone):
        n = int(out_lengths[i])
        assert int(single_length) == n and single.shape[1] == n
        torch.testing.assert_close(log_probs[i, :n], single[0], atol=1e-4, rtol=0)


@pytest.mark.parametrize("lengths", [[40, 31], [100, 57]])
def test_padding_mask_odd_shorter_length(model, lengths):
    log_probs, out_lengths, alone = padded_vs_alone(model, lengths)
    for i, (single, _) in enumerate(alone):
        n = int(out_lengths[i])
        torch.testing.assert_close(log_probs[i, :n], single[0], atol=1e-4, rtol=0)


@pytest.mark.parametrize("masked", [False, True])
def test_bf16_attention_on_a_cpu_matches_the_fused_kernel_and_ignores_masked_keys(masked):
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 50, 16, generator=generator) for _ in range(3))
    mask = torch.zeros(2, 1, 1, 50)
    mask[1, ..., 30:] = float("-inf")  # the second input's last 20 frames are padding
    mask = mask if masked else None
    reference = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # fp32
    fused = torch.nn.functional.scaled_dot_product_attention(
        q.bfloat16(), k.bfloat16(), v.bfloat16(), attn_mask=None if mask is None else mask.bfloat16())
    ours = attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), mask)
    assert ours.dtype == torch.bfloat16 and ours.shape == reference.shape
    # bf16 scores round where the fused kernel keeps them in fp32: the error stays of bf16's order.
    assert (ours.float() - reference).abs().max() < max(4 * (fused.float() - reference).abs().max(), 0.05)
    if masked:
        v[1, :, 30:] = 1e3  # whatever the padded frames hold
        assert torch.equal(attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), mask)[1], ours[1])


def test_bf16_attention_on_a_cpu_without_gradients_is_the_fused_kernel():
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 50, 16, generator=generator).bfloat16() for _ in range(3))
    mask = torch.zeros(2, 1, 1, 50)
    mask[1, ..., 30:] = float("-inf")
    fused = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask.bfloat16())
    with torch.inference_mode():
        assert torch.equal(attention(q, k, v, mask), fused)
    assert not torch.equal(attention(q, k, v, mask), fused)  # training's two products round the scores to bf16


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("frames", [9, 10])
def test_a_convolution_as_one_matrix_product_of_its_taps_is_the_convolution(stride, frames):
    """The ONNX export's stem (asr.models.WhisperEncoder.onnx_stem_as_matmul): time-major in and out."""
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(5, 7, kernel_size=3, stride=stride, padding=1)
    x = torch.randn(2, 5, frames)
    with torch.no_grad():
        torch.testing.assert_close(conv1d_time_major(x.transpose(1, 2), conv), conv(x).transpose(1, 2))


def test_log_probs_are_normalised(model):
    with torch.no_grad():
        log_probs, _ = model(features(20, 0)[None], torch.tensor([20]))
    assert log_probs.dtype == torch.float32
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(1, 10))


def test_output_lengths():
    lengths = torch.tensor([1, 2, 3, 4, 5, 2999, 3000])
    assert WhisperEncoder.output_lengths(lengths).tolist() == [1, 1, 2, 2, 3, 1500, 1500]
    encoder = WhisperEncoder(TINY_ENCODER).eval()
    for n in [1, 2, 3, 7, 8]:
        with torch.no_grad():
            states, out = encoder(features(n, n)[None], torch.tensor([n]))
        assert states.shape == (1, int(WhisperEncoder.output_lengths(torch.tensor([n]))), TINY_ENCODER.n_state)
        assert out.tolist() == [states.shape[1]]
    assert WhisperCTC.seconds_per_output_frame(0.01) == pytest.approx(0.02)


def test_input_longer_than_positional_table_raises():
    encoder = WhisperEncoder(WhisperEncoderConfig(n_mels=80, n_ctx=10, n_state=16, n_head=2, n_layer=1)).eval()
    with torch.no_grad():
        states, _ = encoder(features(20, 0)[None], torch.tensor([20]))  # 10 frames: fits
        assert states.shape[1] == 10
        with pytest.raises(ValueError, match="exceeds the positional table"):
            encoder(features(21, 0)[None], torch.tensor([21]))  # 11 frames


def test_positional_embedding_is_whisper_sinusoids():
    encoder = WhisperEncoder(TINY_ENCODER)
    assert encoder.positional_embedding.shape == (TINY_ENCODER.n_ctx, TINY_ENCODER.n_state)
    assert torch.equal(encoder.positional_embedding, sinusoids(TINY_ENCODER.n_ctx, TINY_ENCODER.n_state))
    table = sinusoids(4, 8)
    assert torch.equal(table[0], torch.tensor([0.0] * 4 + [1.0] * 4))


def test_parameter_names_follow_openai_whisper():
    names = set(WhisperEncoder(TINY_ENCODER).state_dict())
    for expected in [
        "conv1.weight", "conv2.bias", "positional_embedding", "ln_post.weight",
        "blocks.1.attn.query.weight", "blocks.1.attn.query.bias", "blocks.1.attn.key.weight",
        "blocks.1.attn.value.bias", "blocks.1.attn.out.weight", "blocks.1.attn_ln.bias",
        "blocks.1.mlp.0.weight", "blocks.1.mlp.2.bias", "blocks.1.mlp_ln.weight",
    ]:
        assert expected in names
    assert "blocks.0.attn.key.bias" not in names


def trainable_prefixes(model):
    return {name for name, p in model.named_parameters() if p.requires_grad}


def test_freeze_lower():
    config = WhisperCTCConfig(WhisperEncoderConfig(n_mels=80, n_ctx=1500, n_state=32, n_head=2, n_layer=3), VOCAB)

    model = WhisperCTC(config)
    everything = {name for name, _ in model.named_parameters()}
    model.freeze_lower(0)
    assert trainable_prefixes(model) == everything

    for k in [1, 2]:
        model = WhisperCTC(config)
        model.freeze_lower(k)
        frozen_prefixes = ("encoder.conv1.", "encoder.conv2.") + tuple(f"encoder.blocks.{i}." for i in range(k))
        expected_frozen = {n for n in everything if n.startswith(frozen_prefixes)}
        assert expected_frozen  # the stem and k blocks have parameters
        assert everything - trainable_prefixes(model) == expected_frozen
        assert any(n.startswith(f"encoder.blocks.{k}.") for n in trainable_prefixes(model))
        assert {"head.weight", "head.bias", "encoder.ln_post.weight"} <= trainable_prefixes(model)

    model = WhisperCTC(config)
    model.freeze_lower(3)
    assert trainable_prefixes(model) == {"head.weight", "head.bias"}


def test_frozen_layers_get_no_gradient():
    model = WhisperCTC(WhisperCTCConfig(TINY_ENCODER, VOCAB))
    model.freeze_lower(1)
    log_probs, _ = model(features(20, 0)[None], torch.tensor([20]))
    log_probs.sum().backward()
    assert model.encoder.conv1.weight.grad is None
    assert model.encoder.blocks[0].mlp[0].weight.grad is None
    assert model.encoder.blocks[1].mlp[0].weight.grad is not None
    assert model.head.weight.grad is not None


def test_wav2letter_freeze_lower_freezes_convolution_and_norm():
    model = Wav2LetterCTC(Wav2LetterCTCConfig(TINY_WAV2LETTER, VOCAB))
    everything = {name for name, _ in model.named_parameters()}
    model.freeze_lower(2)
    expected_frozen = {n for n in everything if n.startswith(("layers.0.", "layers.1."))}
    assert {"layers.0.conv.weight", "layers.0.norm.weight", "layers.1.norm.bias"} <= expected_frozen
    assert everything - trainable_prefixes(model) == expected_frozen
    model.freeze_lower(model.num_layers)
    assert trainable_prefixes(model) == {"head.weight", "head.bias"}


@pytest.mark.parametrize("k", [-1, 3])
def test_freeze_lower_out_of_range(k):
    model = WhisperCTC(WhisperCTCConfig(TINY_ENCODER, VOCAB))
    with pytest.raises(ValueError):
        model.freeze_lower(k)


def test_build_model():
    config = WhisperCTCConfig(TINY_ENCODER, VOCAB)
    model = build_model("whisper-encoder-ctc", config.to_dict())
    assert isinstance(model, WhisperCTC)
    assert model.config == config
    assert WhisperCTCConfig.from_dict(config.to_dict()) == config
    assert model.head.out_features == VOCAB
    assert "whisper-encoder-ctc" in ARCHITECTURES


def test_build_model_unknown_architecture():
    with pytest.raises(ValueError, match="unknown architecture 'conformer'"):
        build_model("conformer", {})
