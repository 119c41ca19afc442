"""Streaming vs batch transcripts: how much chunked decoding costs in WER, per chunk / left context / lookahead.

For each setting, every utterance of a test manifest is decoded the way the
server decodes a stream (asr.streaming: windows of left context + chunk +
lookahead, the chunk's frames kept, finals at pauses and at the end) and
compared with `asr transcribe`'s batch transcript (Transcriber.transcribe)
and with the reference, scored by eval's scorer. A stream's windows depend only on its
audio and the setting, not on how fast it arrives, so all utterances are
decoded side by side, their windows batched as the server batches them.
Also scored: what a stream showed just before its last final (the finals
before it and the last interim result, which has seen all the audio).
With --server, the chosen setting is also run through a real gRPC server
(in this process, on loopback) to show the service gives the same transcripts.

The model runs and decodes as `asr transcribe` and `asr serve` run it: a
shipped model by name with its own decoding (beam search with its LM where it
has one), at --precision, on --backend.

    python bench/stream_vs_batch.py --model de --manifest data/synth-de/test.jsonl --server \\
        --out bench/results/stream_vs_batch-cpu.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

import grpc
import torch

from asr.audio import load_audio
from asr.cli import add_decode_arguments, add_model_arguments, decode_options
from asr.corpora.manifest import read_manifest
from asr.registry import resolve_model
from asr.streaming.options import ChunkingOptions, EndpointOptions
from asr.streaming.stream import Stream, window_log_probs
from asr.transcribe import Transcriber
from eval.report import describe_machine
from eval.scoring import score

# (chunk, left context, lookahead) in ms: the default first, then one axis at a time.
SETTINGS = [
    (320, 1600, 960),
    (320, 1600, 0),
    (320, 1600, 160),
    (320, 1600, 320),
    (320, 1600, 640),
    (320, 1600, 1280),
    (320, 640, 160),
    (320, 1000, 960),
    (320, 2400, 960),
    (320, 3200, 160),
    (160, 1600, 160),
    (160, 1600, 960),
    (640, 1600, 160),
    (1000, 3000, 320),
]


def stream_transcripts(transcriber: Transcriber, waves: list[torch.Tensor], chunking: ChunkingOptions, batch_size: int) -> tuple[list[str], list[str]]:
    """Each stream's finals, and what it showed just before its last final: the finals before it and the last interim
    result, which by then has seen all the audio (what a viewer reads until the last final comes)."""
    streams = [Stream.for_model(transcriber, chunking, EndpointOptions()) for _ in waves]
    words: list[list[str]] = [[] for _ in waves]
    interims: list[list[str]] = [[] for _ in waves]
    for stream, wave in zip(streams, waves):
        stream.append(wave)
        stream.close()
    while True:
        pending = [(i, w) for i, s in enumerate(streams) if (w := s.next_window()) is not None]
        if not pending:
            break
        for first in range(0, len(pending), batch_size):
            batch = pending[first : first + batch_size]
            for (i, window), log_probs in zip(batch, window_log_probs(transcriber, [w for _, w in batch])):
                for utterance in streams[i].accept(window, log_probs):
                    words[i].extend(w.word for w in utterance.words)
                interims[i] = [w.word for w in streams[i].interim()[0]]
    shown = [" ".join(w + interim) for w, interim in zip(words, interims)]
    for i, stream in enumerate(streams):
        if (final := stream.finish()) is not None:
            words[i].extend(w.word for w in final.words)
    return [" ".join(w) for w in words], shown


def wer(references: list[str], hypotheses: list[str]) -> dict:
    """Corpus WER and CER by eval's scorer; pairs with an empty reference are left out and counted."""
    pairs = [(r, h) for r, h in zip(references, hypotheses) if r.strip()]
    scores = score([r for r, _ in pairs], [h for _, h in pairs])
    return {
        "wer": round(scores.wer, 4),
        "cer": round(scores.cer, 4),
        "utterances": len(pairs),
        "empty_references_left_out": len(references) - len(pairs),
    }


async def server_transcripts(transcriber: Transcriber, waves: list[torch.Tensor], chunking: ChunkingOptions, concurrency: int) -> list[str]:
    from serving.client import Pace, StreamOptions, pcm16, recognize_stream
    from serving.options import Limits, ServerOptions
    from serving.proto import recognizer_pb2_grpc as pb_grpc
    from serving.server import start_server

    running = await start_server([("model", transcriber)], ServerOptions(listen="127.0.0.1:0", chunking=chunking, limits=Limits(max_realtime_factor=0)))
    results: list[str] = [""] * len(waves)
    gate = asyncio.Semaphore(concurrency)
    # 16-bit PCM is what a client sends; quantising the float audio changes it slightly, so the
    # offline transcripts it is compared with are made from the same quantised audio.
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = pb_grpc.RecognizerStub(channel)

        async def one(i: int) -> None:
            async with gate:
                finals = []
                async for response in recognize_stream(stub, pcm16(waves[i]), StreamOptions(interim_results=False), Pace(None)):
                    finals.extend(r.alternatives[0].transcript for r in response.results if r.is_final and r.alternatives[0].transcript)
                results[i] = " ".join(finals)

        await asyncio.gather(*(one(i) for i in range(len(waves))))
    await running.stop(1.0)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser)
    add_decode_arguments(parser)
    parser.add_argument("--manifest", required=True, help="test manifest (.jsonl)")
    parser.add_argument("--limit", type=int, help="first N utterances only")
    parser.add_argument("--batch-size", type=int, default=32, help="windows per forward pass (default: 32)")
    parser.add_argument("--settings", help="CHUNK/CONTEXT/LOOKAHEAD,... in ms (default: a sweep around the default 320/1600/960)")
    parser.add_argument("--server", action="store_true", help="also stream the first setting through a gRPC server on loopback")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--out", default="bench/results/stream_vs_batch.json", help="JSON output")
    args = parser.parse_args()

    utterances = list(read_manifest(args.manifest))[: args.limit]
    model = resolve_model(args.model)
    transcriber = Transcriber(model.checkpoint, device=args.device, decoding=decode_options(args, model.lm_dir),
                              precision=args.precision, backend=args.backend)
    waves = [load_audio(u.audio_filepath, transcriber.sample_rate) for u in utterances]
    references = [u.text for u in utterances]
    audio_seconds = sum(len(w) for w in waves) / transcriber.sample_rate
    started = time.perf_counter()
    batch = [t.text for t in transcriber.transcribe(waves)]
    batch_wall = time.perf_counter() - started
    settings = [tuple(map(int, s.split("/"))) for s in args.settings.split(",")] if args.settings else SETTINGS
    print(f"model {model.name}, decoding: {transcriber.decoding.label}, {transcriber.backend} {transcriber.precision}")
    print(f"{len(waves)} utterances, {audio_seconds:.0f} s; batch: WER {wer(references, batch)['wer']:.4f} against the references")
    print("| chunk | left context | lookahead | encoder s per audio s | WER stream vs batch | WER stream vs ref | WER shown before last final vs ref | WER batch vs ref | CER stream vs ref | CER batch vs ref | identical | wall s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for chunk, context, lookahead in settings:
        chunking = ChunkingOptions(chunk, context, lookahead)
        started = time.perf_counter()
        streamed, shown = stream_transcripts(transcriber, waves, chunking, args.batch_size)
        wall = time.perf_counter() - started
        row = {
            "chunk_ms": chunk,
            "left_context_ms": context,
            "lookahead_ms": lookahead,
            "encoder_seconds_per_audio_second": round(chunking.window_ms / chunk, 2),
            "stream_vs_batch": wer(batch, streamed),
            "stream_vs_reference": wer(references, streamed),
            "shown_before_last_final_vs_reference": wer(references, shown),
            "batch_vs_reference": wer(references, batch),
            "identical_transcripts": sum(s == b for s, b in zip(streamed, batch)),
            "wall_seconds": round(wall, 1),
            "hypotheses": streamed,
            "shown_before_last_final": shown,
        }
        rows.append(row)
        print(
            f"| {chunk} | {context} | {lookahead} | {row['encoder_seconds_per_audio_second']} | {row['stream_vs_batch']['wer']:.4f} "
            f"| {row['stream_vs_reference']['wer']:.4f} | {row['shown_before_last_final_vs_reference']['wer']:.4f} "
            f"| {row['batch_vs_reference']['wer']:.4f} | {row['stream_vs_reference']['cer']:.4f} "
            f"| {row['batch_vs_reference']['cer']:.4f} | {row['identical_transcripts']}/{len(waves)} | {wall:.0f} |",
            flush=True,
        )
    report = {
        "command": "python bench/stream_vs_batch.py " + " ".join(os.sys.argv[1:]),
        "machine": describe_machine(),
        "model": args.model,
        "decoding": transcriber.decoding.label,
        "backend": transcriber.backend,
        "precision": transcriber.precision,
        "manifest": args.manifest,
        "utterances": len(waves),
        "audio_seconds": round(audio_seconds, 1),
        "batch_wall_seconds": round(batch_wall, 1),
        "references": references,
        "batch_hypotheses": batch,
        "settings": rows,
    }
    if args.server:
        chunking = ChunkingOptions(*settings[0])
        quantised = [torch.round(w.clamp(-1, 1) * 32767) / 32768 for w in waves]
        offline, _ = stream_transcripts(transcriber, quantised, chunking, args.batch_size)
        served = asyncio.run(server_transcripts(transcriber, waves, chunking, concurrency=8))
        report["server"] = {
            "setting": list(settings[0]),
            "identical_to_offline": sum(a == b for a, b in zip(served, offline)),
            "stream_vs_batch": wer(batch, served),
            "stream_vs_reference": wer(references, served),
            "hypotheses": served,
        }
        print(f"gRPC server, {settings[0]}: {report['server']['identical_to_offline']}/{len(waves)} transcripts identical to offline streaming; "
              f"WER vs batch {report['server']['stream_vs_batch']['wer']:.4f}, vs reference {report['server']['stream_vs_reference']['wer']:.4f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
