"""A run killed at any moment resumes and ends exactly where an uninterrupted run ends, whatever the
number of input-pipeline workers (augmentation, SpecAugment and dropout on)."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from asr.checkpoint import load_checkpoint
from tests.test_train import make_corpus
from tests.tiny import tiny_openai_pt


def command(corpus, pretrained, out_dir, workers: int = 0):
    return [sys.executable, "-m", "asr", "train", "--train-manifest", str(corpus), "--out-dir", str(out_dir),
            "--init", str(pretrained), "--max-steps", "30", "--save-every", "5", "--warmup-steps", "5",
            "--batch-seconds", "1.3", "--grad-accum", "2", "--spec-augment", "--augment", "noise_prob=0.5,gain_prob=0.5", "--dropout", "0.1",
            "--lr-head", "3e-3", "--lr-encoder", "3e-3", "--device", "cpu", "--seed", "3", "--data-workers", str(workers)]


@pytest.mark.parametrize("workers", [0, 2])
def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path, workers):
    corpus = make_corpus(tmp_path / "corpus", copies=4)
    pretrained = tiny_openai_pt(tmp_path / "tiny.pt")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    subprocess.run(command(corpus, pretrained, tmp_path / "straight"), check=True, env=env, capture_output=True, timeout=600)

    killed = tmp_path / "killed"
    process = subprocess.Popen(command(corpus, pretrained, killed, workers), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list((killed / "state").glob("step-00000015.pt")) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    states = sorted((killed / "state").glob("step-*.pt"))
    assert states and states[-1].name < "step-00000030.pt", "the run was not killed before its end"

    resumed = subprocess.run(command(corpus, pretrained, killed, workers), check=True, env=env, capture_output=True, text=True, timeout=600)
    assert "resuming" in resumed.stdout

    a = load_checkpoint(tmp_path / "straight" / "last.safetensors").model.state_dict()
    b = load_checkpoint(killed / "last.safetensors").model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert len(list((killed / "state").glob("step-*.pt"))) == 2  # keep_last
