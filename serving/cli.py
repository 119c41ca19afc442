"""`asr serve` and `asr stream`: the serving package's commands, added to `asr` through its entry-point group."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from asr.cli import add_decode_arguments, add_runtime_arguments, decode_options


def add_commands(commands) -> None:
    _add_serve(commands)
    _add_stream(commands)


def _add_serve(commands) -> None:
    from serving.options import CHUNKING_WITH_BF16, CHUNKING_WITHOUT_BF16, BatchOptions, ServerOptions

    defaults = ServerOptions()
    chunking, batching, limits = defaults.chunking, BatchOptions(), defaults.limits
    p = commands.add_parser(
        "serve",
        help="run the gRPC streaming recognition service",
        description="Serve checkpoints over gRPC (service asr.v1.Recognizer: StreamingRecognize, Recognize, ListModels), "
        "with health checks, reflection and Prometheus metrics. Streams are decoded in chunks with left context and "
        "lookahead, and the chunks of all streams share batched forward passes. SIGTERM drains: no new calls, open "
        "streams get their final results.",
        epilog="examples:\n"
        "  asr serve --model de                       # the shipped German model, beam search with its LM\n"
        "  asr serve --model runs/de.safetensors --device cuda --listen 0.0.0.0:50051 --metrics-port 9090\n"
        "  asr serve --model de --http-port 8000      # also OpenAI's POST /v1/audio/transcriptions\n"
        "  asr serve --model runs/de.safetensors --model runs/it.safetensors --token-file token.txt \\\n"
        "      --tls-cert server.crt --tls-key server.key",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", action="append", required=True, help="a shipped model (de), a run folder or a checkpoint "
                   "(.safetensors); repeat to serve several, the first is the default")
    add_runtime_arguments(p, backend_default="onnx on a CPU where ONNX Runtime is installed, else torch")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    p.add_argument("--listen", default=defaults.listen, help="ADDRESS:PORT; 0.0.0.0:PORT for every interface, port 0 for any free one (default: %(default)s)")
    g = p.add_argument_group("streaming")
    slow = CHUNKING_WITHOUT_BF16
    g.add_argument("--chunk-ms", type=int, help=f"audio decoded per step, a multiple of 20 (default: {chunking.chunk_ms}; "
                   f"{slow.chunk_ms} on a CPU without native bf16, where shorter chunks do not keep up)")
    g.add_argument("--left-context-ms", type=int, help=f"earlier audio each step re-reads (default: {chunking.left_context_ms}; "
                   f"{slow.left_context_ms} on a CPU without native bf16)")
    g.add_argument("--lookahead-ms", type=int, default=chunking.lookahead_ms, help="later audio each step waits for (default: %(default)s)")
    g.add_argument("--max-batch-size", type=int, help="most windows per forward pass; 1 turns batching off (default: "
                   f"{batching.max_batch_size}; 1 on the onnx backend, which runs each window alone)")
    g.add_argument("--max-wait-ms", type=float, help=f"longest a window waits for others to share its pass (default: {batching.max_wait_ms:g})")
    g.add_argument("--early-interim", action=argparse.BooleanOptionalAction, default=defaults.early_interim,
                   help="interim results from each chunk as soon as it arrives, before its lookahead (one more forward pass "
                   "of the chunk); finals still wait for the lookahead (default: on)")
    cpu = CHUNKING_WITH_BF16
    g.add_argument("--interim-step-ms", type=int, help="new audio that brings an early interim result, a multiple of 20; "
                   f"0: a chunk's worth (default: {chunking.interim_step_ms} on a GPU; on a CPU {cpu.interim_step_ms}, "
                   f"a client message's worth, or {slow.interim_step_ms} without native bf16)")
    g.add_argument("--interim-context-ms", type=int, help="earlier audio an early interim result re-reads, at most "
                   f"--left-context-ms (default: the left context on a GPU; {cpu.interim_context_ms} on a CPU)")
    g.add_argument("--stop-history-ms", type=int, default=defaults.endpointing.stop_history_ms, help="pause that ends an utterance unless a stream says otherwise; 0: none (default: %(default)s)")
    g.add_argument("--max-utterance-ms", type=int, default=defaults.endpointing.max_utterance_ms,
                   help="an utterance no pause ends is cut at its last word boundary when this long (default: %(default)s)")
    g = p.add_argument_group("limits")
    g.add_argument("--max-streams", type=int, default=limits.max_streams, help="concurrent streams (default: %(default)s)")
    g.add_argument("--max-stream-seconds", type=float, default=limits.max_stream_seconds, help="longest stream (default: %(default)s)")
    g.add_argument("--max-file-requests", type=int, default=limits.max_file_requests, help="whole files (Recognize, OpenAI's "
                   "transcriptions) decoded or waiting at once; more are refused (default: %(default)s)")
    g.add_argument("--max-chunk-bytes", type=int, default=limits.max_chunk_bytes, help="largest audio message of a stream (default: %(default)s)")
    g.add_argument("--max-realtime-factor", type=float, default=limits.max_realtime_factor, help="fastest a stream may send audio after its burst; 0: no limit (default: %(default)s)")
    g.add_argument("--realtime-burst-seconds", type=float, default=limits.realtime_burst_seconds, help="audio a stream may send ahead of that pace (default: %(default)s)")
    g.add_argument("--idle-timeout-seconds", type=float, default=limits.idle_timeout_seconds, help="a stream that sends nothing this long ends with OUT_OF_RANGE, its results so far sent; an HTTP upload that pauses this long, with 408 (default: %(default)s)")
    g.add_argument("--max-recognize-bytes", type=int, default=limits.max_recognize_bytes, help="largest request message, a Recognize call's whole audio included; larger ones get RESOURCE_EXHAUSTED (default: %(default)s)")
    g = p.add_argument_group("operations")
    g.add_argument("--token-file", help="require 'authorization: Bearer TOKEN' with the token in this file (health checks stay open)")
    g.add_argument("--tls-cert", help="PEM certificate chain: serve TLS (with --tls-key)")
    g.add_argument("--tls-key", help="PEM private key of --tls-cert")
    g.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on http://ADDRESS:PORT/metrics, ADDRESS as in --listen")
    g.add_argument("--http-port", type=int, help="also serve OpenAI's transcription API (POST /v1/audio/transcriptions, "
                   "GET /v1/models, GET /healthz) on http://ADDRESS:PORT, ADDRESS as in --listen; 0: any free port")
    g.add_argument("--grace-seconds", type=float, default=defaults.grace_seconds, help="on SIGTERM, how long open streams may go on (default: %(default)s)")
    g.add_argument("--gil-switch-ms", type=float, default=defaults.gil_switch_ms, help="longest the event loop may keep "
                   "Python's GIL from the inference thread between two operators of a forward pass; Python's own 5 ms "
                   "slowed a pass 14-fold beside a busy thread (bench/gil_contention.py) (default: %(default)s)")
    add_decode_arguments(p)
    p.set_defaults(run=_run_serve)


def _run_serve(args) -> int:
    from asr.streaming.options import EndpointOptions
    from asr.transcribe import resolve_device
    from serving.options import BatchOptions, Limits, ServerOptions, default_backend, default_chunking, lacks_native_bf16
    from serving.server import serve

    token = Path(args.token_file).read_text().strip() if args.token_file else None
    if args.token_file and not token:
        raise ValueError(f"{args.token_file} holds no token")
    device_type = resolve_device(args.device).type
    backend = args.backend or default_backend(device_type)
    defaults = default_chunking(device_type)
    chosen = {"chunk_ms": args.chunk_ms, "left_context_ms": args.left_context_ms, "lookahead_ms": args.lookahead_ms,
              "interim_step_ms": args.interim_step_ms, "interim_context_ms": args.interim_context_ms}
    if args.interim_context_ms is None and defaults.interim_context_ms is not None and args.left_context_ms is not None:
        chosen["interim_context_ms"] = min(defaults.interim_context_ms, args.left_context_ms)  # at most the left context
    chunking = dataclasses.replace(defaults, **{name: value for name, value in chosen.items() if value is not None})
    batching = {name: value for name, value in (("max_batch_size", args.max_batch_size), ("max_wait_ms", args.max_wait_ms)) if value is not None}
    if lacks_native_bf16(device_type) and (args.backend is None or any(value is None for value in chosen.values())):
        install = "" if backend == "onnx" else " (pip install onnxruntime for the int8 backend, which keeps up with more streams)"
        print(f"this CPU has no native bf16: streams are decoded in {chunking.chunk_ms}-ms chunks with {chunking.left_context_ms} ms "
              f"of left context, interim results come every {chunking.look_step_ms} ms from {chunking.look_context_ms} ms of context, "
              f"on the {backend} backend{install}, so that streams keep up (--chunk-ms, --left-context-ms, --interim-step-ms, "
              "--interim-context-ms and --backend to choose)", file=sys.stderr)
    options = ServerOptions(
        listen=args.listen,
        chunking=chunking,
        batching=None if not batching else dataclasses.replace(BatchOptions(), **batching),
        endpointing=EndpointOptions(stop_history_ms=args.stop_history_ms, max_utterance_ms=args.max_utterance_ms),
        early_interim=args.early_interim,
        limits=Limits(
            max_streams=args.max_streams,
            max_stream_seconds=args.max_stream_seconds,
            max_file_requests=args.max_file_requests,
            max_chunk_bytes=args.max_chunk_bytes,
            max_realtime_factor=args.max_realtime_factor,
            realtime_burst_seconds=args.realtime_burst_seconds,
            idle_timeout_seconds=args.idle_timeout_seconds,
            max_recognize_bytes=args.max_recognize_bytes,
        ),
        token=token,
        tls_cert=Path(args.tls_cert) if args.tls_cert else None,
        tls_key=Path(args.tls_key) if args.tls_key else None,
        metrics_port=args.metrics_port,
        http_port=args.http_port,
        grace_seconds=args.grace_seconds,
        gil_switch_ms=args.gil_switch_ms,
    )
    return serve(args.model, args.device, options, lambda ref: decode_options(args, ref.lm_dir), args.precision, backend)


# --- stream ----------------------------------------------------------------------------


def _add_stream(commands) -> None:
    p = commands.add_parser(
        "stream",
        help="stream audio files to a running `asr serve` and show the results live",
        description="Decode each file here (any format libsndfile reads), stream it to the server as 16-bit PCM, and show "
        "interim results updating in place and final results as they come. Without --realtime the audio goes as fast "
        "as the server allows.",
        epilog="examples:\n"
        "  asr stream talk.mp3 --server localhost:50051 --realtime\n"
        "  asr stream a.wav b.flac --server asr.example.org:443 --tls --json > results.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="FILE", help="audio file")
    p.add_argument("--server", default="localhost:50051", help="HOST:PORT of the server (default: localhost:50051)")
    p.add_argument("--realtime", action="store_true", help="pace the audio like a live microphone")
    p.add_argument("--chunk-ms", type=int, default=100, help="audio per message (default: 100)")
    p.add_argument("--model", default="", help="model name (see the server's ListModels; default: the server's default)")
    p.add_argument("--language", default="", help="BCP-47 language code the model must recognise (default: any)")
    p.add_argument("--no-interim", action="store_true", help="final results only")
    p.add_argument("--single-utterance", action="store_true", help="stop after the first utterance")
    p.add_argument("--json", action="store_true", help="one JSON object per response on stdout, for machines")
    p.add_argument("--tls", action="store_true", help="connect with TLS")
    p.add_argument("--ca-cert", help="PEM root certificate to trust (default: the system's)")
    p.add_argument("--token-file", help="file holding the server's token (default: the ASR_TOKEN environment variable)")
    p.set_defaults(run=_run_stream)


def _run_stream(args) -> int:
    import asyncio

    from serving.client import StreamOptions, stream_files

    token = Path(args.token_file).read_text().strip() if args.token_file else None
    options = StreamOptions(
        chunk_ms=args.chunk_ms,
        realtime=args.realtime,
        interim_results=not args.no_interim,
        single_utterance=args.single_utterance,
        model=args.model,
        language=args.language,
    )
    ca_cert = Path(args.ca_cert) if args.ca_cert else None
    return asyncio.run(stream_files([Path(p) for p in args.paths], args.server, options, args.json, args.tls, ca_cert, token))
