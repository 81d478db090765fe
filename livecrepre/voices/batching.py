"""Voices playing one model step together: one batched call generates the next blocks of every voice
of the group that needs one soon, so that N voices cost about one model step, not N."""
from __future__ import annotations

from ..sampling import BLOCK_TICKS, generate_blocks


def generate_in_batches(voices, tick: int) -> int:
    """Voices playing one model get their next blocks from one batched call when one of them needs
    a block for this tick; the others of the group whose buffer ends within a block are topped up
    in the same call, so the group stays in step. A voice alone, fading or of another family
    generates by itself in events_at, as does any voice when no compiled batch size fits (the
    generator thread never compiles). Returns the number of batched calls made."""
    groups: dict[int, list] = {}
    for voice in voices:
        until = voice.batch_until(tick)
        if until is not None and voice.stream.batchable():
            groups.setdefault(id(voice.stream.model), []).append((voice.stream, until))
    calls = 0
    for members in groups.values():
        while len(members) > 1 and any(s.generated_until < until for s, until in members):
            batch = [s for s, until in members if s.generated_until < until + BLOCK_TICKS]
            blocks = generate_blocks(batch[0].model, [s.block_inputs() for s in batch])
            if blocks is None:
                break
            calls += 1
            for stream, block in zip(batch, blocks):
                try:
                    stream.take_block(*block)
                except FloatingPointError:  # its voice fails alone, in events_at
                    members = [m for m in members if m[0] is not stream]
    return calls
