"""Streaming recognition: audio arrives in pieces, words come out as soon as they are decodable.

Whisper's encoder attends over its whole input and its log-mel is normalised
per input (clipped to 8 decades below the input's peak), so no encoder state
carries from one piece of audio to the next. A stream is therefore cut into
chunks, and each chunk is decoded by running the usual path (asr.features ->
asr.models) on a window of [left context + chunk + lookahead] and keeping
the chunk's output frames (20 ms each). The kept frames of successive windows
join into one frame sequence for the whole stream, which is final as soon as
it is emitted, and which asr.decoding's greedy decoder turns into words. The
lookahead's frames are decoded again, for good, with the next window; until
then they give provisional words, so interim results cover all the audio the
model has seen and lag it by one forward pass, not by the lookahead. With
early interim results, audio that comes after a full window's lookahead is
looked at every interim step, with a little left context of its own, so that
words show before the next full window; those frames too are provisional.

Windows of many streams run together in one forward pass: `window_log_probs`
takes a batch of them from any number of streams. Per stream, `Stream` holds
the little state streaming needs: the audio a future window still reads, the
frames of the word still being spoken, and the endpointer's counters.

With a beam-search decoder (`asr.decoding.BeamDecoder`, an n-gram LM and
boosts), a stream's decoder state is the open utterance's frames and its
search: no word is closed at a word break, since the LM scores each word in
the context of the ones before it. The search goes on with each window's
frames (`asr.decoding.BeamSearch`), and its words are final when a pause or
the end of the stream ends the utterance; interim results show the search's
best path so far, then greedy words from the frames it has not reached (the
lookahead's).

An utterance that no pause ends (continuous speech, or endpointing off) is
cut at its last word boundary once it is `max_utterance_ms` long: the open
word goes on into the next utterance. Without the cut, a stream's decoding
state would grow with the stream (an hour is allowed), and with it the cost of
every window's interim results.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from asr.decoding import Hypothesis, Word, greedy_decode
from asr.streaming.options import FRAME_MS, ChunkingOptions, EndpointOptions
from asr.text import Vocabulary
from asr.transcribe import Transcriber


@dataclass(frozen=True)
class Window:
    """Audio to run through the model, and which of its output frames belong to the chunk."""

    wave: torch.Tensor
    keep_from: int  # first output frame of the chunk within the window
    keep_to: int | None  # one past the chunk's last frame, where the lookahead starts; None: the stream's last window, all chunk
    first_frame: int  # the stream's index of frame keep_from
    # An early look at a chunk whose lookahead has not all arrived: its frames only feed interim results,
    # and the chunk is decoded again, for good, once the lookahead is there.
    provisional: bool = False


@dataclass(frozen=True)
class Utterance:
    """A finished stretch of speech: its words, and where in the stream it ended."""

    words: list[Word]
    end: float  # seconds from the start of the stream
    endpointed: bool  # True: ended by a pause; False: by the end of the stream or at max_utterance_ms
    # Beam search with nbest > 1: the runners-up's (text, beam score), best first; the best's score first.
    alternatives: tuple[tuple[str, float], ...] = ()
    score: float = 0.0


def window_log_probs(transcriber: Transcriber, windows: list[Window]) -> list[torch.Tensor]:
    """Log-probabilities (frames, vocab) of each window from its chunk on (the chunk's frames, then the lookahead's).

    All windows go through one forward pass. They may come from different
    streams and differ in length: the frontend pads them and the encoder masks
    the padding.
    """
    log_probs, out_lengths = transcriber.log_probs([w.wave for w in windows])
    log_probs, out_lengths = log_probs.cpu(), out_lengths.tolist()  # one copy off the GPU, not one per window
    return [log_probs[i, w.keep_from : out_lengths[i]] for i, w in enumerate(windows)]


class Stream:
    """One audio stream's streaming state: windows to decode out, utterances and interim words back.

    Usage: `append` audio as it arrives; decode every `next_window()` (with
    `window_log_probs`, batched with other streams) and hand the result to
    `accept`, which returns the utterances that a pause ended; `interim()`
    gives the open utterance's words so far, provisional ones included. After `close()`, `next_window`
    also returns the last, shorter windows, and `finish()` ends the open
    utterance. Frames are accepted in order, one window at a time.
    """

    def __init__(
        self,
        vocabulary: Vocabulary,
        sample_rate: int,
        chunking: ChunkingOptions = ChunkingOptions(),
        endpointing: EndpointOptions = EndpointOptions(),
        search=None,
        early_interim: bool = False,
    ):
        self.vocabulary = vocabulary
        # Interim words from a chunk as soon as it has arrived, without waiting for its lookahead.
        self.early_interim = early_interim
        self._early_until = 0  # the audio received at the last early look (samples)
        self.search = search  # a BeamDecoder for final words; None: greedy
        self.sample_rate = sample_rate
        self.chunking = chunking
        self.endpointing = endpointing
        self.frame_seconds = FRAME_MS / 1000
        self._frame_samples = sample_rate * FRAME_MS // 1000
        self._chunk = chunking.chunk_ms // FRAME_MS
        self._context = chunking.left_context_ms // FRAME_MS
        self._lookahead = chunking.lookahead_ms // FRAME_MS
        self._interim_step = chunking.look_step_ms // FRAME_MS
        self._interim_context = chunking.look_context_ms // FRAME_MS
        self._stop_frames = endpointing.stop_history_ms // FRAME_MS
        self._max_utterance_frames = endpointing.max_utterance_ms // FRAME_MS
        self._audio = torch.zeros(0)
        self._audio_start = 0  # stream sample index of _audio[0]
        self._arrived: list[torch.Tensor] = []  # appended since the last window, joined to _audio once per window
        self.received = 0  # samples appended
        self.closed = False
        self.next_frame = 0  # first frame not yet decoded
        self._in_flight = False
        self._last_decoded = False  # the window that reaches the end of a closed stream is done
        self._lookahead_frames = torch.zeros(0, len(vocabulary))  # the last full window's frames past its chunk
        self._early_frames = torch.zeros(0, len(vocabulary))  # the last early look's: the audio after those
        self._reset_utterance()

    @classmethod
    def for_model(
        cls, transcriber: Transcriber, chunking: ChunkingOptions = ChunkingOptions(), endpointing: EndpointOptions = EndpointOptions(),
        search=None, early_interim: bool = False,
    ) -> Stream:
        """A stream decoded by `transcriber`'s model, whose output frames must be 20 ms apart.

        `search` replaces the transcriber's beam decoder for this stream (one with the request's boosts).
        """
        seconds = transcriber.seconds_per_frame
        if abs(seconds - FRAME_MS / 1000) > 1e-9:
            raise ValueError(f"streaming needs a model with {FRAME_MS} ms output frames, this one has {seconds * 1000:g} ms")
        if search is None and transcriber.decoding.method == "beam":
            search = transcriber.decoder
        return cls(transcriber.bundle.vocabulary, transcriber.sample_rate, chunking, endpointing, search, early_interim)

    # --- audio in, windows out ------------------------------------------------------

    def append(self, samples: torch.Tensor) -> None:
        if self.closed:
            raise RuntimeError("audio appended to a closed stream")
        self._arrived.append(samples.float())
        self.received += len(samples)

    def close(self) -> None:
        """No more audio: the rest is decoded without waiting for lookahead."""
        self.closed = True

    def next_window(self) -> Window | None:
        """The next window to decode, or None until more audio arrives (or when all is decoded)."""
        if self._in_flight:
            raise RuntimeError("the previous window has not been accepted yet")
        if self._last_decoded:
            return None
        first = self.next_frame
        start = first * self._frame_samples
        full_end = start + (self._chunk + self._lookahead) * self._frame_samples
        # An early look reads only the audio that came after the last full window, with its own left context: the
        # lookahead's frames are already there. Read again, they made every look longer than the lookahead (four
        # looks of 1.3-1.9 s per 2.56-s full window with 640-ms chunks and looks every 160 ms).
        look = first + len(self._lookahead_frames)
        provisional = False
        if self.received >= full_end:
            end, keep = full_end, self._chunk
        elif self.closed and self.received > start:
            end, keep = self.received, None  # the stream's last window: everything left
        elif self.early_interim and self.received >= max(look * self._frame_samples, self._early_until) + self._interim_step * self._frame_samples:
            # An interim step's worth of audio has come since the last look, but not the lookahead: an early look
            end, keep, provisional, first = self.received, None, True, look
            self._early_until = self.received
        else:
            return None
        if self._arrived:
            self._audio = torch.cat([self._audio, *self._arrived])
            self._arrived.clear()
        context = self._interim_context if provisional else self._context
        window_start = max(0, (first - context) * self._frame_samples)
        wave = self._audio[window_start - self._audio_start : end - self._audio_start]
        keep_from = first - window_start // self._frame_samples
        self._in_flight = True
        return Window(wave, keep_from, None if keep is None else keep_from + keep, first, provisional)

    @property
    def decoded_seconds(self) -> float:
        """Audio the model has run over, lookahead included: what interim results cover; all of it when done."""
        if self.done:
            return self.received / self.sample_rate
        return (self.next_frame + len(self._lookahead_frames) + len(self._early_frames)) * self.frame_seconds

    @property
    def _provisional(self) -> torch.Tensor:
        """Frames past the decided ones: the last full window's lookahead, then the last early look's."""
        return torch.cat([self._lookahead_frames, self._early_frames])

    @property
    def done(self) -> bool:
        """Closed, and every window decoded."""
        # A last piece shorter than half a frame yields no frame, hence the flag.
        caught_up = self._last_decoded or self.next_frame * self._frame_samples >= self.received
        return self.closed and not self._in_flight and caught_up

    # --- frames in, utterances out -----------------------------------------------------

    def accept(self, window: Window, log_probs: torch.Tensor) -> list[Utterance]:
        """Take a window's frames from `window_log_probs`; return the utterances a pause ended in its chunk."""
        self._in_flight = False
        if window.provisional:  # interim words only: nothing is decided on frames whose lookahead is missing
            self._early_frames = log_probs.float()
            return []
        self._last_decoded = window.keep_to is None
        frames = log_probs.shape[0] if window.keep_to is None else window.keep_to - window.keep_from
        log_probs, self._lookahead_frames = log_probs[:frames], log_probs[frames:].float()
        self._early_frames = self._early_frames[:0]  # they covered audio that this window's frames cover now
        quiet = self._non_speech(window, log_probs)
        ended: list[Utterance] = []
        segment_from = 0
        for i in range(frames):
            if quiet[i]:
                self._quiet_frames += 1
            else:
                self._quiet_frames = 0
                self._has_speech = True
            if self._stop_frames and self._has_speech and self._quiet_frames >= self._stop_frames:
                self._push(log_probs[segment_from : i + 1], window.first_frame + segment_from)
                end_frame = window.first_frame + i + 1
                words, score, alternatives = self._utterance_result()
                if words:  # speech the model made nothing of ends silently
                    ended.append(Utterance(words, end_frame * self.frame_seconds, True, alternatives, score))
                self._reset_utterance()
                segment_from = i + 1
        self._push(log_probs[segment_from:], window.first_frame + segment_from)
        self.next_frame = window.first_frame + frames
        if self._utterance_start is not None and self.next_frame - self._utterance_start >= self._max_utterance_frames:
            ended.extend(self._cut_long_utterance())
        # Keep only the audio that later windows read as left context.
        keep_from = max(0, (self.next_frame - self._context) * self._frame_samples)
        if keep_from > self._audio_start:
            self._audio = self._audio[keep_from - self._audio_start :]
            self._audio_start = keep_from
        return ended

    def interim(self) -> tuple[list[Word], int]:
        """The open utterance's words so far, the lookahead's provisional ones included, and how many are fixed.

        Chunk frames never change, so with greedy decoding a word closed by a
        word break in them is final; the open word and the provisional words may
        still change. With beam search nothing is fixed before the utterance
        ends: the words are the search's best path so far (the LM's words), then
        greedy ones from the frames after its last complete word.
        """
        closed, start = list(self._closed_words), self._tail_start if len(self._tail) else self.next_frame
        open_frames = self._tail[start - self._tail_start :]
        if self._utterance_search is not None:
            closed = self._moved(self._utterance_search.best(self.frame_seconds), self._tail_start).words
            start = round(closed[-1].end / self.frame_seconds) if closed else self._tail_start
            open_frames = self._utterance_search.frames[start - self._tail_start :]
        frames = torch.cat([open_frames, self._provisional])
        fixed = 0 if self.search is not None else len(closed)
        return closed + (self._decode(frames, start) if len(frames) else []), fixed

    def finish(self) -> Utterance | None:
        """End the open utterance at the end of the stream; None if it holds no words."""
        words, score, alternatives = self._utterance_result()
        self._reset_utterance()
        return Utterance(words, self.decoded_seconds, False, alternatives, score) if words else None

    # --- internals -------------------------------------------------------------------------

    def _reset_utterance(self) -> None:
        self._closed_words: list[Word] = []  # words ended by a word break
        # Greedy: the frames of the open word, log-probs. Beam: empty; the search holds the utterance's frames.
        self._tail = torch.zeros(0, len(self.vocabulary))
        self._tail_start = 0  # stream frame index of _tail[0], or of the search's first frame
        self._utterance_start: int | None = None  # stream frame of the utterance's first emitting frame
        self._has_speech = False
        self._quiet_frames = 0
        self._utterance_search = None  # with a beam decoder: the open utterance's search, from its first emitting frame

    def _non_speech(self, window: Window, log_probs: torch.Tensor) -> list[bool]:
        probs = log_probs.float().exp()
        nothing = probs[:, self.vocabulary.blank_id] + probs[:, self.vocabulary.delimiter_id]
        # Frame levels from the chunk's own samples, zero-padded to whole frames.
        start = window.keep_from * self._frame_samples
        samples = window.wave[start : start + log_probs.shape[0] * self._frame_samples]
        samples = torch.nn.functional.pad(samples, (0, log_probs.shape[0] * self._frame_samples - len(samples)))
        rms = samples.view(-1, self._frame_samples).float().pow(2).mean(dim=1).sqrt()
        dbfs = 20 * torch.log10(rms.clamp(min=1e-10))
        return ((nothing >= self.endpointing.stop_threshold) | (dbfs < self.endpointing.silence_dbfs)).tolist()

    def _push(self, log_probs: torch.Tensor, first_frame: int) -> None:
        """Add frames to the open utterance, moving words that a word break closed out of the tail."""
        if len(log_probs) == 0:
            return
        if self._utterance_search is not None:  # no word is final before the utterance ends: the search goes on
            self._utterance_search.step(log_probs)
            return
        if len(self._tail) == 0:
            self._tail_start = first_frame
        self._tail = torch.cat([self._tail, log_probs.float()])
        self._drop_silent_lead()
        if len(self._tail) and self._utterance_start is None:
            self._utterance_start = self._tail_start
        if self.search is not None:
            if len(self._tail):  # the search starts at the utterance's first emitting frame
                self._utterance_search = self.search.search()
                self._utterance_search.step(self._tail)
                self._tail = self._tail[:0]
            return
        ids = self._tail.argmax(dim=-1)
        delimiter = self.vocabulary.delimiter_id
        # The last place where a word break ends: every word before it is closed.
        breaks = ((ids[:-1] == delimiter) & (ids[1:] != delimiter)).nonzero().flatten()
        if len(breaks):
            cut = int(breaks[-1]) + 1
            self._closed_words.extend(self._decode(self._tail[:cut], self._tail_start))
            self._tail = self._tail[cut:]
            self._tail_start += cut
            self._drop_silent_lead()

    def _drop_silent_lead(self) -> None:
        # Leading blanks and word breaks emit nothing and start no word, so the
        # tail may begin at its first character without changing the decoding;
        # this keeps the tail to one word however long a pause lasts.
        ids = self._tail.argmax(dim=-1)
        emitting = ((ids != self.vocabulary.blank_id) & (ids != self.vocabulary.delimiter_id)).nonzero()
        lead = int(emitting[0]) if len(emitting) else len(ids)
        self._tail = self._tail[lead:]
        self._tail_start += lead

    def _cut_long_utterance(self) -> list[Utterance]:
        """End the open utterance at its last word boundary; its open word starts the next one."""
        carried = self._tail[:0]
        score, alternatives = 0.0, ()
        if self.search is None and self._closed_words:
            words, end_frame, carried = self._closed_words, self._tail_start, self._tail
        elif self.search is not None and (best := self._moved(self._utterance_search.best(self.frame_seconds), self._tail_start)).words:
            words, score = best.words, best.score
            end_frame = round(words[-1].end / self.frame_seconds)
            carried = self._utterance_search.frames[end_frame - self._tail_start :]
        else:  # one word as long as an utterance: noise, most likely; it all ends here
            (words, score, alternatives), end_frame = self._utterance_result(), self.next_frame
        self._reset_utterance()
        self._push(carried, end_frame)
        self._has_speech = self._utterance_start is not None
        return [Utterance(words, end_frame * self.frame_seconds, False, alternatives, score)] if words else []

    def _open_words(self) -> list[Word]:
        return self._decode(self._tail, self._tail_start) if len(self._tail) else []

    def _utterance_result(self) -> tuple[list[Word], float, tuple[tuple[str, float], ...]]:
        """The open utterance's words, the best's score and the runners-up (beam search with nbest > 1)."""
        if self.search is not None:
            if self._utterance_search is None:
                return [], 0.0, ()
            hypothesis = self._moved(self._utterance_search.result(self.frame_seconds), self._tail_start)
            return hypothesis.words, hypothesis.score, tuple((h.text, h.score) for h in hypothesis.alternatives)
        return self._closed_words + self._open_words(), 0.0, ()

    def _decode(self, log_probs: torch.Tensor, first_frame: int) -> list[Word]:
        (hypothesis,) = greedy_decode(log_probs[None], torch.tensor([len(log_probs)]), self.vocabulary, self.frame_seconds)
        return self._moved(hypothesis, first_frame).words

    def _moved(self, hypothesis: Hypothesis, first_frame: int) -> Hypothesis:
        """`hypothesis` of frames that start at the stream's `first_frame`, its words' times moved there."""
        # Back to frame indices and shifted there, so times equal batch decoding's to the last bit.
        def moved(seconds: float) -> float:
            return (first_frame + round(seconds / self.frame_seconds)) * self.frame_seconds

        return dataclasses.replace(hypothesis, words=[dataclasses.replace(w, start=moved(w.start), end=moved(w.end)) for w in hypothesis.words])

