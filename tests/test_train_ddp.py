"""Two processes with the gloo backend train to the same model as one process with the same global batch."""

import os
import subprocess
import sys

import torch

from asr.checkpoint import load_checkpoint
from tests.test_train import make_corpus
from tests.tiny import tiny_openai_pt


def test_two_gloo_processes_match_one_process_accumulating(tmp_path):
    corpus = make_corpus(tmp_path / "corpus", copies=4)
    pretrained = tiny_openai_pt(tmp_path / "tiny.pt")
    common = ["--train-manifest", str(corpus), "--init", str(pretrained), "--max-steps", "8", "--warmup-steps", "2",
              "--batch-seconds", "1.3", "--spec-augment", "--device", "cpu", "--lr-head", "3e-3", "--lr-encoder", "3e-3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "asr", "train", *common, "--out-dir", str(tmp_path / "one"), "--grad-accum", "2"],
                   check=True, env=env, capture_output=True, timeout=600)
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          "-m", "asr", "train", *common, "--out-dir", str(tmp_path / "two"), "--grad-accum", "1"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    assert "2 process(es)" in two.stdout
    a = load_checkpoint(tmp_path / "one" / "last.safetensors").model.state_dict()
    b = load_checkpoint(tmp_path / "two" / "last.safetensors").model.state_dict()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key
