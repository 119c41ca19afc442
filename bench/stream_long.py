"""Long streams without pauses: does the cost of a window and the process's memory stay flat as it goes on?

A stream's open utterance is decoded as it grows (asr.streaming). An
utterance ends at a pause, with the stream, or at its last word boundary once
it is --max-utterance-ms long: continuous speech, or a client that turns
endpointing off, would otherwise keep one utterance open for the whole stream,
up to the server's --max-stream-seconds (an hour by default). This
drives one `Stream` through --minutes of speech with endpointing off, window
by window as the server does (forward pass, `accept`, `interim` after each
window), and reports per minute of stream: the median time of the decoding
side of a window (accept + interim, the forward pass excluded: it does not
depend on the position) and the process's peak resident memory. With
--max-utterance-ms beyond the stream's length, the one utterance is never cut.
With --streams 1,8 it runs one stream, then eight at once, and reports how
much the peak memory grew per stream added: what each stream's decoding
state costs a server at most. --keep-frames sets how far back a beam search
keeps its alternatives (asr.decoding.BeamSearch.keep_frames; beyond the
utterance: never settles), and --reference compares the words with an
earlier run's (WER, the earlier run's words as the reference).

The speech is espeak-ng's German (the model's language) reading a fixed
text, looped; the model runs with its default decoding (beam search with the
shipped model's LM).

    python bench/stream_long.py --model de --minutes 10 --max-utterance-ms 600000 \\
        --out bench/results/stream_long-avx2/unbounded-utterance.json
    python bench/stream_long.py --model de --minutes 10 --out bench/results/stream_long-avx2/utterances-cut-at-30s.json
    D=bench/results/stream_long-avx2/beam-settling
    python bench/stream_long.py --model de --minutes 2 --streams 1,8 --keep-frames 100000 --out $D/keep-all.json
    python bench/stream_long.py --model de --minutes 2 --streams 1,8 --keep-frames 250 --reference $D/keep-all.json --out $D/keep-250.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from asr.audio import load_audio
from asr.cli import add_decode_arguments, add_model_arguments, decode_options
from asr.decoding import BeamSearch
from asr.registry import resolve_model
from asr.streaming.options import ChunkingOptions, EndpointOptions
from asr.streaming.stream import Stream, window_log_probs
from asr.transcribe import Transcriber
from eval.report import describe_machine
from eval.scoring import score

TEXT = (
    "Der Zug nach Berlin fährt heute eine Stunde später ab, weil auf der Strecke gebaut wird und die Weichen "
    "erneuert werden müssen, so dass alle Reisenden gebeten werden, auf die Ansagen am Bahnsteig zu achten "
    "und ihre Anschlüsse rechtzeitig zu prüfen, bevor sie sich auf den Weg machen"
)


def german_speech(rate: int) -> np.ndarray:
    """espeak-ng reading TEXT without sentence pauses (one long sentence), at `rate` Hz."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", "de", "-s", "160", "-w", str(path), TEXT], check=True)
        return load_audio(path, rate).numpy()


def run(transcriber: Transcriber, speech: np.ndarray, streams: int, minutes: float, max_utterance_ms: int) -> dict:
    """`streams` identical streams of `minutes` of `speech`, window by window; their windows are the same, so each
    window's forward pass runs once and every stream takes its frames."""
    chunking = ChunkingOptions()
    endpointing = EndpointOptions(stop_history_ms=0, max_utterance_ms=max_utterance_ms)
    lanes = [Stream.for_model(transcriber, chunking, endpointing) for _ in range(streams)]
    piece = transcriber.sample_rate * chunking.chunk_ms // 1000
    total = int(minutes * 60 * transcriber.sample_rate)
    print(f"{minutes:g} min of {streams} stream(s), endpointing off, utterances cut at {max_utterance_ms} ms, "
          f"{transcriber.decoding.method} decoding; speech loop of {len(speech) / transcriber.sample_rate:.1f} s", flush=True)
    per_minute: dict[int, list[float]] = {}
    forward: list[float] = []
    rows = []
    utterances = []
    sent = 0
    started = time.perf_counter()
    while sent < total:
        at = sent % len(speech)
        samples = torch.from_numpy(speech[at : at + piece])
        sent += len(samples)
        for stream in lanes:
            stream.append(samples)
            if sent >= total:
                stream.close()
        while (windows := [stream.next_window() for stream in lanes])[0] is not None:
            t0 = time.perf_counter()
            (log_probs,) = window_log_probs(transcriber, windows[:1])
            t1 = time.perf_counter()
            for stream, window in zip(lanes, windows):
                ended = stream.accept(window, log_probs)
                stream.interim()
            utterances.extend(ended)  # the last stream's: all streams decode the same
            t2 = time.perf_counter()
            forward.append(t1 - t0)
            minute = int(windows[0].first_frame * lanes[0].frame_seconds // 60)
            if minute not in per_minute:
                if per_minute:
                    rows.append(summary(minute - 1, per_minute[minute - 1], started))
                per_minute[minute] = []
            per_minute[minute].append((t2 - t1) / streams)
    final = lanes[-1].finish()
    utterances.extend([final] if final else [])
    last = max(per_minute)
    rows.append(summary(last, per_minute[last], started))
    words = sum(len(u.words) for u in utterances)
    print(f"{len(utterances)} utterances, {words} words a stream; forward pass median {statistics.median(forward) * 1000:.0f} ms a window", flush=True)
    return {"streams": streams, "utterances": len(utterances), "words": words, "text": " ".join(w.word for u in utterances for w in u.words),
            "forward_median_ms": statistics.median(forward) * 1000, "per_minute": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser)
    add_decode_arguments(parser)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: %(default)s)")
    parser.add_argument("--minutes", type=float, default=5.0, help="stream length (default: %(default)s)")
    parser.add_argument("--streams", default="1", help="comma-separated numbers of concurrent streams, run one after "
                        "another; the peak memory's growth from one to the next, per stream added, is reported (default: 1)")
    parser.add_argument("--max-utterance-ms", type=int, default=EndpointOptions.max_utterance_ms,
                        help="where an utterance no pause ends is cut; longer than the stream: never (default: %(default)s)")
    parser.add_argument("--keep-frames", type=int, default=BeamSearch.keep_frames,
                        help="frames behind the newest that a beam search keeps its alternatives for (default: %(default)s)")
    parser.add_argument("--reference", type=Path, help="an earlier run's JSON: the words are compared with its first run's")
    parser.add_argument("--out", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    BeamSearch.keep_frames = args.keep_frames
    model = resolve_model(args.model)
    transcriber = Transcriber(model.checkpoint, device=args.device, decoding=decode_options(args, model.lm_dir),
                              precision=args.precision, backend=args.backend)
    speech = german_speech(transcriber.sample_rate)
    runs = []
    reference = json.loads(args.reference.read_text())["runs"][0]["text"] if args.reference else None
    for streams in map(int, args.streams.split(",")):
        runs.append(run(transcriber, speech, streams, args.minutes, args.max_utterance_ms))
        if reference is not None:
            runs[-1]["wer_vs_reference"] = score([reference], [runs[-1]["text"]]).wer * 100
            print(f"WER against {args.reference}: {runs[-1]['wer_vs_reference']:.2f} %", flush=True)
        if len(runs) > 1:
            before, after = runs[-2], runs[-1]
            grown = after["per_minute"][-1]["peak_rss_mb"] - before["per_minute"][-1]["peak_rss_mb"]
            after["peak_rss_mb_per_stream_added"] = grown / (after["streams"] - before["streams"])
            print(f"peak RSS grew {grown:.0f} MB from {before['streams']} to {after['streams']} streams: "
                  f"{after['peak_rss_mb_per_stream_added']:.1f} MB a stream", flush=True)
    if args.out:
        result = {
            "command": "python bench/stream_long.py " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in (
                ("model", args.model), ("minutes", args.minutes), ("streams", args.streams), ("max_utterance_ms", args.max_utterance_ms),
                ("keep_frames", args.keep_frames)) + ((("reference", args.reference),) if args.reference else ())),
            "machine": describe_machine(),
            "decoding": transcriber.decoding.method,
            "chunking": dataclasses.asdict(ChunkingOptions()),
            "max_utterance_ms": args.max_utterance_ms,
            "keep_frames": args.keep_frames,
            "runs": runs,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")


def summary(minute: int, seconds: list[float], started: float) -> dict:
    row = {
        "minute": minute,
        "windows": len(seconds),
        "decode_median_ms": statistics.median(seconds) * 1000,
        "decode_max_ms": max(seconds) * 1000,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "elapsed_s": time.perf_counter() - started,
    }
    print(f"minute {minute}: {len(seconds)} windows, decoding median {row['decode_median_ms']:.1f} ms, max {row['decode_max_ms']:.1f} ms, "
          f"peak RSS {row['peak_rss_mb']:.0f} MB ({row['elapsed_s']:.0f} s)", flush=True)
    return row


if __name__ == "__main__":
    main()
