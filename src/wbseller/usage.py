"""Typer apps whose usage mistakes are one sentence: `App`.

click reports its own mistakes (an unknown option or command, a missing option or argument, a bad
value) in a box of several lines. `App` runs its command with `standalone_mode=False` and says each
as one line on stderr, `error: <command path>: <what>`, then one hint line (`see `... --help``),
exit code 2: the same shape as the refusals the commands make themselves. One place for every
command of `wbseller` (the server's, the client's, the catalog's) and for `python -m wbseller.catalog`.
`--help`, and the help a group prints when given no command, are untouched.

Typer 0.29 carries its own copy of click (`typer._click`, not the `click` package): its exceptions
are the ones raised, so they are imported from there (typer is pinned in pyproject.toml); the base
of them all, `typer.TyperException`, is public.
"""

from __future__ import annotations

import re
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text
from typer._click.core import Context
from typer._click.exceptions import ClickException, NoArgsIsHelpError, NoSuchOption, UsageError
from typer._click.utils import _detect_program_name
from typer.core import TyperGroup
from typer.main import get_command

USAGE_EXIT = 2  # click's own code for usage errors, and ours (`_fail(..., 2)`)


class App(typer.Typer):
    """A `typer.Typer` that, run as a program (`app()`), prints click's errors as one sentence."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("standalone_mode", True) is False:
            return super().__call__(*args, **kwargs)  # the caller handles click's errors itself
        kwargs["standalone_mode"] = False
        try:
            rv = super().__call__(*args, **kwargs)
        except NoArgsIsHelpError as exc:
            # `wbseller token`: the group's help is the answer (rich has printed it already).
            message = exc.format_message()
            if message.strip():
                print(message, file=sys.stderr)
            _exit(exc.exit_code)
        except UsageError as exc:
            path = self._command_path(exc, args, kwargs)
            say(f"{path}: {usage_sentence(exc)}", f"see `{path} --help`")
            _exit(USAGE_EXIT)
        except ClickException as exc:  # FileError and the like: not a usage error
            say(one_line(exc.format_message()))
            _exit(exc.exit_code)
        except typer.Abort:
            say("aborted")
            _exit(1)
        # Without standalone mode a command's `typer.Exit(code)` comes back as its return value.
        _exit(rv if isinstance(rv, int) else 0)

    def _command_path(self, exc: UsageError, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """`wbseller token create`: the command the mistake is about. The parser's own errors (an
        option without its value) carry no context: then the path is found from the arguments."""
        if exc.ctx is not None:
            return exc.ctx.command_path
        argv = kwargs.get("args", args[0] if args else None)
        words: list[str] = list(sys.argv[1:] if argv is None else argv)
        path = [kwargs.get("prog_name") or _detect_program_name()]
        command = get_command(self)
        for word in words:
            sub = command.commands.get(word) if isinstance(command, TyperGroup) else None
            if sub is not None:  # a group's options are skipped; their values never name a command here
                path.append(word)
                command = sub
        return " ".join(path)


def _exit(code: int) -> NoReturn:
    sys.exit(code)


def say(sentence: str, hint: str | None = None) -> None:
    """`error: <sentence>` on stderr (red on a terminal), and the hint under it."""
    console = Console(stderr=True, soft_wrap=True, highlight=False)
    console.print(Text.assemble(("error:", "red"), " ", sentence))
    if hint:
        console.print(Text(hint))


def one_line(message: str) -> str:
    """click's (and pydantic's) wording as one sentence: one line, no final period, lower case first
    (and after `'--port': `)."""
    text = " ".join(message.split())
    text = text.replace(": Value error, ", ": ")  # pydantic's prefix on a validator's message
    text = re.sub(r"\. Did you mean (.+?)\??$", r" (did you mean \1?)", text)
    text = text.rstrip(".")
    text = re.sub(r"(^|': )([A-Z])(?=[a-z])", lambda m: m[1] + m[2].lower(), text)
    return text


def usage_sentence(exc: UsageError) -> str:
    """What is wrong, for one of click's usage errors (the caller names the command)."""
    if isinstance(exc, NoSuchOption):
        text = f"no such option {exc.option_name}"
        if exc.possibilities:
            text += f" (did you mean {', '.join(sorted(exc.possibilities))}?)"
        return text
    text = one_line(exc.format_message())
    ctx = exc.ctx
    if text.startswith("no such command") and "did you mean" not in text and ctx is not None:
        group = ctx.command
        if isinstance(group, TyperGroup):
            names = [n for n in group.list_commands(ctx) if not _hidden(group, ctx, n)]
            text += f"; its commands: {', '.join(sorted(names))}"
    return text


def _hidden(group: TyperGroup, ctx: Context, name: str) -> bool:
    command = group.get_command(ctx, name)
    return command is None or command.hidden


__all__ = ["App", "one_line", "say", "usage_sentence"]
