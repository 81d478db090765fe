"""Tab completion in the magics, through IPython's own completer in a real shell."""
from __future__ import annotations


def matches(shell, line: str) -> list[str]:
    """What Tab offers at the end of `line` (IPython's completions API, as the terminal asks it)."""
    from IPython.core.completer import provisionalcompleter

    with provisionalcompleter():
        return sorted({c.text for c in shell.Completer.completions(line, len(line))})


def test_tab_offers_voices_models_sketches_routes_and_modes(shell, tmp_path, monkeypatch, collector):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sketches").mkdir()
    (tmp_path / "sketches" / "octaves.py").write_text("def transform(note):\n    return note\n")
    (tmp_path / "mine.ckpt").write_bytes(b"")
    shell.user_ns["keep"] = collector
    shell.run_line_magic("voice", "lead melody --to keep")
    shell.run_line_magic("voice", "hand gesture --to keep")
    assert {"lead", "hand"} <= set(matches(shell, "%temp "))
    assert "lead" in matches(shell, "%swap le")
    offered = matches(shell, "%voice bass ")
    assert {"melody", "chorale", "abc", "gesture", "mine.ckpt"} <= set(offered)
    assert matches(shell, "%voice bass cho") == ["chorale"]
    assert {"osc://127.0.0.1:57120/", "midi:", "file:takes/", "print", "keep"} <= set(matches(shell, "%voice bass melody --to "))
    assert "osc://127.0.0.1:57120/" in matches(shell, "%route lead os")
    assert matches(shell, "%sketch oc") == ["octaves"]
    assert "lead" in matches(shell, "%sketch octaves --voice ")
    assert set(matches(shell, "%listen hand osc://127.0.0.1:5000/interface --mode ")) == \
        {"callresponse", "polyphony", "battle", "useronly"}
    assert "osc://127.0.0.1:5000/interface" in matches(shell, "%listen hand ")
    assert matches(shell, "%crepre st") == ["start", "status", "stop"]
    assert "--fade" in matches(shell, "%swap lead melody --")


def test_tab_offers_clock_sources_and_where_a_clock_goes(shell):
    assert matches(shell, "%clock ") == ["internal", "link", "send"]
    assert matches(shell, "%clock li") == ["link"]
    assert "midi:virtual" in matches(shell, "%clock send ")
    assert {"--quantum", "--nudge", "--off"} <= set(matches(shell, "%clock --"))
