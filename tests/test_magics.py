"""The magics in a real IPython InteractiveShell; every bad input is one line and the music goes on."""
import time

import pytest
from IPython.core.error import UsageError

from livecrepre.magics import engine_of

from .conftest import Collector, assert_kept_playing
from .helpers import constant_model


def magic(shell, line):
    name, _, rest = line.partition(" ")
    return shell.run_line_magic(name, rest)


def test_a_performance_through_the_magics(shell, playing, osc_receiver, capsys):
    shell.user_ns["lick"] = constant_model(67, "lick")
    magic(shell, "voice lead melody --temp 0.8 --to print")
    magic(shell, "temp lead 1.3")
    magic(shell, "bpm 200")
    magic(shell, "swap lead lick --at bar")
    magic(shell, f"route lead osc://127.0.0.1:{osc_receiver.port}/lead print")
    magic(shell, "crepre status")
    out = capsys.readouterr().out
    assert "lead: melody at temp 0.8 -> print" in out
    assert "lead: temp 1.3 from bar" in out
    assert "200 bpm" in out
    assert "lead: lick from bar" in out and ".1.1" in out.split("lead: lick from bar")[1].split()[0]
    status = out.split("livecrepre running")[1]
    assert "keep " in status and "lead " in status and "temp 1.3" in status
    assert f"osc://127.0.0.1:{osc_receiver.port}/lead" in status
    engine = engine_of(shell)
    assert engine.bpm == 200
    deadline = time.monotonic() + 5  # the swap lands on the bar line; lick plays 67 on every tick
    while engine.voices["lead"].model.name != "lick" and time.monotonic() < deadline:
        time.sleep(0.02)
    swapped = time.time()
    time.sleep(0.8)
    after = [m.args[0] for m in osc_receiver.received if m.address == "/lead" and m.timetag > swapped + 0.15]
    assert len(after) >= 8 and set(after) == {67}, "the new model did not play after the swap"
    magic(shell, "voice lead --off")
    assert "lead" not in engine.voices
    magic(shell, "crepre stop")
    assert not engine.running and not engine.voices


def test_status_before_start_and_help(shell, capsys):
    magic(shell, "crepre status")
    assert "stopped" in capsys.readouterr().out
    for name in ["crepre", "voice", "swap", "temp", "route", "bpm"]:
        doc = shell.find_line_magic(name).__doc__  # what %name? shows
        assert f"%{name} [--" in doc or f"%{name} " in doc
        assert "--at" in doc or name == "crepre"
    assert "--to" in shell.find_line_magic("voice").__doc__
    assert "--at" in shell.find_line_magic("swap").__doc__


BAD_COMMANDS = [
    ("voice x nosuchmodel", "unknown model 'nosuchmodel'"),
    ("voice x /tmp/missing/model.ckpt", "unknown model"),
    ("bpm 0", "tempo must be between 20 and 999"),
    ("bpm 1.2", "tempo must be between 20 and 999"),
    ("bpm 1000", "tempo must be between 20 and 999"),
    ("bpm -5", "tempo"),
    ("bpm fast", "tempo must be a number"),
    ("temp nobody 1.0", "unknown voice 'nobody'"),
    ("temp keep 0", "temperature must be above 0"),
    ("temp keep -1", "temperature must be above 0"),
    ("temp keep hot", "temperature must be a number"),
    ("swap nobody melody", "unknown voice 'nobody'"),
    ("swap keep nosuchmodel", "unknown model"),
    ("route nobody print", "unknown voice"),
    ("voice x melody --at someday", "invalid --at"),
    ("swap keep melody --at 0", "invalid --at"),
    ("crepre jump", "invalid choice"),
    ("voice x melody --velocity 200", "velocity must be a whole number 1-127"),
    ("swap keep abc", "abc plays abc; voice keep plays melody and keeps melody"),
    ("swap keep gesture", "gesture plays gesture; voice keep plays melody and keeps melody"),
    ("temp keep 1 --sigma 0.2", "--sigma is for gesture"),
    ("voice x gesture --sigma -1", "sigma must be 0 or more"),
    ("temp keep", "give a temperature"),
    ("swap keep melody --fade 0", "--fade takes a number of bars above 0"),
    ("swap keep melody --fade soon", "invalid float value"),
]


@pytest.mark.parametrize("line, message", BAD_COMMANDS)
def test_bad_input_is_one_line_and_the_music_keeps_playing(shell, playing, line, message):
    since = time.perf_counter()
    with pytest.raises(UsageError, match=message) as err:
        magic(shell, line)
    assert "\n" not in str(err.value).strip()
    assert "keep" in engine_of(shell).voices
    assert_kept_playing(playing, since)


def test_corrupt_checkpoint_swap_keeps_the_old_model(shell, playing, tmp_path):
    bad = tmp_path / "broken.ckpt"
    bad.write_bytes(b"\x00" * 64)
    since = time.perf_counter()
    with pytest.raises(UsageError, match="corrupt or not a livecrepre checkpoint"):
        magic(shell, f"swap keep {bad}")
    assert engine_of(shell).voices["keep"].model.name == "melody"
    assert_kept_playing(playing, since)


@pytest.mark.parametrize("route, message", [
    ("osc://127.0.0.1/lead", "expected osc://HOST:PORT/ADDRESS"),
    ("osc://127.0.0.1:99999/x", "expected osc://HOST:PORT/ADDRESS"),
    ("tcp://somewhere", "bad route 'tcp://somewhere'"),
    ("file:take.wav", "name it file:PATH.mid"),
    ("midi:NoSuchSynthAnywhere:1", "midi:NoSuchSynthAnywhere"),
])
def test_a_bad_route_is_reported_and_the_voice_keeps_its_other_routes(shell, playing, route, message):
    engine = engine_of(shell)
    lead = Collector()
    shell.user_ns["lead_notes"] = lead
    since = time.perf_counter()
    magic(shell, f"voice lead melody --to {route} lead_notes")
    assert any(message in text for _, text in engine.errors)
    last = engine.errors[-1][1]
    assert "\n" not in last and "keeps" in last
    assert [r.spec for r in engine.voices["lead"].routes] == ["Collector()"]
    lead.wait_for(3)
    assert_kept_playing(playing, since)


def test_a_midi_route_without_backend_or_port_is_one_line(shell, playing):
    """Here MIDO_BACKEND is the default (ALSA, absent on this machine) or names no such port."""
    engine = engine_of(shell)
    magic(shell, "route keep midi:Synth:1 keeper")
    message = engine.errors[-1][1]
    assert message.startswith("midi:Synth")
    assert "no MIDI backend" in message or "no such MIDI output port" in message
    assert [r.spec for r in engine.voices["keep"].routes] == ["Collector()"]


def test_a_callable_route_that_raises_is_muted_alone(shell, playing):
    engine = engine_of(shell)
    calls = []

    def boom(event):
        calls.append(event)
        raise ValueError("my bad")

    shell.user_ns["boom"] = boom
    since = time.perf_counter()
    magic(shell, "route keep boom keeper")
    time.sleep(1.0)
    assert len(calls) == 1  # muted after the first error, reported once
    failures = [text for _, text in engine.errors if "boom" in text]
    assert len(failures) == 1 and "ValueError: my bad" in failures[0] and "route muted" in failures[0]
    assert_kept_playing(playing, since)


def test_a_crossfade_swap_through_the_magics(shell, playing, capsys):
    engine = engine_of(shell)
    since = time.perf_counter()
    magic(shell, "swap keep chorale --at bar --fade 2")
    assert "keep: chorale from bar" in capsys.readouterr().out.replace("fading", "\nfading")
    voice = engine.voices["keep"]
    deadline = time.perf_counter() + 8
    while (voice.stream.fade is not None or voice.stream.model.name != "chorale") \
            and time.perf_counter() < deadline:
        time.sleep(0.1)
    assert voice.stream.fade is None and voice.stream.model.name == "chorale"
    assert_kept_playing(playing, since)


@pytest.mark.parametrize("line", ["route keep midi:Synht:1", "route keep midi:Synht:1 file:/dev/null/x.mid",
                                  "voice keep chorale --to midi:typo"])
def test_a_command_whose_routes_all_fail_changes_nothing(shell, playing, line):
    engine = engine_of(shell)
    before = list(engine.voices["keep"].routes)
    since = time.perf_counter()
    with pytest.raises(UsageError, match=r"midi:(Synht|typo).*\(nothing changed: voice keep keeps Collector\(\), osc://") as err:
        magic(shell, line)
    assert "\n" not in str(err.value)
    assert engine.voices["keep"].routes == before and engine.voices["keep"].model.name == "melody"
    assert_kept_playing(playing, since)
    assert any(e.time > since + 1 for _, e in playing.events), "the voice went silent"


def test_a_control_whose_voice_left_before_it_landed_says_so(shell, playing):
    engine = engine_of(shell)
    magic(shell, "voice lead melody --to print")
    magic(shell, "temp lead 1.3 --at 2")
    magic(shell, "voice lead --off")
    deadline = time.monotonic() + 6
    while not any(m.startswith("temp lead") for _, m in engine.errors) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [m for _, m in engine.errors if m.startswith("temp lead")] == [
        "temp lead: voice lead was removed before the temperature change landed"]


def test_the_clock_magic_shows_the_source_and_refuses_bad_input_in_one_line(shell, playing, capsys):
    shell.run_line_magic("clock", "")
    shown = capsys.readouterr().out
    assert shown.startswith("clock internal: ") and "bpm, bar " in shown
    since = time.perf_counter()
    for line, said in [("nonsense", "unknown clock 'nonsense'"), ("link --quantum 0", "--quantum takes"),
                       ("send print", "a clock goes to midi:PORT or osc://"), ("send", "takes a route"),
                       ("--nudge far", "--nudge takes milliseconds"), ("send midi:x --off", "no clock is sent")]:
        with pytest.raises(UsageError, match=said) as raised:
            shell.run_line_magic("clock", line)
        assert "\n" not in str(raised.value)
    shell.run_line_magic("clock", "--nudge -20")
    assert "every route nudged -20 ms" in capsys.readouterr().out
    assert_kept_playing(playing, since)
