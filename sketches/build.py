"""A form over time: every 8 bars the lead voice gets wilder, then calm again."""


def every_bar(bar, engine):
    if "lead" not in engine.voices:
        return
    if bar % 16 == 9:
        engine.temp("lead", 1.3)
    elif bar % 16 == 1:
        engine.temp("lead", 0.8)
