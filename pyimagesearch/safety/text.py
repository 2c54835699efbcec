"""Small pieces of wording shared by the program's messages."""


def plural(count, noun):
    """"1 epoch", "2 epochs", "1,000 pictures"."""
    return f"{count:,} {noun}{'s' * (count != 1)}"


def article(noun):
    """"a model folder", "an output folder"."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"
