"""Small pieces of wording shared by the program's messages."""


def plural(count, noun):
    """"1 epoch", "2 epochs", "1,000 pictures"."""
    return f"{count:,} {noun}{'s' * (count != 1)}"


def article(noun):
    """"a model folder", "an output folder"."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def shown(path):
    """``path`` as text that stays on one line: a control character in a name (a newline,
    say) escaped as ``\\n``, a byte the file system's encoding cannot decode as ``\\xe9``."""
    def one(character):
        if 0xDC80 <= ord(character) <= 0xDCFF:  # os.fsdecode's stand-in for a raw byte
            return f"\\x{ord(character) - 0xDC00:02x}"
        return character if character.isprintable() else repr(character)[1:-1]

    return "".join(map(one, str(path)))
