"""CTC training, the whole loop in one place.

A model starts from a pretrained encoder, an earlier checkpoint of this
project (its output layer carried over to the new alphabet), or random
weights; its lower layers can be frozen (the recipe of Kunze et al., 2017) and
unfrozen gradually. Batches group utterances of similar length. The run folder
holds everything:

    out_dir/config.toml        the effective config
    out_dir/state/step-N.pt    training state (model, optimizer, schedule, data position); a killed run resumes here
    out_dir/last.safetensors   the model at the last save
    out_dir/best.safetensors   the model with the best dev WER
    out_dir/log.jsonl          one JSON object a line: training and dev metrics
    out_dir/tensorboard/       the same as TensorBoard scalars

Run the same command under `torchrun --nproc-per-node N` to train with N
processes (DistributedDataParallel; gloo on CPU, NCCL on GPU): each step takes
`grad_accum` micro-batches per process, so the global batch is
`world_size * grad_accum` micro-batches.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import random
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
import torchaudio.functional
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from asr.audio import load_audio
from asr.checkpoint import ModelBundle, load_checkpoint, save_checkpoint
from asr.files import atomic_path, write_atomically
from asr.features import FrontendConfig
from asr.progress import progress as progress_bar
from asr.corpora.manifest import Utterance, read_manifest
from training.data import MicroBatches, SpecAugment, micro_batch_loader, micro_batch_seed, resolve_workers
from training.lora import add_adapters, adapter_parameters, freeze_adapted_weights, merged_state_dict
from asr.models import ARCHITECTURES, build_model
from asr.pretrained import new_ctc_model
from asr.text import Vocabulary, normalize_transcript
from asr.transcribe import Transcriber, resolve_device, resolve_precision
from training.config import RESUMABLE_CHANGES, TrainConfig, augment_config, parse_key_values


# Dropout's masks are drawn from torch's generator seeded apart from the micro-batch's own seed, from which the input
# pipeline draws SpecAugment's masks.
DROPOUT_SEED_OFFSET = 2**32


def train(config: TrainConfig) -> Path:
    """Train as `config` says, resuming from `out_dir`'s training state if there is one; returns the final checkpoint."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    # torchrun sets both; a RANK alone is someone else's variable (`RANK=64 bash recipes/release.sh` once made a
    # lone training process a silent non-main rank that wrote nothing).
    rank = int(os.environ.get("RANK", "0")) if world_size > 1 else 0
    if world_size > 1:
        backend = "nccl" if torch.cuda.is_available() and config.device != "cpu" else "gloo"
        dist.init_process_group(backend)
    device = resolve_device(config.device)
    if device.type == "cuda" and world_size > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    main_process = rank == 0
    out_dir = Path(config.out_dir)

    utterances = training_subset(read_manifest(config.train_manifest, max_duration=config.max_duration), config)
    if not utterances:
        raise ValueError(f"{config.train_manifest}: no utterances of at most {config.max_duration} s to train on")
    transcripts = [normalize_transcript(u.text, config.language) for u in utterances]
    vocabulary = Vocabulary.from_transcripts(transcripts, pieces=config.pieces)
    targets = [torch.tensor(vocabulary.encode(t), dtype=torch.long) for t in transcripts]
    dev_set = read_manifest(config.dev_manifest) if config.dev_manifest else []

    torch.manual_seed(config.seed)
    bundle = initial_model(config, vocabulary, report=main_process)
    model = bundle.model.to(device).train()
    if config.dropout and not hasattr(model, "set_dropout"):
        raise ValueError(f"--dropout {config.dropout}: the {bundle.architecture} architecture has no dropout; "
                         "train Whisper's encoder (--init whisper-base) or leave --dropout at 0")
    adapted = add_adapters(model.layers, config.freeze_layers, config.lora_rank) if config.lora_rank else 0
    augment_options = augment_config(config.augment)
    head, adapters = list(model.head.parameters()), adapter_parameters(model)
    own_groups = {id(p) for p in head + adapters}
    encoder = [p for p in model.parameters() if id(p) not in own_groups]
    groups = [{"params": head, "lr": config.lr_head}, {"params": encoder, "lr": config.lr_encoder}]
    if adapters:
        groups.append({"params": adapters, "lr": config.lr_adapters})
    optimizer = torch.optim.AdamW(
        groups, weight_decay=config.weight_decay, fused=True,  # one kernel for all tensors: 7 % of a CPU step was Adam's loop
    )
    progress_state = {"step": 0, "epoch": 0, "position": 0, "best_wer": math.inf, "evals_since_best": 0,
                      "train_seconds": 0.0, "audio_seconds": 0.0, "max_steps": config.max_steps or None}
    # The steps the schedule decays over, progress_state["max_steps"]: --max-steps, or with 0 the steps the time budget
    # reaches, measured once the warmup is done (kept in the run's progress, so that a resumed run keeps its schedule).
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(config, step, progress_state["max_steps"]))
    frozen_layers = lambda step: frozen_at(config, step, model.num_layers)  # noqa: E731

    def set_trainable(step: int) -> None:
        model.freeze_lower(frozen_layers(step))
        freeze_adapted_weights(model)  # freeze_lower sets a trainable layer's every parameter trainable
        if config.dropout:
            model.set_dropout(config.dropout, first_layer=frozen_layers(step))

    state_path = latest_state(out_dir)
    if state_path is not None:
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        check_resumable(state["config"], config, state_path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        progress_state = {**state["progress"], "max_steps": config.max_steps or state["progress"].get("max_steps")}
        if main_process:
            print(f"resuming {out_dir} from step {progress_state['step']} ({state_path.name})")
    elif main_process:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_atomically(out_dir / "config.toml", _toml(asdict(config)))
    set_trainable(progress_state["step"])
    if world_size > 1 and config.unfreeze_every:
        # DDP fixes the set of parameters it synchronises when it is built.
        raise ValueError("gradual unfreezing (--unfreeze-every) is not supported with several processes")
    ddp_model = DistributedDataParallel(model) if world_size > 1 else model

    precision = resolve_precision(config.precision, device)
    use_bf16 = precision == "bf16"
    log = JsonLog(out_dir) if main_process else None
    if main_process:
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        speakers = len({u.speaker for u in utterances if u.speaker})
        adapter_note = f", adapters of rank {config.lora_rank} on {adapted} matrices" if adapted else ""
        log.write(event="start", step=progress_state["step"], utterances=len(utterances), speakers=speakers,
                  train_hours=sum(u.duration for u in utterances) / 3600, trainable_parameters=trainable, world_size=world_size,
                  precision=precision)
        print(
            f"training {bundle.metadata['init']} -> {out_dir}: {len(utterances)} utterances, {speakers} speakers, "
            f"{sum(u.duration for u in utterances) / 3600:.2f} h, {len(vocabulary)} tokens, {trainable / 1e6:.1f} M "
            f"trainable parameters, {frozen_layers(progress_state['step'])} layers frozen"
            f"{adapter_note}, {world_size} process(es) on {device}, "
            f"{precision}"
        )

    p = progress_state
    first_step, first_seconds = p["step"], p["train_seconds"]
    micro_per_step = world_size * config.grad_accum
    plan = epoch_plan(utterances, config, p["epoch"])
    # Under a time budget the bar counts training seconds, to the budget's end or, where the steps end sooner, theirs.
    by_time = config.time_budget is not None
    bar = progress_bar(
        total=config.time_budget if by_time else config.max_steps,
        initial=min(p["train_seconds"], config.time_budget) if by_time else p["step"],  # tqdm fails on n > total
        desc="training", unit="s" if by_time else "step", disable=not main_process,
        bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}{postfix}]" if by_time else None,
    )
    started = time.monotonic() - p["train_seconds"]
    stop_reason = "max_steps"
    spec_augment = SpecAugment(config.freq_masks, config.freq_mask_width, config.time_masks, config.time_mask_width) if config.spec_augment else None
    workers = resolve_workers(config.data_workers, device)
    micro_batches = None
    pace_from = (p["step"], p["train_seconds"])  # where the speed that sets --max-steps 0's steps is measured from
    while p["step"] < (p["max_steps"] or math.inf):
        if config.time_budget is not None and p["train_seconds"] >= config.time_budget:
            stop_reason = "time_budget"
            break
        if p["position"] + micro_per_step > len(plan):  # the tail of an epoch too short for a whole step is skipped
            p["epoch"], p["position"] = p["epoch"] + 1, 0
            plan = epoch_plan(utterances, config, p["epoch"])
            if len(plan) < micro_per_step:
                raise ValueError(f"{len(plan)} micro-batches an epoch, fewer than the {micro_per_step} one step needs: lower --batch-seconds")
            micro_batches = None
        if micro_batches is None:  # the rest of this epoch's micro-batches, read ahead by the loader's workers
            micro_batches = iter(micro_batch_loader(
                MicroBatches(plan, p["position"], p["step"], rank, world_size, config.grad_accum, utterances, targets,
                             bundle.frontend, augment_options, spec_augment, config.seed),
                workers, device))
        step = p["step"]
        set_trainable(step)
        optimizer.zero_grad(set_to_none=True)
        step_loss, step_audio = 0.0, 0.0
        for micro in range(config.grad_accum):
            batch = next(micro_batches)
            assert (batch["step"], batch["micro"]) == (step, micro), "the input pipeline is out of step with training"
            features = batch["features"].to(device, non_blocking=True)
            feature_lengths = batch["feature_lengths"].to(device, non_blocking=True)
            sync = micro == config.grad_accum - 1 or world_size == 1
            if config.dropout:  # masks of their step and micro-batch, whatever ran before: a resumed run draws the same
                torch.manual_seed(DROPOUT_SEED_OFFSET + micro_batch_seed(config.seed, step, rank, config.grad_accum, micro))
            with (contextlib.nullcontext() if sync else ddp_model.no_sync()):
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                    log_probs, frame_lengths = ddp_model(features, feature_lengths)
                batch_targets = batch["targets"]
                # torch's "mean": each utterance's loss over its target length, averaged over the
                # micro-batch; zero_infinity drops an utterance whose transcript cannot fit its frames.
                loss = F.ctc_loss(
                    log_probs.float().transpose(0, 1), torch.cat(batch_targets).to(device), frame_lengths,
                    torch.tensor([len(t) for t in batch_targets], device=device),
                    blank=vocabulary.blank_id, zero_infinity=True,
                ) / config.grad_accum
                loss.backward()
            step_loss += loss.item()
            step_audio += batch["audio_seconds"]
        grad_norm = torch.nn.utils.clip_grad_norm_([q for q in model.parameters() if q.requires_grad], config.max_grad_norm)
        optimizer.step()
        p["step"] += 1
        p["position"] += micro_per_step
        p["audio_seconds"] += step_audio * world_size
        p["train_seconds"] = time.monotonic() - started
        if p["max_steps"] is None:
            if p["step"] >= config.warmup_steps:  # the schedule's decay starts with the next step: it needs its length now
                p["max_steps"] = steps_in_budget(config, p, pace_from, world_size, device)
                if log:
                    log.write(event="max_steps", step=p["step"], max_steps=p["max_steps"], train_seconds=p["train_seconds"])
            elif p["step"] == max(first_step + 1, (first_step + config.warmup_steps) // 2):
                # The pace is measured over the warmup's second half: its start is slower than what follows (worker
                # start-up, allocations for each new batch shape). On an H200 steps 1-50 took 0.45 s each, 50-100
                # 0.25 and the rest 0.19 (docs/results/gpu_release/es-2026-12-04).
                pace_from = (p["step"], p["train_seconds"])
        scheduler.step()
        if by_time and p["max_steps"]:
            # The steps may end the run before the budget (the demo's 400 steps take 100 s of its 300 on a bf16 CPU):
            # the bar ends where the first of the two does, at this run's pace so far.
            seconds_per_step = (p["train_seconds"] - first_seconds) / (p["step"] - first_step)
            bar.total = min(config.time_budget, p["train_seconds"] + (p["max_steps"] - p["step"]) * seconds_per_step)
        bar.update(min(p["train_seconds"], config.time_budget) - bar.n if by_time else 1)
        lr = scheduler.get_last_lr()[0]
        bar.set_postfix(step=p["step"], loss=f"{step_loss:.3f}", lr=f"{lr:.2e}",
                        audio_s_per_s=f"{p['audio_seconds'] / p['train_seconds']:.1f}")
        if log and (p["step"] % config.log_every == 0 or p["step"] == 1):
            log.write(step=p["step"], loss=step_loss, lr=lr, grad_norm=float(grad_norm), epoch=p["epoch"],
                      train_seconds=p["train_seconds"], audio_seconds=p["audio_seconds"],
                      audio_seconds_per_second=p["audio_seconds"] / p["train_seconds"])
        if config.eval_every and p["step"] % config.eval_every == 0 and dev_set:
            eval_started = time.monotonic()
            stop = evaluate_and_keep_best(bundle, model, dev_set, config, p, log, main_process)
            started += time.monotonic() - eval_started  # evaluation is not training time
            if stop:
                stop_reason = "early_stop"
                break
        if p["step"] % config.save_every == 0:
            save_state(out_dir, bundle, model, optimizer, scheduler, config, p, main_process)
    bar.close()
    if p["step"] == first_step and state_path is not None:  # a finished run, started again: nothing to add
        if main_process:
            log.close()
            print(f"{out_dir} already finished ({stop_reason}) at step {p['step']}: {out_dir / 'last.safetensors'}")
            if not config.max_steps and config.time_budget > p["train_seconds"]:
                print(f"its schedule ends at step {p['step']}, measured for the budget it started with; to train on for "
                      f"the new --time-budget, give --max-steps beyond {p['step']}")
        if world_size > 1:
            dist.destroy_process_group()
        return out_dir / "last.safetensors"
    if dev_set and not (config.eval_every and p["step"] % config.eval_every == 0):
        evaluate_and_keep_best(bundle, model, dev_set, config, p, log, main_process)
    save_state(out_dir, bundle, model, optimizer, scheduler, config, p, main_process)
    if main_process:
        log.write(event="end", reason=stop_reason, step=p["step"], train_seconds=p["train_seconds"], best_dev_wer=p["best_wer"])
        log.close()
        print(f"stopped ({stop_reason}) after {p['step']} steps, {p['train_seconds']:.0f} s of training: {out_dir / 'last.safetensors'}")
    if world_size > 1:
        dist.destroy_process_group()
    return out_dir / "last.safetensors"


# --- the model to start from -----------------------------------------------------------


def initial_model(config: TrainConfig, vocabulary: Vocabulary, report: bool = True) -> ModelBundle:
    if config.init == "none":
        if config.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {config.architecture!r}; known: {', '.join(ARCHITECTURES)}")
        dims = _typed(ARCHITECTURES[config.architecture].encoder_config, parse_key_values(config.model_size))
        model_config = {"encoder": asdict(ARCHITECTURES[config.architecture].encoder_config(**dims)), "vocab_size": len(vocabulary)}
        bundle = ModelBundle(config.architecture, model_config, build_model(config.architecture, model_config),
                             vocabulary, FrontendConfig(), config.language, {"init": "random"})
    elif _is_checkpoint(config.init):
        bundle = transfer_checkpoint(load_checkpoint(config.init), vocabulary, config, report)
    else:
        bundle = new_ctc_model(config.init, vocabulary, config.language, random_init=config.random_init)
    if config.freeze_layers > bundle.model.num_layers:
        raise ValueError(f"--freeze-layers {config.freeze_layers}: the model has only {bundle.model.num_layers} layers")
    return bundle


def _is_checkpoint(init: str) -> bool:
    return init.endswith(".safetensors") and Path(init).is_file()


def transfer_checkpoint(source: ModelBundle, vocabulary: Vocabulary, config: TrainConfig, report: bool) -> ModelBundle:
    """An earlier checkpoint, its output layer rebuilt for `vocabulary`.

    Rows of characters in both alphabets are copied; new characters start
    fresh; characters the new language lacks are dropped (Kunze et al. did the
    same from English to German).
    """
    model_config = {**source.model_config, "vocab_size": len(vocabulary)}
    model = build_model(source.architecture, model_config)
    state = source.model.state_dict()
    head_weight, head_bias = state.pop("head.weight"), state.pop("head.bias")
    if config.random_init:
        state = {}
    model.load_state_dict(state, strict=False)
    old_index = {t: i for i, t in enumerate(source.vocabulary.tokens)}
    shared = [t for t in vocabulary.tokens if t in old_index]
    if not config.random_init:
        with torch.no_grad():
            for new_id, token in enumerate(vocabulary.tokens):
                if token in old_index:
                    model.head.weight[new_id] = head_weight[old_index[token]]
                    model.head.bias[new_id] = head_bias[old_index[token]]
    if report:
        new = [t for t in vocabulary.tokens if t not in old_index]
        dropped = [t for t in source.vocabulary.tokens if t not in set(vocabulary.tokens)]
        print(f"vocabulary transfer: {len(shared)} tokens kept, new {' '.join(new) or 'none'}, dropped {' '.join(dropped) or 'none'}")
    return ModelBundle(source.architecture, model_config, model, vocabulary, source.frontend, config.language,
                       {"init": "random" if config.random_init else f"checkpoint {config.init}"})


def _typed(config_class, values: dict[str, str]) -> dict:
    """Strings from the command line cast to the types of a config dataclass's fields."""
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"unknown {config_class.__name__} options {unknown}; known: {sorted(fields)}")
    booleans = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
    cast = {}
    for key, text in values.items():
        kind = type(fields[key].default)
        try:
            cast[key] = booleans[text.lower()] if kind is bool else kind(text)
        except (KeyError, ValueError):
            wanted = "true or false" if kind is bool else f"a{'n' if kind is int else ''} {kind.__name__}"
            raise ValueError(f"{config_class.__name__} option {key}={text!r}: give {wanted}") from None
    return cast


# --- data, schedule, augmentation -------------------------------------------------------


def training_subset(utterances: list[Utterance], config: TrainConfig) -> list[Utterance]:
    """A fixed random subset: the utterances of `train_voices` speakers, then `train_fraction` of their hours;
    the same for every run with the seed."""
    if config.train_voices:
        speakers = sorted({u.speaker for u in utterances if u.speaker})
        if config.train_voices > len(speakers):
            raise ValueError(f"train_voices {config.train_voices}: the training manifest has only {len(speakers)} speakers")
        kept = set(random.Random(config.seed).sample(speakers, config.train_voices))
        utterances = [u for u in utterances if u.speaker in kept]
    if config.train_fraction >= 1:
        return utterances
    order = list(range(len(utterances)))
    random.Random(config.seed).shuffle(order)
    budget = config.train_fraction * sum(u.duration for u in utterances)
    chosen, seconds = [], 0.0
    for i in order:
        if seconds >= budget:
            break
        chosen.append(i)
        seconds += utterances[i].duration
    return [utterances[i] for i in sorted(chosen)]


def length_bucketed_batches(utterances: list[Utterance], batch_seconds: float, rng: random.Random) -> list[list[int]]:
    """Batches of utterances of similar length, `batch_seconds` of audio at most each, in random order.

    Sorting by length keeps padding small; shuffling within equal lengths and
    then the batches keeps epochs different.
    """
    order = sorted(range(len(utterances)), key=lambda i: (utterances[i].duration, rng.random()))
    batches, current, seconds = [], [], 0.0
    for i in order:
        if current and seconds + utterances[i].duration > batch_seconds:
            batches.append(current)
            current, seconds = [], 0.0
        current.append(i)
        seconds += utterances[i].duration
    if current:
        batches.append(current)
    rng.shuffle(batches)
    return batches


def epoch_plan(utterances: list[Utterance], config: TrainConfig, epoch: int) -> list[list[int]]:
    """An epoch's micro-batches: a function of seed and epoch only, so no data-loader state needs saving."""
    return length_bucketed_batches(utterances, config.batch_seconds, random.Random(config.seed * 7919 + epoch))


def lr_factor(config: TrainConfig, step: int, max_steps: int | None = None) -> float:
    """Learning rate as a fraction of the peak: linear warmup, then cosine, tri-stage or constant over `max_steps`
    (default: the config's)."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    if config.schedule == "constant":
        return 1.0
    max_steps = max_steps or config.max_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, max_steps - config.warmup_steps))
    if config.schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    # tri-stage (Park et al., 2019): hold at the peak, then decay exponentially to final_lr_scale.
    if progress < config.hold_fraction:
        return 1.0
    decay = (progress - config.hold_fraction) / max(1e-9, 1 - config.hold_fraction)
    return config.final_lr_scale**decay


def steps_in_budget(config: TrainConfig, progress: dict, pace_from: tuple[int, float], world_size: int, device: torch.device) -> int:
    """The step the time budget ends at, at the pace of the steps since `pace_from` (steps, training seconds); every
    process takes the first one's figure, so that all decay over the same steps."""
    steps, seconds = progress["step"] - pace_from[0], progress["train_seconds"] - pace_from[1]
    pace = steps / seconds if steps and seconds > 0 else 0.0
    end = max(progress["step"] + 1, progress["step"] + round(pace * (config.time_budget - progress["train_seconds"])))
    if world_size > 1:
        shared = torch.tensor([end], device=device)
        dist.broadcast(shared, src=0)
        end = int(shared.item())
    return end


def frozen_at(config: TrainConfig, step: int, num_layers: int) -> int:
    """Layers frozen at `step`: the configured number, less one per `unfreeze_every` steps."""
    frozen = min(config.freeze_layers, num_layers)
    if config.unfreeze_every:
        frozen -= step // config.unfreeze_every
    return max(0, frozen)


# --- evaluation, state, logging -----------------------------------------------------------


def dev_error_rates(references: list[str], hypotheses: list[str]) -> tuple[float, float]:
    """Corpus WER and CER of the dev set: total edits over total reference words (characters).

    A training-time monitor, for the best checkpoint and early stopping, by
    torchaudio's edit distance; `training` does not depend on `eval`, where the
    scores that are reported come from (`asr eval`, the same definition).
    """
    word_edits = sum(torchaudio.functional.edit_distance(r.split(), h.split()) for r, h in zip(references, hypotheses))
    char_edits = sum(torchaudio.functional.edit_distance(r, h) for r, h in zip(references, hypotheses))
    words, chars = sum(len(r.split()) for r in references), sum(len(r) for r in references)
    return word_edits / max(words, 1), char_edits / max(chars, 1)


def evaluate_and_keep_best(bundle, model, dev_set, config, progress, log, main_process) -> bool:
    """Greedy WER/CER on the dev set (rank 0), best checkpoint kept; True when early stopping says stop."""
    stop = False
    if main_process:
        transcriber = Transcriber(bundle, device=str(next(model.parameters()).device))
        hypotheses, references = [], []
        for first in range(0, len(dev_set), 16):
            batch = dev_set[first : first + 16]
            results = transcriber.transcribe([load_audio(u.audio_filepath, bundle.frontend.sample_rate) for u in batch])
            hypotheses += [r.text for r in results]
            references += [normalize_transcript(u.text, config.language) for u in batch]
        model.train()
        wer, cer = dev_error_rates(references, hypotheses)
        improved = wer < progress["best_wer"]
        if improved:
            progress["best_wer"], progress["evals_since_best"] = wer, 0
            _stamp(bundle, config, progress)
            save_model(Path(config.out_dir) / "best.safetensors", bundle)
        else:
            progress["evals_since_best"] += 1
        log.write(step=progress["step"], dev_wer=wer, dev_cer=cer, train_seconds=progress["train_seconds"], best=improved)
        tqdm.write(f"step {progress['step']}: dev WER {100 * wer:.1f} %, CER {100 * cer:.1f} %{' (best)' if improved else ''}")
        stop = bool(config.early_stop_patience) and progress["evals_since_best"] >= config.early_stop_patience
    if dist.is_initialized():
        flags = torch.tensor([float(stop), progress["best_wer"], float(progress["evals_since_best"])])
        dist.broadcast(flags, src=0)
        stop = bool(flags[0])
        progress["best_wer"], progress["evals_since_best"] = float(flags[1]), int(flags[2])
    return stop


def _stamp(bundle: ModelBundle, config: TrainConfig, progress: dict) -> None:
    bundle.metadata.update({"train_config": asdict(config), "steps": progress["step"],
                            "train_seconds": round(progress["train_seconds"], 1),
                            "audio_seconds_seen": round(progress["audio_seconds"], 1)})


def save_model(path: Path, bundle: ModelBundle) -> None:
    """The model as a checkpoint holds it: a plain model, with low-rank adapters (if any) folded into their weights."""
    model = bundle.model
    if adapter_parameters(model):
        model = build_model(bundle.architecture, bundle.model_config)
        model.load_state_dict(merged_state_dict(bundle.model))
    save_checkpoint(path, dataclasses.replace(bundle, model=model))


def save_state(out_dir: Path, bundle, model, optimizer, scheduler, config, progress, main_process) -> None:
    """Training state and the model, atomically, on rank 0; the oldest states beyond keep_last removed."""
    if not main_process:
        return
    _stamp(bundle, config, progress)
    save_model(out_dir / "last.safetensors", bundle)
    state_dir = out_dir / "state"
    state_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(state_dir / f"step-{progress['step']:08d}.pt") as partial:
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "progress": dict(progress), "config": asdict(config)}, partial)
    for old in sorted(state_dir.glob("step-*.pt"))[: -config.keep_last]:
        old.unlink()


def latest_state(out_dir: Path) -> Path | None:
    states = sorted((out_dir / "state").glob("step-*.pt"))
    return states[-1] if states else None


def check_resumable(saved: dict, config: TrainConfig, path: Path) -> None:
    # a setting newer than the saved state had its default then, as runs made before it existed did
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    saved = {**defaults, **saved}
    changed = {k: (saved.get(k), v) for k, v in asdict(config).items() if k not in RESUMABLE_CHANGES and saved.get(k) != v}
    if changed:
        details = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items())
        raise ValueError(f"{path}: cannot resume with a different config ({details}); use a new --out-dir or the saved config")


class JsonLog:
    """The run's metrics as JSON lines, mirrored to TensorBoard; appended to on resume."""

    def __init__(self, out_dir: Path):
        from torch.utils.tensorboard import SummaryWriter

        self.file = (out_dir / "log.jsonl").open("a")
        self.tensorboard = SummaryWriter(str(out_dir / "tensorboard"))

    def write(self, **record) -> None:
        record["time"] = time.time()
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        step = record.get("step", 0)
        for key, value in record.items():
            if key not in ("step", "time") and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                self.tensorboard.add_scalar(key, value, step)

    def close(self) -> None:
        self.file.close()
        self.tensorboard.close()


def _toml(values: dict) -> str:
    lines = []
    for key, value in values.items():
        if value is None:
            continue
        lines.append(f"{key} = {json.dumps(value)}")  # JSON's strings, numbers and booleans are valid TOML
    return "\n".join(lines) + "\n"
