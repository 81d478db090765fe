"""Where events go: OSC, MIDI ports, MIDI files, print, Python callables."""
