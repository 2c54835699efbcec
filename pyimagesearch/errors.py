"""The errors a user can fix, and the words the program's messages share. The program prints
a ``UserError``'s message, one sentence that says what to do, instead of a traceback."""



class UserError(Exception):
    """A problem the user can fix; its message says how."""


def reason(error):
    """Why an ``OSError`` happened, in a few words: "No space left on device" (its
    ``strerror``), else its message, else the name of its kind."""
    return error.strerror or str(error) or type(error).__name__


def summary(error):
    """Any exception in a few words, for a sentence: the first line of its message, else
    the name of its kind."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__



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
