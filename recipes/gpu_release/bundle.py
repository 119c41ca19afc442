"""The release training on a lent GPU machine, and what travels there (recipes/gpu_release/README.md).

That machine reaches no package registry and takes at most 64 MiB of working
tree, the repository included. So `pack`, run here, puts into .gpu/ what it
needs beyond the repository, small enough to travel: whisper-base's encoder in
int8 (17 MB, xz), the train split's sentences, and espeak-ng with its
libraries, trimmed data and the MBROLA train voices that fit. There,
`install`, `weights` and `synth` unpack them and build the train split on its
16 cores; `asr train` trains from the int8 weights; and `delta` stores what
training changed (asr.export's format, every change kept whole) in parts small
enough to come back. Here, `rebase` puts that change onto the true whisper-base
weights: a full checkpoint, which recipes/release.sh turns into a shipped
model like any other.

    python recipes/gpu_release/bundle.py pack --langs it,es
"""

from __future__ import annotations

import argparse
import io
import json
import lzma
import os
import platform
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import torch
from safetensors.torch import load, load_file, save

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from asr.checkpoint import ModelBundle, bundle_from_header, save_checkpoint  # noqa: E402
from asr.export import apply_changes, export_compact, read_header, weights_digest  # noqa: E402
from asr.export import dequantize as dequantize_matrix  # noqa: E402
from asr.export import quantize as quantize_matrix  # noqa: E402
from asr.files import write_atomically  # noqa: E402
from asr.pretrained import load_pretrained_encoder  # noqa: E402

BASE = "whisper-base"
WEIGHTS = "whisper-base.int8.safetensors.xz"
SYNTH = "synth.tar.xz"
LIMIT = 64 << 20  # what `device` carries: the working tree and the carried folders together
PART = 15 << 20  # a file back from `device`: at most 16 MiB
ESPEAK_DATA = Path("/usr/lib/x86_64-linux-gnu/espeak-ng-data")
GLIBC = ("libc.so", "libm.so", "libpthread.so", "libdl.so", "librt.so", "ld-linux")


# --- int8 weights ---------------------------------------------------------------------------------------------------


def quantize(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Matrices in int8 with one fp16 scale per output row (asr.export's quantizer, a row one group); the rest (biases,
    norms) in fp16."""
    stored = {}
    for name, tensor in state.items():
        if tensor.dim() >= 2 and tensor.numel() > 65536:
            rows = tensor.float().reshape(tensor.shape[0], -1)
            levels, stored[name + ".scale"] = quantize_matrix(rows, 8, group=rows.shape[1])
            stored[name] = levels.reshape(tensor.shape)
        else:
            stored[name] = tensor.half()
    return stored


def dequantize(stored: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    state = {}
    for name, tensor in stored.items():
        if name.endswith(".scale"):
            continue
        if tensor.dtype == torch.int8:
            rows = dequantize_matrix(tensor.reshape(tensor.shape[0], -1), stored[name + ".scale"], 8)
            state[name] = rows.reshape(tensor.shape)
        else:
            state[name] = tensor.float()
    return state


def int8_base() -> dict[str, torch.Tensor]:
    """The weights training there starts from: whisper-base's encoder through int8 and back."""
    return dequantize(quantize(load_pretrained_encoder(BASE).state_dict))


# --- pack (here) ----------------------------------------------------------------------------------------------------


def tree_bytes() -> int:
    """What `device` sends of the repository: tracked files and untracked ones git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "-z", "-c", "-o", "--exclude-standard"], cwd=REPO, check=True,
                            capture_output=True).stdout.decode().split("\0")
    return sum((REPO / name).stat().st_size for name in listed if name and (REPO / name).is_file())


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) if folder.exists() else 0


def espeak_libraries() -> list[Path]:
    """The shared libraries espeak-ng loads, glibc's excepted (the machine there has its own)."""
    lines = subprocess.run(["ldd", shutil.which("espeak-ng")], check=True, capture_output=True, text=True).stdout.splitlines()
    found = [Path(line.split("=>")[1].split("(")[0].strip()) for line in lines if "=>" in line]
    return [path for path in found if not path.name.startswith(GLIBC)]


def mbrola_folder(voice) -> Path:
    from asr.corpora.synth import MBROLA_VOICES

    return MBROLA_VOICES / voice.voice_id.removeprefix("mb-")


def xz_tar(members: list[tuple[Path, str]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz", preset=6) as tar:
        for path, name in members:
            tar.add(path.resolve(), arcname=name)
    return buffer.getvalue()


def pack(langs: list[str], out: Path, whl: Path = REPO / ".whl") -> dict:
    """Write .gpu/: weights, sentences, the synthesizer; the MBROLA train voices, smallest first, while all fits beside
    the tree and the wheels carried with it (`whl`)."""
    from asr.corpora.synth import VOICES
    from asr.corpora.texts import sentence_pools

    out.mkdir(parents=True, exist_ok=True)
    for old in [out / WEIGHTS, out / SYNTH, out / "bundle.json", *out.glob("sentences-*.json.xz")]:  # an earlier pack's
        old.unlink(missing_ok=True)
    true = load_pretrained_encoder(BASE).state_dict
    stored = quantize(true)
    write_atomically(out / WEIGHTS, lzma.compress(save(stored), preset=6))
    for lang in langs:
        pools, sources = sentence_pools(lang)
        train = [[s.spoken, s.text] for s in pools["train"]]  # only train: dev and test sentences never leave
        write_atomically(out / f"sentences-{lang}.json.xz", lzma.compress(json.dumps({"train": train, "sources": sources}).encode()))

    core = [(Path(shutil.which("espeak-ng")), "bin/espeak-ng"), (Path(shutil.which("mbrola")), "bin/mbrola")]
    core += [(path, f"lib/{path.name}") for path in espeak_libraries()]
    dictionaries = {f"{lang}_dict" for lang in langs} | {"en_dict"}  # English: espeak-ng's fallback for foreign words
    core += [(path, f"espeak-ng-data/{path.name}") for path in sorted(ESPEAK_DATA.iterdir())
             if not path.name.endswith("_dict") or path.name in dictionaries]
    espeak = [voice for lang in langs for voice in VOICES[lang]["train"] if voice.engine == "espeak-ng"]
    mbrola = sorted((voice for lang in langs for voice in VOICES[lang]["train"] if voice.engine == "mbrola"),
                    key=lambda voice: folder_bytes(mbrola_folder(voice)))
    fixed = tree_bytes() + folder_bytes(whl) + folder_bytes(out) + (1 << 20)  # 1 MiB for bundle.json and margin
    chosen, left_out = [], []
    synth = xz_tar(core)
    for voice in mbrola:
        trial = xz_tar(core + [(mbrola_folder(v), f"mbrola/{mbrola_folder(v).name}") for v in chosen + [voice]])
        if fixed + len(trial) <= LIMIT:
            chosen.append(voice)
            synth = trial
        else:
            left_out.append(f"{voice.name} ({folder_bytes(mbrola_folder(voice)) / 1e6:.1f} MB unpacked: over the 64 MiB that travels)")
    write_atomically(out / SYNTH, synth)
    record = {
        "langs": langs,
        "voices": {lang: [v.name for v in espeak + chosen if v.lang == lang] for lang in langs},
        "left_out": left_out,
        "base": {"name": BASE, "sha256": weights_digest(true), "int8_sha256": weights_digest(dequantize(stored))},
        "bytes": {"tree": tree_bytes(), ".whl": folder_bytes(whl), **{p.name: p.stat().st_size for p in sorted(out.iterdir())}},
    }
    write_atomically(out / "bundle.json", json.dumps(record, indent=2) + "\n")
    record["bytes"]["total"] = tree_bytes() + folder_bytes(whl) + folder_bytes(out)
    if record["bytes"]["total"] > LIMIT:
        raise SystemExit(f"{out} and the tree come to {record['bytes']['total'] / 2**20:.1f} MiB, over the 64 MiB that travels; "
                         f"pack fewer languages")
    return record


# --- there ----------------------------------------------------------------------------------------------------------


def install(bundle: Path, prefix: Path) -> None:
    """Unpack the synthesizer into `prefix` and put wrappers in prefix/path, to go first on PATH; link the MBROLA voices
    where espeak-ng and asr.corpora.synth look for them."""
    from asr.corpora.synth import MBROLA_VOICES

    with tarfile.open(bundle / SYNTH) as tar:
        tar.extractall(prefix, filter="tar")
    (prefix / "path").mkdir(exist_ok=True)
    for program in ("espeak-ng", "mbrola"):
        wrapper = prefix / "path" / program
        wrapper.write_text(f'#!/bin/sh\nLD_LIBRARY_PATH="{prefix}/lib" ESPEAK_DATA_PATH="{prefix}" exec "{prefix}/bin/{program}" "$@"\n')
        wrapper.chmod(0o755)
    MBROLA_VOICES.mkdir(parents=True, exist_ok=True)
    for voice in sorted((prefix / "mbrola").glob("*")) if (prefix / "mbrola").exists() else []:
        link = MBROLA_VOICES / voice.name
        if not link.exists():
            link.symlink_to(voice)


def write_base(bundle: Path, out: Path) -> None:
    """The int8 weights, dequantized, as an openai-whisper .pt file that `asr train --init` reads; without a packed
    bundle (here), those of the installed whisper-base."""
    state = dequantize(load(lzma.decompress((bundle / WEIGHTS).read_bytes()))) if (bundle / WEIGHTS).exists() else int8_base()
    config = {"n_mels": state["conv1.weight"].shape[1], "n_audio_ctx": state["positional_embedding"].shape[0],
              "n_audio_state": state["conv1.weight"].shape[0], "n_audio_layer": 1 + max(int(k.split(".")[1]) for k in state if k.startswith("blocks."))}
    config["n_audio_head"] = config["n_audio_state"] // 64  # Whisper's heads are 64 wide
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"dims": config, "model_state_dict": {f"encoder.{k}": v for k, v in state.items()}}, out)


def synth(bundle: Path, lang: str, hours: float, out: Path, jobs: int) -> None:
    """The train split of `hours` hours, from the carried sentences, read by the carried voices."""
    from asr.corpora.synth import VOICES, build_corpus
    from asr.corpora.texts import SPLIT_FRACTIONS, Sentence

    record = json.loads((bundle / "bundle.json").read_text())
    carried = json.loads(lzma.decompress((bundle / f"sentences-{lang}.json.xz").read_bytes()))
    voices = [voice for voice in VOICES[lang]["train"] if voice.name in record["voices"][lang]]
    pools = {"train": [Sentence(spoken, text) for spoken, text in carried["train"]]}
    build_corpus(lang, out, hours=hours / SPLIT_FRACTIONS["train"], jobs=jobs, progress=False, voices={"train": voices},
                 sentences=(pools, carried["sources"]))


def delta(checkpoint: Path, base: Path, out: Path, name: str, extra: list[Path]) -> None:
    """What training changed relative to the weights it started from, every change whole (fp16), in parts that come
    back; and the run's log and corpus card in one JSON."""
    from asr.checkpoint import load_checkpoint

    bundle = load_checkpoint(checkpoint)
    whole = out / f"{name}.delta.safetensors"
    export_compact(bundle, str(base), whole, bits=16)
    data = whole.read_bytes()
    whole.unlink()
    for index in range(0, len(data), PART):
        (out / f"{name}.delta.part{index // PART}").write_bytes(data[index : index + PART])
    record = {path.name: path.read_text() for path in extra}
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    record["machine"] = f"{gpu}, {os.cpu_count()} CPU cores, {platform.machine()}, torch {torch.__version__} (a lent machine)"
    (out / f"{name}.run.json").write_text(json.dumps(record))


# --- rebase (here) --------------------------------------------------------------------------------------------------


def rebase(parts: list[Path], run: Path) -> Path:
    """The full checkpoint of a GPU run: its changes put onto the true whisper-base weights, in run/ with its log."""
    run.mkdir(parents=True, exist_ok=True)
    joined = run / "gpu-delta.safetensors"
    write_atomically(joined, b"".join(path.read_bytes() for path in sorted(parts, key=lambda p: int(p.name.rsplit("part", 1)[1]))))
    tensors, header = load_file(joined), read_header(joined)
    base = int8_base()
    compact = header.pop("compact")
    if compact["base_sha256"] != weights_digest(base):
        raise SystemExit("the changes were made against other weights than whisper-base's int8 form; pack and train again")
    pretrained = load_pretrained_encoder(BASE)
    bundle: ModelBundle = bundle_from_header(header)
    bundle.model.load_state_dict(apply_changes(pretrained.state_dict, tensors, compact["tensors"]), strict=True)
    bundle.metadata = {**bundle.metadata, "init": pretrained.source, "trained_from": f"{BASE} in int8 (recipes/gpu_release)"}
    save_checkpoint(run / "best.safetensors", bundle)
    return run / "best.safetensors"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("pack", help="here: write .gpu/ for the languages")
    p.add_argument("--langs", default="it,es", help="comma-separated (default: it,es; German's MBROLA voices are large)")
    p.add_argument("--out", type=Path, default=REPO / ".gpu")
    p.add_argument("--wheels", type=Path, default=REPO / ".whl", help="the wheel folder carried with it (default: .whl)")
    p = commands.add_parser("install", help="there: unpack the synthesizer")
    p.add_argument("--bundle", type=Path, default=REPO / ".gpu")
    p.add_argument("--prefix", type=Path, required=True)
    p = commands.add_parser("weights", help="there: the int8 weights as a .pt file for asr train --init")
    p.add_argument("--bundle", type=Path, default=REPO / ".gpu")
    p.add_argument("--out", type=Path, required=True)
    p = commands.add_parser("synth", help="there: build the train split")
    p.add_argument("--bundle", type=Path, default=REPO / ".gpu")
    p.add_argument("--lang", required=True)
    p.add_argument("--hours", type=float, required=True, help="hours of train speech")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--jobs", type=int, default=os.cpu_count())
    p = commands.add_parser("delta", help="there: the run's changes, in parts, for $OUT")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--base", type=Path, required=True, help="the .pt file `weights` wrote")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--extra", type=Path, nargs="*", default=[], help="text files to bring back with it (log, corpus card)")
    p = commands.add_parser("rebase", help="here: a full checkpoint from the parts that came back")
    p.add_argument("parts", type=Path, nargs="+")
    p.add_argument("--run", type=Path, required=True, help="the run folder to write best.safetensors (and the log) into")
    args = parser.parse_args()
    if args.command == "pack":
        record = pack([lang.strip() for lang in args.langs.split(",") if lang.strip()], args.out, args.wheels)
        print(json.dumps(record, indent=2))
    elif args.command == "install":
        install(args.bundle, args.prefix)
    elif args.command == "weights":
        write_base(args.bundle, args.out)
    elif args.command == "synth":
        synth(args.bundle, args.lang, args.hours, args.out, args.jobs)
    elif args.command == "delta":
        args.out.mkdir(parents=True, exist_ok=True)
        delta(args.checkpoint, args.base, args.out, args.name, args.extra)
    else:
        path = rebase(args.parts, args.run)
        run_json = args.parts[0].parent / (args.parts[0].name.split(".delta.")[0] + ".run.json")
        if run_json.exists():
            for name, text in json.loads(run_json.read_text()).items():
                if name != "machine":
                    (args.run / name).write_text(text)
            (args.run / "trained_on.json").write_text(json.dumps({"machine": json.loads(run_json.read_text())["machine"]}) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
